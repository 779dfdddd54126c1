"""The broker topology of a Sinergi instance, read from the code, and what follows from it.

Nothing here lists a queue by hand. Each service's ``build()`` registers its queues on
``app.state.infra.queues``; what they (and the shared exchanges) declare is recorded by
running the very ``declare()`` the services run, against a recorder instead of a broker.
From that come the RabbitMQ definitions of a region (``sinergi broker definitions``), the
least-privilege permissions of each service's broker user, the queues ``sinergi dlq`` looks
at and the AsyncAPI documents, so none of them can drift from the code.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import re
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from faststream.rabbit import RabbitExchange, RabbitQueue

from shared.bus import declare_exchanges, topic_matches, unrouted_exchange
from shared.consumer import EventQueue
from shared.events import EventType, published_by
from shared.serve import PORTS
from shared.settings import Settings

DEFAULT_EXCHANGE = "amq.default"  # the name permissions use for the nameless default exchange


# --- recording what the code declares ----------------------------------------------------------


@dataclass
class Declared:
    """Exchanges, queues and bindings, as the code declares them."""

    exchanges: dict[str, RabbitExchange] = field(default_factory=dict)
    queues: dict[str, RabbitQueue] = field(default_factory=dict)
    bindings: list[tuple[str, str, str]] = field(default_factory=list)  # (exchange, queue, key)
    # (source, destination exchange, key): a sharded queue's ``<queue>.shards`` on ``sinergi.events``
    exchange_bindings: list[tuple[str, str, str]] = field(default_factory=list)

    def merge(self, other: Declared) -> None:
        self.exchanges.update(other.exchanges)
        self.queues.update(other.queues)
        self.bindings.extend(b for b in other.bindings if b not in self.bindings)
        self.exchange_bindings.extend(b for b in other.exchange_bindings if b not in self.exchange_bindings)


class _Recorder:
    """Stands in for the ``RabbitBroker`` that ``declare()`` calls, and writes down each call."""

    def __init__(self) -> None:
        self.declared = Declared()

    async def declare_exchange(self, exchange: RabbitExchange) -> _RecordedExchange:
        self.declared.exchanges[exchange.name] = exchange
        return _RecordedExchange(self.declared, exchange.name)

    async def declare_queue(self, queue: RabbitQueue) -> _RecordedQueue:
        self.declared.queues[queue.name] = queue
        return _RecordedQueue(self.declared, queue.name)


@dataclass
class _RecordedExchange:
    declared: Declared
    name: str

    async def bind(self, source: Any, routing_key: str = "") -> None:
        binding = (source.name, self.name, routing_key)
        if binding not in self.declared.exchange_bindings:
            self.declared.exchange_bindings.append(binding)


@dataclass
class _RecordedQueue:
    declared: Declared
    name: str

    async def bind(self, exchange: RabbitExchange, routing_key: str | None = None) -> None:
        # aio-pika binds with the queue's name when no key is given.
        binding = (exchange.name, self.name, routing_key or self.name)
        if binding not in self.declared.bindings:
            self.declared.bindings.append(binding)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits on anything (the recorder answers at once)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a declaration waited on I/O while being recorded")


def record(declare: Any) -> Declared:
    """What ``declare(broker)`` declares, e.g. ``record(queue.declare)``."""
    recorder = _Recorder()
    _run(declare(recorder))
    return recorder.declared


# --- each service's topology -----------------------------------------------------------------


@dataclass
class ServiceTopology:
    service: str
    queues: list[EventQueue]
    declared: Declared  # everything the service declares, shared exchanges included
    publishes: list[EventType]
    app: Any  # the FastAPI app built for reading; never started

    @property
    def broker(self) -> Any:
        return self.app.state.infra.broker


def documentation_settings(**overrides: Any) -> Settings:
    """Settings that depend on nothing in the environment: for generated, committed files."""

    class _Isolated(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, *args: Any, **kwargs: Any):  # noqa: ANN001, ANN206
            return (init_settings,)

    values: dict[str, Any] = {"auth_secret": secrets.token_urlsafe(32), "dev": True, "log_level": "warning"}
    values.update(overrides)
    return _Isolated(**values)


def service_topology(settings: Settings, service: str) -> ServiceTopology:
    """Build ``service`` (without starting it) and record what it declares on the broker."""
    app = importlib.import_module(f"services.{service}.main").build(settings)
    infra = app.state.infra
    declared = record(lambda broker: declare_exchanges(broker, settings))
    for queue in infra.queues:
        declared.merge(record(queue.declare))
    for sharded in infra.sharded:
        declared.merge(record(sharded.feed))
    return ServiceTopology(service, list(infra.queues), declared, published_by(service), app)


def topology(settings: Settings) -> dict[str, ServiceTopology]:
    return {service: service_topology(settings, service) for service in PORTS}


# --- RabbitMQ definitions and permissions ------------------------------------------------------


def service_user(vhost: str, service: str) -> str:
    """Broker users are global, so a region's users carry its vhost: ``sinergi-3273-partners``."""
    return f"{vhost}-{service}"


def subscriber_user(vhost: str) -> str:
    return f"{vhost}-subscriber"


def _alternatives(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def service_permissions(settings: Settings, service: str,
                        found: dict[str, ServiceTopology] | None = None) -> dict[str, str]:
    """Configure, write and read regexes that allow what ``service`` does and nothing more.

    - configure: declare the shared exchanges (the code declares them at start) and its own
      queues and exchange ``<service>.*`` (main, retry ladder, dead letters, ``<service>.direct``);
    - write: the same, to bind and fill them; and, to replay events to them (binding them to its
      own exchange), the queues of subscribers (any name outside Sinergi's own namespaces) and the
      other services' consumer queues that take its events anyway — never another service's retry
      or dead-letter queue;
    - read: the shared exchanges (to bind to them) and its own queues (to consume).

    Not the default exchange (``amq.default``): RabbitMQ checks a publish there against that one
    name, whatever queue it is for, so it would open every queue of the vhost. Only while the
    consumer's retry queues still dead-letter through it (declaring them needs it) is it granted.
    Publishing on ``sinergi.events`` is narrowed further by :func:`service_topic_permissions`.
    """
    prefix = re.escape(settings.bus_prefix)
    shared = [re.escape(settings.exchange_name), re.escape(unrouted_exchange(settings).name)]
    own = f"{prefix}{re.escape(service)}\\..*"
    found = found if found is not None else topology(settings)
    takers = [re.escape(name) for name in replay_targets(settings, service, found)]
    ours = "|".join(sorted({*PORTS, *found, "sinergi"}))
    # Whatever is not Sinergi's own nor the broker's is a subscriber's (``<user>.*``).
    subscribers = f"(?!{prefix}({ours})\\.|amq\\.).+"
    write = [*shared, own, *takers, subscribers]
    if _needs_default_exchange(found):
        write.append(re.escape(DEFAULT_EXCHANGE))
    return {
        "configure": _alternatives(*shared, own),
        "write": _alternatives(*write),
        "read": _alternatives(*shared, own),
    }


def replay_targets(settings: Settings, service: str, found: dict[str, ServiceTopology]) -> list[str]:
    """The other services' consumer queues that bind some event of ``service``: an administrator may
    have it replay its events there (to rebuild a replica), as they are routed there anyway."""
    keys = [f"{settings.region_digits}.{t.removeprefix('sinergi.')}" for t in published_by(service)]
    return sorted(queue.name for other, part in found.items() if other != service for queue in part.queues
                  if any(topic_matches(pattern, key) for pattern in queue.binding_keys for key in keys))


def _needs_default_exchange(found: dict[str, ServiceTopology]) -> bool:
    """Declaring a queue that dead-letters to the default exchange needs write on it: the consumer's
    retry queues did, before they dead-lettered through ``<service>.direct``."""
    return any((queue.arguments or {}).get("x-dead-letter-exchange") == ""
               for part in found.values() for queue in part.declared.queues.values())


def service_topic_permissions(settings: Settings, service: str, binding_keys: list[str]) -> dict[str, str]:
    """On ``sinergi.events``: publish only its own region's events of its own aggregates;
    bind only the keys its queues bind."""
    aggregates = sorted({t.removeprefix("sinergi.").split(".", 1)[0] for t in published_by(service)})
    write = f"^{settings.region_digits}\\.({'|'.join(aggregates)})\\.[^.]+$" if aggregates else "^$"
    read = _alternatives(*(re.escape(key) for key in binding_keys)) if binding_keys else "^$"
    return {"exchange": settings.exchange_name, "write": write, "read": read}


def subscriber_permissions(settings: Settings, user: str) -> dict[str, str]:
    """A read-only subscriber: declares, binds and consumes its own queues ``<user>.*``, bound
    to ``sinergi.events``; publishes nowhere (no write on any exchange it does not own)."""
    own = f"{re.escape(user)}\\..*"
    return {
        "configure": _alternatives(own),
        "write": _alternatives(own),
        "read": _alternatives(re.escape(settings.exchange_name), own),
    }


def subscriber_topic_permissions(settings: Settings) -> dict[str, str]:
    return {"exchange": settings.exchange_name, "write": "^$", "read": ".*"}


def hash_password(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _user(name: str, password: str | None) -> dict[str, Any]:
    # Without a password the user exists but cannot log in until one is set
    # (`sinergi broker apply` sets them; `rabbitmqctl change_password` also does).
    return {"name": name, "password_hash": hash_password(password) if password else "",
            "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": [], "limits": {}}


def definitions(
    settings: Settings,
    vhost: str,
    passwords: dict[str, str] | None = None,
    topology_: dict[str, ServiceTopology] | None = None,
) -> dict[str, Any]:
    """RabbitMQ definitions of one region: importable with ``rabbitmqctl import_definitions``
    or ``POST /api/definitions``. ``passwords`` maps user names to passwords; users without
    one get no password (they cannot log in until one is set)."""
    passwords = passwords or {}
    found = topology_ or topology(settings)
    declared = Declared()
    users: list[dict[str, Any]] = []
    permissions: list[dict[str, Any]] = []
    topic_permissions: list[dict[str, Any]] = []
    for service, part in found.items():
        declared.merge(part.declared)
        user = service_user(vhost, service)
        users.append(_user(user, passwords.get(user)))
        permissions.append({"user": user, "vhost": vhost, **service_permissions(settings, service, found)})
        keys = [key for queue in part.queues for key in queue.binding_keys]
        topic_permissions.append({"user": user, "vhost": vhost, **service_topic_permissions(settings, service, keys)})
    subscriber = subscriber_user(vhost)
    users.append(_user(subscriber, passwords.get(subscriber)))
    permissions.append({"user": subscriber, "vhost": vhost, **subscriber_permissions(settings, subscriber)})
    topic_permissions.append({"user": subscriber, "vhost": vhost, **subscriber_topic_permissions(settings)})
    return {
        "vhosts": [{"name": vhost, "description": f"Sinergi {settings.region} {settings.region_name}",
                    "tags": ["sinergi", f"region-{settings.region}"]}],
        "users": users,
        "permissions": permissions,
        "topic_permissions": topic_permissions,
        "exchanges": [
            {"name": x.name, "vhost": vhost, "type": x.type.value, "durable": x.durable,
             "auto_delete": x.auto_delete, "internal": False, "arguments": dict(x.arguments or {})}
            for x in sorted(declared.exchanges.values(), key=lambda x: x.name)
        ],
        "queues": [
            {"name": q.name, "vhost": vhost, "durable": q.durable, "auto_delete": q.auto_delete,
             "arguments": dict(q.arguments or {})}
            for q in sorted(declared.queues.values(), key=lambda q: q.name)
        ],
        "bindings": [
            {"source": source, "vhost": vhost, "destination": queue, "destination_type": "queue",
             "routing_key": key, "arguments": {}}
            for source, queue, key in sorted(declared.bindings)
        ] + [
            {"source": source, "vhost": vhost, "destination": exchange, "destination_type": "exchange",
             "routing_key": key, "arguments": {}}
            for source, exchange, key in sorted(declared.exchange_bindings)
        ],
        "parameters": [],
        "policies": [],
    }
