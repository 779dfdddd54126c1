"""A steady stream of writes through the HTTP APIs while the servers under it fail, one after another.

RabbitMQ is stopped and started again; each service is killed with SIGKILL and restarted,
one at a time; the store is stopped for ten seconds and started again. All on the session's
private servers (``conftest.py``), never the shared ones. Afterwards:

- every accepted write (2xx) is stored, and published: each aggregate's events are exactly
  versions 1..its stored version, and the event of each accepted write carries what the
  client was answered (no lost and no phantom events);
- every event reached every consumer: the activities service's partner replica and the
  notifications service's read models hold each partner and activity at its latest version,
  and the staff inbox has a notification for each event a rule fires on;
- nothing was produced twice: one notification per (rule, cause) in the inbox, one e-mail per
  delivery and per (rule, recipient, subject) at the real SMTP server; a POST retried with its
  Idempotency-Key created nothing twice;
- nothing was dead-lettered, and the figures are printed (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.notifications.notifier import INTERRUPTED_EMAIL
from tests.bus import tap
from tests.conftest import auth, eventually
from tests.faults.stream import Counters, Ledger, Stream, Writer, partner_body
from tests.notifications_support import SmtpSink

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]

OUTAGE = 10.0  # seconds RabbitMQ and the store stay down
STAFF_EMAIL = "piket@kpu-bandung.example"
NOTIFY = {
    "SINERGI_NOTIFY_POLL_SECONDS": "0.5",
    "SINERGI_NOTIFY_RETRY_BASE_SECONDS": "0.2",
    "SINERGI_NOTIFY_RETRY_MAX_SECONDS": "1",
    "SINERGI_NOTIFY_ARCHIVE_AFTER_SECONDS": "0.5",
    # Longer than an SMTP hand-over on a busy machine: only a killed sender leaves an e-mail 'sending'.
    "SINERGI_NOTIFY_LEASE_SECONDS": "10",
}
# The production retry ladder (1 s, 5 s, 30 s): a consumer that finds the store away retries
# past a ten-second outage instead of parking the event.
LADDER = {"SINERGI_RETRY_DELAYS": "1,5,30", "SINERGI_OUTBOX_SWEEP_SECONDS": "1"}


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


async def test_a_steady_stream_of_writes_survives_a_broker_restart_service_kills_and_a_store_outage(
    processes, settings, private_rabbit, private_store, smtp
):
    tag = secrets.token_hex(2)
    timings: dict[str, float] = {}
    async with tap(settings, "#", durable=True) as published, httpx.AsyncClient(timeout=15) as http:
        services = {
            "notifications": processes("notifications", SINERGI_SMTP_URL=smtp.url, **NOTIFY, **LADDER),
            "activities": processes("activities", **LADDER),
            "partners": processes("partners", **LADDER),
        }
        ledger = Ledger()
        stream_phase = ["setup"]
        writer = Writer(http, {name: proc.url for name, proc in services.items()}, ledger, lambda: stream_phase[0])
        staff = await writer.send("notifications", "recipient", "POST", "/recipients",
                                  {"name": "Piket Divisi Sosdiklih", "kind": "staff", "email": STAFF_EMAIL},
                                  role="admin")
        assert staff is not None, ledger
        anchors = [await writer.send("partners", "register", "POST", "/partners",
                                     partner_body(f"KIM Jangkar {tag}-{n}", f"humas.{tag}.{n}@kim.example"))
                   for n in range(2)]
        assert all(anchors), ledger
        anchor_ids = [a["id"] for a in anchors]
        await eventually(lambda: _replica_knows(http, services["activities"].url, anchor_ids), timeout=15)

        counters = Counters(http, services)
        counters.start()
        stream = Stream(writer, anchor_ids, tag)
        stream.start()

        def phase(name: str) -> None:
            stream.phase = stream_phase[0] = name

        async def during(name: str, seconds: float) -> None:
            phase(name)
            await asyncio.sleep(seconds)  # the stream runs meanwhile: this holds a fault, it does not wait for one

        async def timed(name: str, action: Any) -> None:
            began = time.monotonic()
            await asyncio.to_thread(action)
            timings[name] = time.monotonic() - began

        try:
            await during("warm-up", 4)
            phase("rabbitmq stopping")
            await timed("rabbitmqctl stop", private_rabbit.stop)
            await during("rabbitmq down", OUTAGE)
            phase("rabbitmq starting")
            await timed("rabbitmq-server start", private_rabbit.start)
            await during("after rabbitmq", 4)
            for name, proc in services.items():
                await counters.sample(name)
                phase(f"{name} killed")
                proc.kill()
                await timed(f"{name} restart", proc.start)
                await during(f"after {name} restart", 3)
            phase("store stopping")
            await timed("store stop", private_store.stop)
            await during("store down", OUTAGE)
            phase("store starting")
            await timed("store start", private_store.start)
            await during("after store", 5)
        finally:
            phase("stopping")
            await stream.stop()

        assert not ledger.refused, f"writes refused: {ledger.refused[:5]}"
        assert not ledger.server_errors, f"5xx other than 503 (CONTRACT §2: never a bare error): {ledger.server_errors[:5]}"
        assert not ledger.gave_up, f"writes still failing after a minute of retries: {ledger.gave_up[:5]}"
        per_phase = ledger.by_phase()
        assert per_phase["rabbitmq down"] > 0, f"no write was accepted while the broker was down: {per_phase}"

        # Everything reaches everyone, then nothing more arrives (no late duplicate).
        world = World(http, services, settings, private_store.url, staff["id"])
        problems: list[str] = []

        async def converged() -> bool:
            await world.read()
            problems[:] = world.gaps(published)
            return not problems

        try:
            await eventually(converged, timeout=150, interval=1.0)
        except AssertionError:
            raise AssertionError(f"not converged: {problems[:15]} ({len(problems)} in all); dead letters: "
                                 f"{await dead_letters(settings, counters.queues())}") from None
        last: list[Any] = [None]

        async def quiet() -> bool:
            now = (len(published), len(smtp.messages))
            same, last[0] = now == last[0], now
            return same

        await eventually(quiet, timeout=30, interval=2.0)
        await counters.stop()
        await world.read()
        parked = await dead_letters(settings, counters.queues())

    report = world.judge(published, ledger, smtp)
    print(summary(ledger, published, counters, parked, world, smtp, timings))
    assert not report, "\n".join(report[:20])
    assert sum(parked.values()) == 0, f"dead-lettered: {parked}"


async def _replica_knows(http: httpx.AsyncClient, url: str, ids: list[str]) -> bool:
    for partner_id in ids:
        response = await http.get(f"{url}/replica/partners/{partner_id}", headers=auth("viewer"))
        if response.status_code != 200:
            return False
    return True


async def every(http: httpx.AsyncClient, url: str, role: str = "viewer", **params: Any) -> list[dict[str, Any]]:
    """All pages of a list endpoint."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=query, headers=auth(role, ["*"]))
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def dead_letters(settings: Any, queues: list[str]) -> dict[str, int]:
    """Messages waiting in each consumer queue's dead-letter queue, as RabbitMQ counts them."""
    connection = await aio_pika.connect(settings.rabbitmq_url)
    async with connection:
        found = {}
        for queue in queues:
            channel = await connection.channel()
            declared = await channel.declare_queue(f"{queue}.dlq", passive=True)
            found[queue] = declared.declaration_result.message_count or 0
        return found


def _first_events(published: list[dict[str, Any]], prefix: str) -> dict[str, dict[int, dict[str, Any]]]:
    """Per aggregate, its events by version (the first copy of each; later ones are re-publications)."""
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for event in published:
        if event["type"].startswith(prefix):
            found.setdefault(event["subject"], {}).setdefault(event["aggregateversion"], event)
    return found


class World:
    """What the system holds, read over HTTP (and the notifications read models from its database)."""

    def __init__(self, http: httpx.AsyncClient, services: dict[str, Any], settings: Any, store_url: str,
                 staff_id: str) -> None:
        self.http = http
        self.services = services
        self.settings = settings
        self.store_url = store_url
        self.staff_id = staff_id
        self.partners: dict[str, dict[str, Any]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        self.replica: dict[str, int] = {}
        self.models: dict[str, dict[str, int]] = {}
        self.inbox: list[dict[str, Any]] = []
        self.emails: list[dict[str, Any]] = []

    def url(self, service: str) -> str:
        return self.services[service].url

    async def read(self) -> None:
        self.partners = {p["id"]: p for p in await every(self.http, self.url("partners") + "/partners")}
        self.activities = {a["id"]: a for a in await every(self.http, self.url("activities") + "/activities")}
        self.replica = {p["id"]: p["version"] for p in await every(self.http, self.url("activities") + "/replica/partners")}
        self.inbox = await every(self.http, f"{self.url('notifications')}/inbox/{self.staff_id}")
        self.emails = await every(self.http, self.url("notifications") + "/deliveries", role="operator", channel="email")
        client: AsyncMongoClient = AsyncMongoClient(self.store_url, tz_aware=True)
        try:
            db = client[self.settings.database_name("notifications")]
            for kind in ("partners", "activities"):
                docs = await db[kind].find({}, {"version": 1}).to_list()
                self.models[kind] = {d["_id"]: d["version"] for d in docs}
        finally:
            await client.close()

    def expected_notifications(self, published: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """(rule, cause) the staff member must have: one per event a rule fires on."""
        rules = {"sinergi.partner.registered": "partner.registered", "sinergi.activity.scheduled": "activity.scheduled",
                 "sinergi.activity.rescheduled": "activity.scheduled", "sinergi.activity.cancelled": "activity.cancelled"}
        return {(rules[e["type"]], f"{e['subject']}@{e['aggregateversion']}") for e in published if e["type"] in rules}

    def gaps(self, published: list[dict[str, Any]]) -> list[str]:
        """What has not arrived yet (empty once every event reached every consumer)."""
        gaps: list[str] = []
        for prefix, stored in (("sinergi.partner.", self.partners), ("sinergi.activity.", self.activities)):
            events = _first_events(published, prefix)
            for aggregate, doc in stored.items():
                if set(events.get(aggregate, {})) != set(range(1, doc["version"] + 1)):
                    gaps.append(f"{aggregate} stored at v{doc['version']}, events {sorted(events.get(aggregate, {}))}")
            gaps += [f"events of {a} that is not stored (phantom)" for a in set(events) - set(stored)]
        for partner_id, doc in self.partners.items():
            if self.replica.get(partner_id) != doc["version"]:
                gaps.append(f"activities' replica has {partner_id} at {self.replica.get(partner_id)}, not v{doc['version']}")
        for kind, stored in (("partners", self.partners), ("activities", self.activities)):
            for aggregate, doc in stored.items():
                if self.models.get(kind, {}).get(aggregate) != doc["version"]:
                    gaps.append(f"notifications' {kind} model has {aggregate} at "
                                f"{self.models.get(kind, {}).get(aggregate)}, not v{doc['version']}")
        have = {(n["rule"], n["cause"]["id"]) for n in self.inbox}
        gaps += [f"no {rule} notification for {cause}" for rule, cause in self.expected_notifications(published) - have]
        gaps += [f"e-mail {d['id']} still {d['status']}" for d in self.emails if d["status"] not in {"sent", "dead"}]
        return gaps

    def judge(self, published: list[dict[str, Any]], ledger: Ledger, smtp: SmtpSink) -> list[str]:
        """Everything wrong with the end state, as sentences."""
        wrong = self.gaps(published)
        events = {**_first_events(published, "sinergi.partner."), **_first_events(published, "sinergi.activity.")}
        stored = {**self.partners, **self.activities}
        for write in ledger.accepted:
            if write.service == "notifications":
                continue
            event = events.get(write.aggregate, {}).get(write.version)
            if write.aggregate not in stored or stored[write.aggregate]["version"] < write.version:
                wrong.append(f"accepted {write.op} of {write.aggregate} (v{write.version}, {write.phase}) is not stored")
            elif event is None or event["data"].get("status") != write.status:
                wrong.append(f"accepted {write.op} of {write.aggregate} v{write.version} ({write.phase}): "
                             f"the event says {event and event['data'].get('status')}, the client got {write.status}")
        titles = Counter(a["title"] for a in self.activities.values())
        wrong += [f"activity {title!r} created {n} times" for title, n in titles.items() if n > 1]
        per_cause = Counter((n["rule"], n["cause"]["id"]) for n in self.inbox)
        wrong += [f"{n} notifications for {key}" for key, n in per_cause.items() if n > 1]
        per_subject = Counter((n["rule"], n["cause"]["id"].split("@")[0]) for n in self.inbox)
        expected_per_subject = Counter((rule, cause.split("@")[0]) for rule, cause in self.expected_notifications(published))
        wrong += [f"{n} notifications for {key}, {expected_per_subject[key]} expected" for key, n in per_subject.items()
                  if n > expected_per_subject[key]]
        sent_mail = Counter(str(m["X-Sinergi-Delivery"]) for m in smtp.messages)
        wrong += [f"e-mail {d} received {n} times" for d, n in sent_mail.items() if n > 1]
        same = Counter((str(m["X-Sinergi-Rule"]), str(m["To"]), str(m["Subject"])) for m in smtp.messages)
        wrong += [f"e-mail {key} received {n} times" for key, n in same.items() if n > 1]
        for delivery in self.emails:
            if delivery["status"] == "sent" and sent_mail[delivery["id"]] != 1:
                wrong.append(f"e-mail {delivery['id']} is 'sent' but the SMTP server got it {sent_mail[delivery['id']]} times")
            if delivery["status"] == "dead" and delivery["last_error"] != INTERRUPTED_EMAIL:
                wrong.append(f"e-mail {delivery['id']} dead: {delivery['last_error']}")
        unknown = set(sent_mail) - {d["id"] for d in self.emails}
        wrong += [f"the SMTP server got e-mail {d} that no delivery records" for d in unknown]
        return wrong


def summary(ledger: Ledger, published: list[dict[str, Any]], counters: Counters, parked: dict[str, int],
            world: World, smtp: SmtpSink, timings: dict[str, float]) -> str:
    accepted = Counter(a.service for a in ledger.accepted)
    failed = Counter(why for (_, why), n in ledger.failed_attempts.items() for _ in range(n))
    ids = Counter(e["id"] for e in published)
    rules = Counter(n["rule"] for n in world.inbox)
    email_status = Counter(d["status"] for d in world.emails)
    lines = [
        "",
        "== faults: a steady stream of writes through RabbitMQ stop/start, SIGKILL of each service, "
        f"a {OUTAGE:.0f} s store outage ==",
        f"fault timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        f"writes accepted (2xx): {len(ledger.accepted)} ({', '.join(f'{k} {v}' for k, v in sorted(accepted.items()))}); "
        f"by phase: {', '.join(f'{k} {v}' for k, v in ledger.by_phase().items())}",
        f"failed attempts, retried by the client: {sum(failed.values())} "
        f"({', '.join(f'{k} {v}' for k, v in failed.most_common())}); writes that needed a retry: "
        f"{ledger.retried_writes}; answered from the Idempotency-Key record: "
        f"{sum(a.replayed for a in ledger.accepted)}; stored by an attempt whose answer was lost: "
        f"{len(ledger.applied_unanswered)}",
        f"events published: {len(ids)} distinct ids; {len(published)} copies reached an outside subscriber "
        f"({len(published) - len(ids)} re-published or redelivered); relay confirms summed over process lifetimes: "
        f"{counters.total('sinergi_events_published')}",
    ]
    for queue in counters.queues():
        outcomes = {o: counters.total("sinergi_events_consumed", queue, o)
                    for o in ("processed", "duplicates", "retried", "dead")}
        lines.append(f"consumer {queue}: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
    lines += [
        f"duplicates suppressed (consumers, by event id): {counters.total('sinergi_events_consumed', outcome='duplicates')}",
        f"messages dead-lettered: {sum(parked.values())} in the DLQs ({counters.total('sinergi_events_consumed', outcome='dead')} "
        "counted by the consumers)",
        f"staff inbox: {len(world.inbox)} notifications ({', '.join(f'{k} {v}' for k, v in sorted(rules.items()))}), "
        "none twice",
        f"e-mails: {len(smtp.messages)} received by the SMTP server, none twice; deliveries "
        f"{', '.join(f'{k} {v}' for k, v in sorted(email_status.items()))} (dead = interrupted mid-send by a kill or "
        "the store outage, not re-sent: at most once)",
        f"state: {len(world.partners)} partners, {len(world.activities)} activities, each at its latest version in "
        "every consumer",
    ]
    return "\n".join(lines)
