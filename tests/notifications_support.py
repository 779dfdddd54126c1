"""Real servers and event builders for the notifications tests.

- :class:`SmtpSink`: an aiosmtpd SMTP server on a free port, keeping every message; it can
  hold a message in DATA (to kill the sender mid-send) or refuse addresses.
- :class:`WebhookReceiver`: a real HTTP server on a free port recording every POST; each
  path can fail its first *n* requests, always fail, or hang.
- Builders of the partner, activity and targets events the service consumes, and a publisher
  that puts them on the test's exchange as the other services would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest
from aiosmtpd.controller import Controller

from shared.events import AnyEvent, EventType, make_event
from shared.settings import Settings
from tests.conftest import free_port

# Small intervals so retries, leases and the scheduler act within a test's patience.
FAST = {
    "SINERGI_NOTIFY_POLL_SECONDS": "0.5",
    "SINERGI_NOTIFY_LEASE_SECONDS": "2",
    "SINERGI_NOTIFY_RETRY_BASE_SECONDS": "0.1",
    "SINERGI_NOTIFY_RETRY_MAX_SECONDS": "0.4",
    "SINERGI_NOTIFY_MAX_ATTEMPTS": "3",
    "SINERGI_NOTIFY_ARCHIVE_AFTER_SECONDS": "0.2",
    "SINERGI_NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "SINERGI_NOTIFY_SMTP_TIMEOUT_SECONDS": "5",
}


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server for the test (import the fixture into a test module to use it)."""
    with SmtpSink() as sink:
        yield sink


# Webhooks go only to public addresses unless the deployment allows others; the test's own
# receivers listen on loopback, so a service that sends to them allows it (as the dev runner does).
LOCAL_RECEIVERS = {"SINERGI_NOTIFY_WEBHOOK_ALLOW": "127.0.0.0/8,::1"}


@pytest.fixture
def hooks(monkeypatch: Any) -> Iterator[WebhookReceiver]:
    """A real HTTP receiver of webhooks for the test; the in-process service may send to it."""
    for key, value in LOCAL_RECEIVERS.items():
        monkeypatch.setenv(key, value)
    with WebhookReceiver() as receiver:
        yield receiver


def fast(monkeypatch: Any, **overrides: str) -> None:
    """Configure the in-process service (it reads SINERGI_NOTIFY_* when built)."""
    for key, value in {**FAST, **overrides}.items():
        monkeypatch.setenv(key, value)


# --- SMTP ------------------------------------------------------------------------------------


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.sink.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.started.append(message)
        held = [a for a in envelope.rcpt_tos if a.lower() in self.sink.hold_once]
        if held:
            # Never answered: the sender is killed while it waits, and the message is lost with
            # the connection, as a real server drops a transaction that was not completed.
            self.sink.hold_once.difference_update(a.lower() for a in held)
            await asyncio.sleep(3600)
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        self.sink.messages.append(message)
        return "250 Message accepted"


class SmtpSink:
    """A real SMTP server for one test: ``messages`` holds what it accepted."""

    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.started: list[EmailMessage] = []  # every DATA begun, accepted or not
        self.refuse: set[str] = set()
        self.hold_once: set[str] = set()  # the first message to these addresses is never answered
        self.delay = delay  # seconds before each message is accepted
        self._controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: datetime

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-sinergi-signature", ""), expected)


@dataclass
class WebhookReceiver:
    """A real HTTP server: POSTs to any path are recorded and answered per that path's plan."""

    fail_first: dict[str, int] = field(default_factory=dict)
    always_fail: set[str] = field(default_factory=set)
    hang_once: set[str] = field(default_factory=set)  # the first request to these paths gets no answer
    failure_status: int = 503
    failure_body: bytes = b"ok"  # what a failing answer says
    hits: list[Hook] = field(default_factory=list)
    hung: list[Hook] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                hook = Hook(self.path, {k.lower(): v for k, v in self.headers.items()}, body, 0, datetime.now(UTC))
                if receiver._hang(self.path):
                    receiver.hung.append(hook)
                    receiver._release.wait(60)
                    return
                hook.status = receiver._answer(self.path)
                receiver.hits.append(hook)
                answer = b"ok" if hook.status == 200 else receiver.failure_body
                self.send_response(hook.status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def _hang(self, path: str) -> bool:
        with self._lock:
            if path in self.hang_once:
                self.hang_once.discard(path)
                return True
        return False

    def _answer(self, path: str) -> int:
        with self._lock:
            self._calls[path] += 1
            calls = self._calls[path]
        if path in self.always_fail or calls <= self.fail_first.get(path, 0):
            return self.failure_status
        return 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Hook]:
        return [h for h in self.hits if h.path == path]

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


# --- Events ----------------------------------------------------------------------------------


def partner(partner_id: str, name: str = "KIM Sekarbela", **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": partner_id, "version": 1, "created_at": now, "updated_at": now, "name": name, "type": "kim",
            "region": "32.73", "district": None, "segments": ["pemilih_muda"], "status": "active",
            "contacts": [], "agreements": [], **overrides}


def activity(activity_id: str, starts_at: str | None, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": activity_id, "version": 1, "created_at": now, "updated_at": now, "title": "Forum Warga Coblong",
            "kind": "sosialisasi", "election": "pilkada-2024", "region": "32.73", "stage": "kampanye",
            "segments": ["pemilih_pemula"], "format": "forum_warga", "method": "langsung", "partners": [],
            "speakers": [], "location": {"district": "Coblong", "village": None, "venue": "Balai RW 05",
                                         "online_url": None},
            "starts_at": starts_at, "ends_at": None, "status": "scheduled", "outcome": None, **overrides}


def event(event_type: EventType, data: dict[str, Any], version: int = 1, region: str = "32.73",
          at: datetime | None = None) -> AnyEvent:
    service = "partners" if event_type.value.startswith("sinergi.partner.") else "activities"
    built = make_event(event_type, region=region, service=service, subject=data["id"], version=version,
                       data={**data, "version": version})
    return built.model_copy(update={"time": at}) if at else built


async def publish(settings: Settings, *events: AnyEvent, apart: float = 0.0) -> None:
    """Publish on one channel, ``apart`` seconds after each other (a staff member's pace)."""
    connection = await aio_pika.connect_robust(settings.rabbitmq_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.exchange_name)
        for n, found in enumerate(events):
            if n and apart:
                await asyncio.sleep(apart)
            await exchange.publish(
                aio_pika.Message(found.to_wire(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                 content_type="application/cloudevents+json", message_id=found.id),
                routing_key=found.routing_key,
            )


async def subscribed(app: Any) -> bool:
    """The in-process service has declared and bound its queue (publish only after this)."""
    return await app.state.infra.broker_ready()


async def ticks(app: Any, n: int = 2) -> None:
    """Wait until the scheduler has completed ``n`` more ticks (to show that nothing happened)."""
    scheduler = app.state.scheduler
    target = scheduler.ticks + n
    for _ in range(400):
        if scheduler.ticks >= target:
            return
        scheduler.wake()
        await asyncio.sleep(0.01)
    raise AssertionError("the scheduler stopped ticking")


# --- The service over HTTP -------------------------------------------------------------------


async def add_recipient(client: Any, **body: Any) -> dict[str, Any]:
    from tests.conftest import auth

    response = await client.post("/recipients", json={"kind": "staff", **body}, headers=auth("admin", ["*"]))
    assert response.status_code == 201, response.text
    return response.json()


async def inbox(client: Any, recipient_id: str, **params: Any) -> list[dict[str, Any]]:
    from tests.conftest import auth

    response = await client.get(f"/inbox/{recipient_id}", params=params, headers=auth("admin", ["*"]))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def deliveries(client: Any, **params: Any) -> list[dict[str, Any]]:
    """``GET /deliveries`` as an operator sees it (``status="dead"``, ``channel="email"``...)."""
    from tests.conftest import auth

    response = await client.get("/deliveries", params=params, headers=auth("operator"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def jobs(client: Any, **params: Any) -> list[dict[str, Any]]:
    from tests.conftest import auth

    response = await client.get("/jobs", params={"limit": 500, **params}, headers=auth("viewer", ["*"]))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def value(found: Any) -> Any:
    """``eventually`` wants a coroutine: ``eventually(lambda: value(len(x) == 3))``."""
    return found


async def soon(probe: Any, timeout: float = 30.0) -> Any:
    """``eventually`` with the patience a shared, busy store needs; it returns as soon as it holds."""
    from tests.conftest import eventually

    return await eventually(probe, timeout=timeout)
