"""Helpers for the activities tests: partner events as the partners service publishes them,
request bodies shaped like the Kota Bandung office's, and a few waits. (No tests here.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
from ulid import ULID

from shared.events import EventType, make_event
from shared.settings import Settings
from tests.bus import declare_exchanges
from tests.conftest import auth, eventually

WIB_OFFSET = "+07:00"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def soon(days: float = 1.0, hours: float = 2.0) -> tuple[str, str]:
    """A (starts_at, ends_at) pair ``days`` from now lasting ``hours``."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return iso(start), iso(start + timedelta(hours=hours))


def activity_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Forum warga: tata cara memilih di TPS",
        "description": "Sosialisasi tahapan Pilwalkot Bandung 2024 bersama warga RW 05.",
        "kind": "sosialisasi",
        "election": "pilkada-2024",
        "stage": "kampanye",
        "topics": ["tata_cara_memilih", "anti_politik_uang"],
        "method": "langsung",
        "format": "forum_warga",
        "segments": ["pemilih_pemula", "perempuan"],
        "speakers": [{"name": "Dr. Andre Rahmanto", "affiliation": "FISIP UNS"}],
        "location": {"district": "32.73.02", "village": "32.73.02.1004", "venue": "Balai RW 05 Dago"},
        "planned_reach": 80,
    }
    body.update(overrides)
    return body


async def plan(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/activities", json=activity_body(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


async def post(client: httpx.AsyncClient, activity_id: str, verb: str, body: dict[str, Any] | None = None,
               **headers: str) -> httpx.Response:
    return await client.post(f"/activities/{activity_id}/{verb}", json=body, headers={**auth(), **headers})


def partner_snapshot(partner_id: str, version: int, status: str = "active", name: str | None = None,
                     **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"id": partner_id, "version": version, "created_at": now, "updated_at": now,
            "name": name or f"Komunitas {partner_id[-6:]}", "type": "ormas_komunitas", "region": "32.73",
            "district": None, "categories": [], "segments": ["pemilih_muda"], "contacts": [], "channels": [],
            "agreements": [], "status": status, "notes": None, **extra}


class PartnerEvents:
    """Publishes ``sinergi.partner.*`` events onto a test's exchange, as the partners service would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def __aenter__(self) -> PartnerEvents:
        await declare_exchanges(self.settings)
        self._connection = await aio_pika.connect_robust(self.settings.rabbitmq_url)
        channel = await self._connection.channel()
        self._exchange = await channel.get_exchange(self.settings.exchange_name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def publish(self, partner_id: str, version: int, status: str = "active",
                      event_type: EventType = EventType.PARTNER_UPDATED, **snapshot: Any) -> str:
        event = make_event(event_type, region="32.73", service="partners", subject=partner_id, version=version,
                           data=partner_snapshot(partner_id, version, status, **snapshot))
        await self.send(event.to_wire(), event.routing_key, event.id)
        return event.id

    async def send(self, body: bytes, routing_key: str, message_id: str) -> None:
        assert self._exchange is not None
        await self._exchange.publish(
            aio_pika.Message(body, content_type="application/cloudevents+json", message_id=message_id,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key)


def new_partner_id() -> str:
    return str(ULID())


async def known_as(client: httpx.AsyncClient, partner_id: str, status: str, version: int | None = None,
                   timeout: float = 5.0) -> dict[str, Any]:
    """Wait until the activities replica holds the partner with this status (and version)."""

    async def probe() -> dict[str, Any] | None:
        response = await client.get(f"/replica/partners/{partner_id}", headers=auth("viewer"))
        if response.status_code != 200:
            return None
        found = response.json()
        ok = found["status"] == status and (version is None or found["version"] == version)
        return found if ok else None

    return await eventually(probe, timeout=timeout)


async def ready(client: httpx.AsyncClient) -> None:
    """Wait until the service has connected to the broker (its queues are declared and bound)."""

    async def probe() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(probe, timeout=10.0)


async def events_of(published: list[dict[str, Any]], subject: str, count: int,
                    timeout: float = 5.0) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = [e for e in published if e.get("subject") == subject]
        return found if len(found) >= count else None

    return await eventually(probe, timeout=timeout)


def body_of(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True)
