"""A steady stream of writes through the three HTTP APIs, and what it takes to judge it afterwards.

- :class:`Writer` sends one write as a careful client does: every POST with an
  ``Idempotency-Key``, and on a connection error, a timeout or a 503 the same request again
  (same key) until it is answered. Only a 2xx is an *accepted* write; the :class:`Ledger`
  keeps each one with the version it answered, and counts every failed attempt.
- :class:`Stream` runs a few workers, each going through life cycles one write at a time:
  partners registered, changed twice, suspended and reactivated; activities with the
  anchor partners planned, scheduled in the past, held and reported, or scheduled ahead (the
  partners' contacts are invited by e-mail) and some of those cancelled.
- :class:`Counters` reads each process's ``sinergi_events_*`` counters from ``/metrics`` and
  sums them over its lifetimes (a restarted process counts from zero again).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServiceProcess, auth

# Seconds one write is retried before the client gives up on it. A request cut off by a crash
# or a store outage holds its Idempotency-Key for 30 s (shared/idempotency.py ABANDONED): the
# retries meanwhile are answered 409 "still being processed", then one takes the key over.
GIVE_UP_AFTER = 120.0


@dataclass
class Accepted:
    service: str
    op: str
    aggregate: str
    version: int
    status: str | None
    phase: str
    attempts: int
    replayed: bool


@dataclass
class Ledger:
    accepted: list[Accepted] = field(default_factory=list)
    failed_attempts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (service, why) → attempts
    retried_writes: int = 0  # writes that needed more than one attempt
    # A retried write answered 409 with the very status it asked for: an earlier attempt was
    # stored and its answer lost (the process died). Not accepted; the stream moves on.
    applied_unanswered: list[tuple[str, str, str]] = field(default_factory=list)
    refused: list[tuple[str, str, int, str]] = field(default_factory=list)  # unexpected 4xx
    server_errors: list[tuple[str, str, int, str]] = field(default_factory=list)  # 5xx other than 503
    gave_up: list[tuple[str, str, str, Counter[str]]] = field(default_factory=list)  # with why each attempt failed

    def by_phase(self) -> Counter[str]:
        return Counter(a.phase for a in self.accepted)


class Writer:
    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str], ledger: Ledger) -> None:
        self.http = http
        self.urls = urls
        self.ledger = ledger
        self.phase = "setup"  # what the test is doing to the servers, recorded with each accepted write

    async def send(self, service: str, op: str, method: str, path: str, body: dict[str, Any] | None = None,
                   role: str = "operator", wanted_status: str | None = None) -> dict[str, Any] | None:
        """The answer of the first 2xx, or None when the write was not accepted."""
        headers = auth(role, ["*"] if role == "admin" else None)
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        give_up = time.monotonic() + GIVE_UP_AFTER
        delay, attempts = 0.2, 0
        whys: Counter[str] = Counter()
        while True:
            attempts += 1
            phase = self.phase
            try:
                response = await self.http.request(method, self.urls[service] + path, json=body, headers=headers)
            except httpx.TimeoutException:
                why = "timeout"
            except httpx.TransportError:
                why = "connection error"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    doc = response.json()
                    self.ledger.accepted.append(Accepted(
                        service, op, doc["id"], doc["version"], doc.get("status"), phase,
                        attempts, response.headers.get("idempotent-replayed") == "true"))
                    self.ledger.retried_writes += attempts > 1
                    return doc
                problem = _json(response)
                if status == 409 and problem.get("in_progress") is True:
                    why = "409 in progress"
                elif status == 409 and attempts > 1 and wanted_status and problem.get("current_status") == wanted_status:
                    self.ledger.applied_unanswered.append((service, op, path))
                    return None
                elif status == 503:
                    why = "503"
                elif status >= 500:
                    self.ledger.server_errors.append((service, op, status, response.text[:300]))
                    why = str(status)
                else:
                    self.ledger.refused.append((service, op, status, response.text[:300]))
                    return None
            self.ledger.failed_attempts[(service, why)] += 1
            whys[why] += 1
            if time.monotonic() > give_up:
                self.ledger.gave_up.append((service, op, path, whys))
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def activity_body(title: str, partners: list[str]) -> dict[str, Any]:
    roles = ["penyelenggara", "mitra", "narasumber"]
    return {
        "title": title, "kind": "sosialisasi", "election": "pilkada-2024", "stage": "kampanye",
        "topics": ["tata_cara_memilih"], "method": "langsung", "format": "forum_warga",
        "segments": ["pemilih_pemula", "perempuan"],
        "partners": [{"partner_id": p, "role": roles[i % len(roles)]} for i, p in enumerate(partners)],
        "location": {"district": "32.73.02", "venue": "Balai RW 05 Dago"}, "planned_reach": 60,
    }


def partner_body(name: str, email: str) -> dict[str, Any]:
    return {"name": name, "type": "ormas_komunitas", "region": "32.73", "segments": ["pemilih_muda"],
            "contacts": [{"name": f"Ketua {name}", "role": "Ketua", "email": email}]}


REPORT = {"attendance_total": 40, "attendance_by_segment": {"pemilih_pemula": 12}, "women": 21, "disabled": 1}


def when(days: float) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}


class Stream:
    """Workers writing through the APIs, one life-cycle step at a time, until told to stop."""

    def __init__(self, writer: Writer, anchors: list[str], tag: str, workers: int = 4, pause: float = 0.1) -> None:
        self.writer = writer
        self.anchors = anchors
        self.tag = tag
        self.workers = workers
        self.pause = pause
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._serial = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(n), name=f"stream-{n}") for n in range(self.workers)]

    async def stop(self, timeout: float = GIVE_UP_AFTER + 15) -> None:
        """No new step starts; the writes in flight finish (each gives up after GIVE_UP_AFTER)."""
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()  # a bug in the stream itself surfaces here
        assert not pending, f"{len(pending)} stream workers still busy {timeout:.0f} s after the stream stopped"

    @property
    def phase(self) -> str:
        return self.writer.phase

    @phase.setter
    def phase(self, name: str) -> None:
        self.writer.phase = name

    async def during(self, phase: str, seconds: float) -> None:
        """Let the stream run for ``seconds`` under this phase's name (holding a fault, or its aftermath)."""
        self.phase = phase
        await asyncio.sleep(seconds)

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    async def _work(self, worker: int) -> None:
        chains = [self._partner_life, self._activity_held_and_reported, self._activity_ahead]
        turn = worker
        while not self._stop.is_set():
            await chains[turn % len(chains)]()
            turn += 1

    async def _steps(self, *steps: Callable[[], Any]) -> None:
        for step in steps:
            if self._stop.is_set():
                return
            if await step() is None:
                return  # not accepted: this life cycle ends here, the next begins
            await asyncio.sleep(self.pause)  # a steady pace, not a flood

    async def _partner_life(self) -> None:
        n = self._next()
        name = f"Komunitas Tangguh {self.tag}-{n}"
        send = self.writer.send
        created: dict[str, Any] = {}

        async def register() -> Any:
            doc = await send("partners", "register", "POST", "/partners",
                             partner_body(name, f"ketua.{self.tag}.{n}@komunitas.example"))
            created.update(doc or {})
            return doc

        def path(suffix: str = "") -> str:
            return f"/partners/{created['id']}{suffix}"

        await self._steps(
            register,
            lambda: send("partners", "patch notes", "PATCH", path(), {"notes": f"pertemuan ke-{n}"}),
            lambda: send("partners", "patch categories", "PATCH", path(), {"categories": ["kepemudaan", "seni"]}),
            lambda: send("partners", "suspend", "POST", path("/suspend"), {"reason": "pengurus berganti"},
                         wanted_status="suspended"),
            lambda: send("partners", "reactivate", "POST", path("/reactivate"), {"reason": "pengurus baru"},
                         wanted_status="active"),
        )

    async def _activity_life(self, title: str, moves: list[tuple[str, str, dict[str, Any] | None, str | None]]) -> None:
        """Plan an activity with the anchor partners, then each (op, verb, body, status it asks for)."""
        created: dict[str, Any] = {}

        async def plan() -> Any:
            doc = await self.writer.send("activities", "plan", "POST", "/activities", activity_body(title, self.anchors))
            created.update(doc or {})
            return doc

        def move(op: str, verb: str, body: dict[str, Any] | None, wanted: str | None) -> Callable[[], Any]:
            return lambda: self.writer.send("activities", op, "POST", f"/activities/{created['id']}/{verb}", body,
                                            wanted_status=wanted)

        await self._steps(plan, *(move(*m) for m in moves))

    async def _activity_held_and_reported(self) -> None:
        await self._activity_life(f"Forum warga {self.tag}-{self._next()}", [
            ("schedule (past)", "schedule", when(-1), None),
            ("hold", "hold", None, "held"),
            ("report", "report", REPORT, "reported"),
        ])

    async def _activity_ahead(self) -> None:
        n = self._next()
        moves = [("schedule (ahead)", "schedule", when(10), None)]  # the partners' contacts are invited
        if n % 2:
            moves.append(("cancel", "cancel", {"reason": "hujan deras"}, "cancelled"))
        await self._activity_life(f"Sosialisasi keliling {self.tag}-{n}", moves)


class Counters:
    """``sinergi_events_*`` of every service process, summed over each one's lifetimes.

    Sampled every half second and right before a process is killed or stopped, keyed by
    (service, start number): a counter that restarts at zero is a new lifetime, not a loss.
    """

    METRICS = ("sinergi_events_published", "sinergi_events_consumed")

    def __init__(self, http: httpx.AsyncClient, services: dict[str, ServiceProcess]) -> None:
        self.http = http
        self.services = services
        self.lifetimes: dict[tuple[str, int], dict[tuple[str, str, str], float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def sample(self, *names: str) -> None:
        for name in names or tuple(self.services):
            proc = self.services[name]
            if proc.process is None or proc.process.poll() is not None:
                continue
            try:
                response = await self.http.get(proc.url + "/metrics", timeout=2.0)
            except httpx.HTTPError:
                continue
            values: dict[tuple[str, str, str], float] = {}
            for family in text_string_to_metric_families(response.text):
                if family.name not in self.METRICS:
                    continue
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        key = (family.name, sample.labels.get("queue", ""), sample.labels.get("outcome", ""))
                        values[key] = sample.value
            self.lifetimes[(name, proc.starts)] = values

    def start(self) -> None:
        async def run() -> None:
            while True:
                await self.sample()
                await asyncio.sleep(0.5)

        self._task = asyncio.create_task(run(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.sample()

    def total(self, metric: str, queue: str | None = None, outcome: str | None = None) -> int:
        return int(sum(v for values in self.lifetimes.values() for (m, q, o), v in values.items()
                       if m == metric and queue in (None, q) and outcome in (None, o)))

    def queues(self) -> list[str]:
        return sorted({q for values in self.lifetimes.values() for (_, q, _) in values if q})
