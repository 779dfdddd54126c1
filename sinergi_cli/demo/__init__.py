"""The demo region, Kota Bandung (32.73): data files and the loaders that send them to running services.

The data is in ``partners.toml``, ``activities.toml`` and ``notifications.toml`` (shipped with
the package), read by :func:`read`; each service's part has a module that loads its file through
the public HTTP API, with idempotency keys, so loading twice changes nothing; ``seed.load``
loads all three (``sinergi seed demo``, ``make up``).

TOML because Python reads it without a dependency (``tomllib``) and its comments keep the notes
that tie the data to the seed articles. A string ``"today+N"`` (or ``"today-N"``) anywhere in a
file is the ISO date N days from the day of loading: demo agreements that must be about to
expire whenever the demo is loaded.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import date, timedelta
from importlib.resources import files
from typing import Any

import httpx

RELATIVE_DATE = re.compile(r"today([+-]\d+)")


def read(name: str, today: date | None = None) -> dict[str, Any]:
    """The data file ``<name>.toml`` of this package, relative dates resolved."""
    raw = tomllib.loads(files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8"))
    return _resolved(raw, today or date.today())


def _resolved(value: Any, today: date) -> Any:
    if isinstance(value, dict):
        return {key: _resolved(item, today) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, today) for item in value]
    if isinstance(value, str) and (relative := RELATIVE_DATE.fullmatch(value)):
        return (today + timedelta(days=int(relative.group(1)))).isoformat()
    return value


def every(client: httpx.Client, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a list endpoint, page after page (``limit`` 500, ``cursor``)."""
    cursor: str | None = None
    while True:
        response = client.get(path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
        page = response.json()
        yield from page["items"]
        if not (cursor := page["next_cursor"]):
            return
