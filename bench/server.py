"""How a benchmark names the store it measured, from the server's ``buildInfo``."""

from __future__ import annotations

from typing import Any


def describe(build_info: dict[str, Any]) -> str:
    """``FerretDB 1.24 … on SQLite, MongoDB wire 7.0.42`` or ``MongoDB 7.0.14``."""
    if "ferretdbVersion" not in build_info:
        return f"MongoDB {build_info['version']}"
    # The embedded build has no version file: go.mod pins FerretDB v1.24.0.
    found = build_info["ferretdbVersion"]
    version = found if found != "unknown" else "1.24 (embedded: sinergi-store)"
    return f"FerretDB {version} on SQLite, MongoDB wire {build_info['version']}"
