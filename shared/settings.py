"""Process configuration: one settings class, environment prefix ``SINERGI_`` (CONTRACT §1)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from typing import Annotated

from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.regions import REGION_CODE, digits

# Secrets that must never guard a real instance: the examples in docs and compose files.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "please-change-me"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_", extra="ignore")

    region: str = Field("32.73", pattern=REGION_CODE)
    region_name: str = "Kota Bandung"
    timezone: str = "Asia/Jakarta"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Further RabbitMQ nodes of the same cluster, tried in turn when one is away (docs/operations.md,
    # "Scaling"): ``host:port`` entries take the URL's user, password and vhost; whole URLs are
    # taken as they are. SINERGI_RABBITMQ_URL may also list several URLs separated by commas: the
    # first stays ``rabbitmq_url`` (the CLI and tools use it), the others are added here.
    rabbitmq_nodes: Annotated[list[str], NoDecode] = []
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    auth_secret: str | None = None
    # During a secret rotation, tokens signed with the previous secret stay valid until they
    # expire; new tokens are signed with the new one (docs/operations.md).
    auth_secret_previous: str | None = None
    # Set only by the local dev runner (`sinergi up`); elsewhere a missing secret is fatal.
    dev: bool = False

    # Isolation knobs: tests and side-by-side instances give each run its own names.
    db_prefix: str = "sinergi_"
    bus_prefix: str = ""

    # Processes of this service (uvicorn workers behind its one port; docs/operations.md, "Scaling").
    # Over 1, writes to one aggregate also take a lease in the store (shared/outbox.py), since the
    # embedded store's updates are a read then a write across processes.
    processes: int = Field(1, ge=1, le=64)
    # Shards of each consumer queue (docs/operations.md, "Scaling"): over 1, ``<queue>`` becomes
    # ``<queue>.shard-0`` .. ``<queue>.shard-<K-1>``, fed by a consistent-hash exchange on the
    # aggregate, so one aggregate's events stay in one shard, in order. Fixed per deployment:
    # changing it needs `sinergi broker migrate` with the services stopped.
    shards: int = Field(1, ge=1, le=64)

    # Consumers: how many unacknowledged messages one queue may hold, and the
    # retry ladder (seconds) before a message is parked in its dead-letter queue.
    prefetch: int = Field(32, ge=1, le=10_000)
    # Comma separated in the environment: SINERGI_RETRY_DELAYS=1,5,30
    retry_delays: Annotated[list[float], NoDecode] = [1.0, 5.0, 30.0]
    # A quorum queue dead-letters a message RabbitMQ delivered this many times without an ack
    # (consumers killed mid-message, nacks) to its ``.dlq`` (docs/reliability.md).
    delivery_limit: int = Field(20, ge=2, le=1000)
    # How often the outbox relay sweeps for events a crash left unpublished.
    outbox_sweep_seconds: float = Field(10.0, gt=0)
    # How long published events are kept for replays to subscribers that were away.
    event_log_days: int = Field(90, ge=1)

    host: str = "127.0.0.1"
    port: int | None = None
    # Slow or idle clients hold a connection and a file handle each (docs/security.md, "HTTP edge"):
    # the request line and headers must arrive within this many seconds of the connection or of a
    # next request's first byte, else the connection is closed,
    http_header_seconds: float = Field(10.0, gt=0)
    # the whole body within this many seconds of the headers, else 408 and the connection is closed
    # (16 MiB, the largest upload, needs about 280 KB/s at the default),
    http_body_seconds: float = Field(60.0, gt=0)
    # an idle kept-alive connection is closed after this many seconds: longer than clients keep one
    # (httpx 5 s, aiohttp 15 s), or a request sent as the server closes it meets a closed connection,
    http_keep_alive_seconds: float = Field(20.0, gt=0)
    # and over this many open connections (or requests in progress) a request is answered 503.
    http_max_connections: int = Field(200, ge=1)
    smtp_url: str = "smtp://127.0.0.1:1025"
    # Where `sinergi gazetteer install` put the Kemendagri gazetteer (kecamatan and desa/kelurahan
    # names); unset: the virtual environment's share/sinergi/gazetteer (shared/gazetteer.py).
    gazetteer_dir: str | None = None
    log_level: str = "info"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="before")
    @classmethod
    def _url_list(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(url := data.get("rabbitmq_url"), str) and "," in url:
            first, *more = [part.strip() for part in url.split(",") if part.strip()]
            nodes = data.get("rabbitmq_nodes") or []
            nodes = [part for part in nodes.split(",") if part.strip()] if isinstance(nodes, str) else list(nodes)
            data = {**data, "rabbitmq_url": first, "rabbitmq_nodes": [*more, *nodes]}
        return data

    @field_validator("rabbitmq_nodes", mode="before")
    @classmethod
    def _node_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [float(part) for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _secret_required(self) -> Settings:
        if not self.dev and (self.auth_secret or "").strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "SINERGI_AUTH_SECRET is missing or a placeholder; set a long random secret "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.auth_secret is None:
            raise ValueError("SINERGI_AUTH_SECRET is not set")
        if len(self.auth_secret.encode()) < 32:
            raise ValueError("SINERGI_AUTH_SECRET must be at least 32 bytes (HS256 keys shorter than the hash are weak)")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def region_digits(self) -> str:
        return digits(self.region)

    @property
    def broker_urls(self) -> list[str]:
        """``rabbitmq_url`` and then each of ``rabbitmq_nodes`` as a whole URL."""
        first = urlsplit(self.rabbitmq_url)
        credentials = first.netloc.rpartition("@")[0]
        urls = [self.rabbitmq_url]
        for node in self.rabbitmq_nodes:
            if "://" in node:
                urls.append(node)
            else:
                urls.append(urlunsplit(first._replace(netloc=f"{credentials}@{node}" if credentials else node)))
        return urls

    @property
    def exchange_name(self) -> str:
        return f"{self.bus_prefix}sinergi.events"

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}{service}"

    def queue_name(self, service: str, purpose: str) -> str:
        return f"{self.bus_prefix}{service}.{purpose}"
