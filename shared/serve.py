"""Run one service as its own process: ``python -m services.<name>`` or ``sinergi serve <name>``."""

from __future__ import annotations

import importlib
import sys

import uvicorn
from pydantic import ValidationError

from shared.settings import Settings

PORTS = {"partners": 8101, "activities": 8102, "notifications": 8103}


def serve(service: str) -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            name = f"SINERGI_{field.upper()}" if field != "settings" else "configuration"
            print(f"sinergi-{service}: {name}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        raise SystemExit(2) from None
    app = importlib.import_module(f"services.{service}.main").build(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port or PORTS[service],
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
