"""The servers a benchmark measures: a service it starts for itself, and how it names the store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def describe(build_info: dict[str, Any]) -> str:
    """``FerretDB 1.24 … on SQLite, MongoDB wire 7.0.42`` or ``MongoDB 7.0.14``."""
    if "ferretdbVersion" not in build_info:
        return f"MongoDB {build_info['version']}"
    # The embedded build has no version file: go.mod pins FerretDB v1.24.0.
    found = build_info["ferretdbVersion"]
    version = found if found != "unknown" else "1.24 (embedded: sinergi-store)"
    return f"FerretDB {version} on SQLite, MongoDB wire {build_info['version']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(service: str, secret: str, prefix: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """``service`` as its own process with databases, exchanges and queues of its own (``prefix``),
    ready; returns the process and its URL. ``env``: more ``SINERGI_*`` settings."""
    port = free_port()
    environment = {**os.environ, "SINERGI_AUTH_SECRET": secret, "SINERGI_PORT": str(port),
                   "SINERGI_DB_PREFIX": f"{prefix}_", "SINERGI_BUS_PREFIX": f"{prefix}.", "SINERGI_LOG_LEVEL": "warning",
                   **env}
    process = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                print(f"spawned the {service} service on {url} (databases {prefix}_*)", file=sys.stderr)
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the spawned {service} service did not become ready in 60 s")
