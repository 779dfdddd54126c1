"""Per-region configuration: ``deploy/regions/<code>.env`` files and what a region runs on.

A region file holds the ``SINERGI_*`` settings of one instance (its region, name, time zone)
plus where it lives on a shared host: its RabbitMQ vhost, its database prefix, its HTTP
ports, its mail catcher and its state directory. Variables already set in the environment
win over the file, as with ``docker compose`` and its ``.env``: that is how a test or an
operator moves one region to other ports without editing the file.

Without a file and without a broker named in the environment (``sinergi up`` on a developer's
machine, the verbs after it), the instance is region 32.73's (or ``SINERGI_REGION``'s) in a vhost
of its own, ``sinergi-<digits>``, as a region file would place it: its services then run with
their least-privilege broker users, never as ``guest`` on ``/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse, urlunparse

from dotenv import dotenv_values

from shared.serve import PORTS
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REGIONS_DIR = ROOT / "deploy" / "regions"
DEFAULT_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
DEV_BROKER = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Region:
    """One instance's configuration, from a region file and the environment (environment wins)."""

    env: dict[str, str]
    file: Path | None = None
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = settings_from(self.env)

    @classmethod
    def load(cls, file: Path | str | None, environment: bool = True) -> Region:
        """The region of ``file`` (if any), with ``SINERGI_*`` of the environment on top unless
        ``environment`` is false (for files generated from the region file alone)."""
        values: dict[str, str] = {}
        if file is not None:
            path = Path(file)
            if not path.exists():
                raise FileNotFoundError(f"no region file {path}; see {REGIONS_DIR.relative_to(ROOT)}/ for examples")
            values = {k: v for k, v in dotenv_values(path).items() if v is not None}
        if environment:
            values.update({k: v for k, v in os.environ.items() if k.startswith("SINERGI_")})
        if file is None and "SINERGI_RABBITMQ_URL" not in values and "SINERGI_VHOST" not in values:
            vhost = f"sinergi-{settings_from(values).region_digits}"
            values["SINERGI_VHOST"] = vhost
            values["SINERGI_RABBITMQ_URL"] = DEV_BROKER + quote(vhost, safe="")
        return cls(values, Path(file) if file else None)

    @classmethod
    def examples(cls) -> list[Region]:
        """The region files shipped in deploy/regions/, read without the environment."""
        return [cls.load(path, environment=False) for path in sorted(REGIONS_DIR.glob("[0-9]*.env"))]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.env.get(f"SINERGI_{name}", default)

    @property
    def vhost(self) -> str:
        return self.get("VHOST") or (urlparse(self.settings.rabbitmq_url).path.removeprefix("/") or "/")

    @property
    def home(self) -> Path | None:
        home = self.get("HOME")
        return (ROOT / home).resolve() if home and not Path(home).is_absolute() else Path(home) if home else None

    def port(self, service: str) -> int:
        return int(self.get(f"{service.upper()}_PORT") or PORTS[service])

    @property
    def management_url(self) -> str:
        return self.get("RABBITMQ_MANAGEMENT_URL") or DEFAULT_MANAGEMENT_URL

    @property
    def smtp_port(self) -> int:
        return urlparse(self.settings.smtp_url).port or 25

    @property
    def mail_http_port(self) -> int:
        return int(self.get("MAIL_HTTP_PORT") or 8025)

    def amqp_url(self, user: str, password: str) -> str:
        """The region's broker URL (host from ``SINERGI_RABBITMQ_URL``) with its vhost and a user."""
        return amqp_url(self.settings.rabbitmq_url, user, password, self.vhost)


def settings_from(env: dict[str, str], **overrides: Any) -> Settings:
    """Settings from a mapping of ``SINERGI_*`` variables rather than the process environment."""
    values: dict[str, Any] = {k.removeprefix("SINERGI_").lower(): v for k, v in env.items() if k.startswith("SINERGI_")}
    values.setdefault("dev", True)  # the CLI itself never serves; a secret is not needed to read topology
    if not values.get("auth_secret"):
        values["auth_secret"] = "x" * 32
    values.update(overrides)
    return Settings(**values)


def amqp_url(base: str, user: str, password: str, vhost: str) -> str:
    parsed = urlparse(base)
    host = parsed.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse((parsed.scheme or "amqp", netloc, "/" + quote(vhost, safe=""), "", parsed.query, ""))
