"""The servers a benchmark measures: a checkout of a commit, a store and a service it starts for itself,
and how it names the store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
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


def ready(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Wait until the service at ``url`` answers ``/readyz``; ``SystemExit`` naming ``what`` when
    its process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"{what} not ready in {timeout:.0f} s")
        time.sleep(0.2)


def spawn(service: str, secret: str, prefix: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """``service`` as its own process with databases, exchanges and queues of its own (``prefix``),
    ready; returns the process and its URL. ``env``: more ``SINERGI_*`` settings."""
    port = free_port()
    environment = {**os.environ, "SINERGI_AUTH_SECRET": secret, "SINERGI_PORT": str(port),
                   "SINERGI_DB_PREFIX": f"{prefix}_", "SINERGI_BUS_PREFIX": f"{prefix}.", "SINERGI_LOG_LEVEL": "warning",
                   **env}
    process = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    ready(url, process, f"the spawned {service} service", 60)
    print(f"spawned the {service} service on {url} (databases {prefix}_*)", file=sys.stderr)
    return process, url


def checkout(ref: str) -> tuple[str, Path]:
    """(label, directory) of ``ref``: this work tree for ``work``, else a detached worktree of the commit."""
    if ref == "work":
        return "work tree", ROOT
    sha = subprocess.run(["git", "rev-parse", f"{ref}^{{commit}}"], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"sinergi-{sha[:7]}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True,
                       capture_output=True)
    return f"{ref} ({sha[:7]})", path


class Store:
    """The embedded FerretDB on a free port with a data directory of its own; its CPU is the services'."""

    def __init__(self, base: Path) -> None:
        binary = ROOT / ".sinergi" / "bin" / "sinergi-store"
        if not binary.exists():
            raise SystemExit("no .sinergi/bin/sinergi-store: run .venv/bin/sinergi infra up once")
        self.port = free_port()
        self.data = base / "store"
        self.data.mkdir()
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen([str(binary), "-listen", f"127.0.0.1:{self.port}", "-data", str(self.data),
                                         "-log", str(base / "store.log")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"the store did not start; see {base / 'store.log'}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a started server; killed if it has not ended in 15 s."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
