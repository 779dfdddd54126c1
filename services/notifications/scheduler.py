"""The durable scheduler: due jobs and deliveries, claimed by inserts, in the service's database.

Every tick (each ``poll_seconds``, at the next due instant it knows of, or at once when woken, also
when a job is added that comes due before the tick it has planned; a new delivery is handed over
by its notifier and starts without one, ``Scheduler.hand``):

1. each job whose ``due_at`` has come is claimed by inserting ``claims/<job id>`` (the job
   id is key and occurrence), run, and deleted (one process reads the jobs only when one is due:
   ``Scheduler.__init__``). An insert keyed by ``_id`` succeeds once on
   MongoDB and FerretDB alike, so with two replicas a job runs once; a job that came due
   while the service was down is simply due when it starts, and runs once;
2. each delivery due for attempt *n* is claimed with ``claims/delivery:<id>@<n>`` and sent
   (in the background, ``concurrency`` at a time); a delivery left ``sending`` longer than
   the lease by a process that died is recovered;
3. sent deliveries whose event is published move to the log, each notification first made to
   show its delivery ``sent`` if it does not yet (the outcome's own copy onto the notification is
   a second write, which a crash or a store error may have lost); a delivery that ended ``dead``
   gets the same repair, once per state in this process (it stays in the working set).

A claim whose holder vanished (the job or delivery is still due a lease later) is taken
over with a second insert, ``<claim>~r<lease window>``: one taker per window. What runs
after a takeover is idempotent (deterministic notification and delivery ids). A claim whose
insert lost its answer and that turns out to be this process's is its own at once
(``Scheduler._claim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError

from services.notifications.clock import Clock
from services.notifications.config import NotifySettings
from services.notifications.domain import Job
from services.notifications.notifier import DeliveryRunner, SendSlot
from services.notifications.store import Claims, Deliveries, Jobs
from shared.clock import now_ms
from shared.logging import get_logger
from shared.outbox import PENDING

log = get_logger(__name__)

RunJob = Callable[[Job, bool], Awaitable[None]]


class Scheduler:
    # With one process, how long the scheduler goes at most without reading the jobs (it knows
    # when the next is due: each job added here says so through ``expect``).
    JOBS_LOOK_SECONDS = 60.0

    def __init__(self, jobs: Jobs, claims: Claims, deliveries: Deliveries, runner: DeliveryRunner, run_job: RunJob,
                 clock: Clock, config: NotifySettings, owner: str, several_processes: bool = False) -> None:
        self.jobs = jobs
        self.claims = claims
        self.deliveries = deliveries
        self.runner = runner
        self.run_job = run_job
        self.clock = clock
        self.config = config
        self.owner = owner
        self.ticks = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._job_slots = asyncio.Semaphore(4)
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._contended: dict[str, float] = {}
        self._unanswered: set[str] = set()  # claims whose insert failed without an answer
        self._loop: asyncio.Task[None] | None = None
        self._archived = 0.0
        self._shown: dict[str, int] = {}  # dead delivery id -> the version its notification was checked at
        # Reading the jobs costs the store a whole scan (FerretDB: ~80 ms at 1,000 jobs), and a tick
        # came every ``poll_seconds`` and on every wake: it held the store under the pipeline's
        # slowest events (issue 15). With one process every job is added here, so the next one
        # due is known (``_next_job``; None: none) and the jobs are read only when it has come, when
        # a look found one due (it runs, or failed and is due again), when the clock moved, and at
        # least every ``JOBS_LOOK_SECONDS``. With several processes they are read on every tick.
        self._several = several_processes
        self._next_job: datetime | None = None
        # Monotonic instant of the last read that found none due; None: read at the next tick.
        self._jobs_read: float | None = None
        # The working set of deliveries is read whole (on FerretDB, every document decoded) by a
        # tick: on the timer (``poll_seconds``, sooner when a known attempt comes due) and when
        # woken. A new delivery needed no such read: its notifier hands it over (``hand``) and it
        # starts at once (the claim keeps its attempt to one process, as for those a tick finds).
        # Every new delivery woke a tick, so under a stream of events each process read the
        # working set back to back, and the two processes of the steady-stream test sent their
        # e-mails minutes behind.
        self._handed: list[dict[str, Any]] = []
        self._tick_now = True  # woken: the next pass is a tick, not only the handed deliveries
        # Monotonic instant the timer's next tick is due; infinite while a tick runs (a job added
        # meanwhile may be missed by it, so ``expect`` wakes the scheduler again).
        self._tick_at = math.inf
        clock.on_change(self._clock_moved)

    def wake(self) -> None:
        """Tick now: read the due jobs and deliveries (a retry, a change by hand, the clock moved)."""
        self._tick_now = True
        self._wake.set()

    def hand(self, deliveries: list[dict[str, Any]]) -> None:
        """New deliveries this process just stored: start those due without a tick."""
        if deliveries:
            self._handed += deliveries
            self._wake.set()

    def expect(self, due: datetime) -> None:
        """A job was added that comes due at ``due`` (the rules' clock): look then, not at the next
        poll, if that is later (a reminder due in a second would wait up to ``poll_seconds``)."""
        if self._next_job is None or due < self._next_job:
            self._next_job = due
        if time.monotonic() + (due - self.clock.now()).total_seconds() < self._tick_at:
            self.wake()

    def _clock_moved(self) -> None:
        self._jobs_read = None
        self.wake()

    def _read_jobs(self, now: datetime) -> bool:
        return (self._several or self._jobs_read is None or (self._next_job is not None and self._next_job <= now)
                or time.monotonic() - self._jobs_read >= self.JOBS_LOOK_SECONDS)

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop ticking; let attempts under way finish (so they end ``sent`` or ``failed``, not unknown)."""
        if self._loop:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._tick_now or time.monotonic() >= self._tick_at:
                self._tick_now, self._tick_at = False, math.inf
                wait = self.config.poll_seconds
                try:
                    wait = min(wait, await self.tick())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("scheduler tick failed; will retry", error=repr(exc))
                self._tick_at = time.monotonic() + wait
            else:
                self._start_handed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(self._tick_at - time.monotonic(), 0.01))

    def _start_handed(self) -> None:
        """Start the handed-over deliveries that are due; look again when the first of the others is."""
        handed, self._handed = self._handed, []
        now = self.clock.now()
        for doc in handed:
            if doc["_id"] in self._inflight:
                continue
            if doc["next_attempt_at"] > now:  # quiet hours: the tick then finds it
                self._tick_at = min(self._tick_at,
                                    time.monotonic() + (doc["next_attempt_at"] - now).total_seconds())
                continue
            self._attempt(doc)

    async def tick(self) -> float:
        """One pass; returns the seconds until the next known due instant."""
        now = self.clock.now()
        seen: set[str] = set()
        upcoming: list[datetime] = []
        if self._read_jobs(now):
            self._next_job, read_at, due = None, time.monotonic(), False
            for job in await self.jobs.earliest():
                if job.due_at > now:
                    self._next_job = job.due_at if self._next_job is None else min(self._next_job, job.due_at)
                    break
                due = True
                seen.add(job.id)
                if job.id not in self._inflight and not self._waiting(job.id):
                    self._spawn(job.id, job.id, lambda taken_over, j=job: self._run_job(j, taken_over),
                                slot=self._job_slots)
            self._jobs_read = None if due else read_at
        if self._next_job is not None:
            upcoming.append(self._next_job)
        delivery_claims, next_attempt = await self._deliveries(now)
        seen |= delivery_claims
        upcoming += [next_attempt] if next_attempt else []
        # Forget contention on claims no longer due (their holder finished).
        self._contended = {k: v for k, v in self._contended.items() if k in seen}
        self.ticks += 1
        return min(((at - now).total_seconds() for at in upcoming), default=self.config.poll_seconds)

    def _waiting(self, claim_id: str) -> bool:
        """Another process holds this claim and its lease has not run out: do not ask again yet."""
        first_seen = self._contended.get(claim_id)
        return first_seen is not None and time.monotonic() - first_seen < self.config.lease_seconds

    async def _claim(self, claim_id: str) -> str | None:
        """``first`` when the claim is ours, ``takeover`` when its holder has not finished within
        the lease and we took it over, else ``None``."""
        now = now_ms()
        if claim_id not in self._contended:
            try:
                if await self.claims.take(claim_id, self.owner, now):
                    self._unanswered.discard(claim_id)
                    return "first"
            except PyMongoError:
                if len(self._unanswered) > 10_000:  # left by deliveries no longer looked at
                    self._unanswered.clear()
                self._unanswered.add(claim_id)  # stored or not: the next look asks whose it is
                raise
            if claim_id in self._unanswered:
                self._unanswered.discard(claim_id)
                # The insert that lost its answer was stored: nothing ran under it, nobody else
                # holds it. An e-mail waited the whole lease, then ended dead unsent as if it
                # might have gone out. Only that insert: a claim this process held while its
                # work ran stays spent (a delivery stored again after its move to the log must
                # not be sent again under it).
                if await self.claims.holder(claim_id) == self.owner:
                    return "first"
            self._contended[claim_id] = time.monotonic()
            return None
        if self._waiting(claim_id):
            return None
        window = int(time.time() // self.config.lease_seconds)
        if await self.claims.take(f"{claim_id}~r{window}", self.owner, now):
            log.warning("taking over an abandoned claim", claim=claim_id)
            self._contended.pop(claim_id, None)
            return "takeover"
        return None

    async def _run_job(self, job: Job, taken_over: bool) -> None:
        await self.run_job(job, taken_over)
        await self.jobs.delete(job.id)

    async def _deliveries(self, now: datetime) -> tuple[set[str], datetime | None]:
        self._handed = []  # stored before this read: it finds them
        real_now = now_ms()
        sent: list[dict[str, Any]] = []
        dead: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        later: list[datetime] = []
        for doc in await self.deliveries.working():
            did, status = doc["_id"], doc["status"]
            settled = (real_now - doc["updated_at"]).total_seconds() >= self.config.archive_after_seconds
            if status == "sent":
                if not doc.get(PENDING) and settled:
                    sent.append(doc)
                continue
            if status == "dead":
                if settled:  # the outcome's own copy onto the notification has had its chance
                    dead[did] = doc
                continue
            if did in self._inflight:
                continue
            if status == "sending":
                started = doc.get("attempt_started_at")
                if started and (real_now - started).total_seconds() > self.config.lease_seconds:
                    # One recovery per lease window, whoever sees it first.
                    claim = f"delivery:{did}@{doc['attempts']}~stuck{int(time.time() // self.config.lease_seconds)}"
                    self._spawn(did, claim, lambda _, d=did: self.runner.recover(d), exclusive=False)
                continue
            if doc["next_attempt_at"] > now:
                later.append(doc["next_attempt_at"])
                continue
            seen.add(self._attempt(doc))
        # Forget dead deliveries that are gone or changed (retried by hand): those are checked again.
        self._shown = {did: version for did, version in self._shown.items()
                       if did in dead and dead[did]["version"] == version}
        unchecked = [doc for did, doc in dead.items() if did not in self._shown]
        if (sent or unchecked) and time.monotonic() - self._archived >= self.config.archive_after_seconds:
            self._archived = time.monotonic()
            if unchecked:
                await self.runner.show(unchecked)
                self._shown.update((doc["_id"], doc["version"]) for doc in unchecked)
            await self.deliveries.archive(sent, show=self.runner.show)
        return seen, min(later, default=None)

    def _attempt(self, doc: dict[str, Any]) -> str:
        """Start the delivery's next attempt unless its claim is another process's (returned)."""
        claim = f"delivery:{doc['_id']}@{doc['attempts'] + 1}"
        if not self._waiting(claim):
            slot = self.runner.slot(doc["channel"])
            self._spawn(doc["_id"], claim, lambda taken_over, d=doc, s=slot: self.runner.attempt(
                d, d["attempts"] + 1, taken_over, s), slot=slot)
        return claim

    def _spawn(self, key: str, claim: str, work: Callable[[bool], Awaitable[None]], exclusive: bool = True,
               slot: asyncio.Semaphore | SendSlot | None = None) -> None:
        """Run ``work(taken_over)`` in the background once ``claim`` is ours (``key`` is then in flight),
        holding ``slot`` from before the claim (``work`` may give it back sooner)."""
        self._inflight.add(key)

        async def run() -> None:
            try:
                async with slot or contextlib.nullcontext(), self._slots:
                    if exclusive:
                        claimed = await self._claim(claim)
                    else:
                        claimed = "first" if await self.claims.take(claim, self.owner, now_ms()) else None
                    if claimed:
                        await work(claimed == "takeover")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduled work failed; the scheduler will come back to it", key=key, error=repr(exc))
            finally:
                self._inflight.discard(key)

        task = asyncio.create_task(run(), name=f"scheduled-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
