"""The steady-stream fault test with two processes per service and four shards per queue (issue 15 point 3).

Each service runs as two uvicorn workers behind its one port (``SINERGI_PROCESSES=2``): both serve
HTTP, relay their outboxes and consume; each consumer queue is four shards hashed by aggregate
(``SINERGI_SHARDS=4``), each shard consumed by one worker at a time (single active consumer; each
worker is active on its own shards and stands in on the others, taking over when a worker goes),
so both workers consume and one aggregate's events stay in order; writes to one aggregate
take a lease in the store across the two (``shared.outbox.WriteLeases``). The same faults as
``test_steady_stream.py`` (RabbitMQ stopped and started, each service SIGKILLed and restarted,
its workers dying with it, the store stopped for 10 s), and the same checks, imported so that they
run here on this module's ``stream``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.bus import tap
from tests.conftest import ServiceProcess, eventually, make_settings
from tests.faults.conftest import START_TIMEOUT, PrivateRabbit, PrivateStore, service_process
from tests.faults.test_steady_stream import (  # noqa: F401 - collected here, on this module's stream
    LADDER,
    NOTIFY,
    StreamRun,
    test_every_accepted_write_is_stored_and_published_exactly_as_answered,
    test_no_notification_and_no_email_was_produced_twice,
    test_nothing_was_dead_lettered,
    test_the_activities_replica_holds_every_partner_at_its_latest_version,
    test_the_notifications_service_saw_every_partner_and_activity_event,
    test_writes_went_on_through_every_fault_and_a_retried_write_was_never_refused,
)
from tests.notifications_support import SmtpSink
from tests.servers import Servers

# The module's stream runs in the first test's setup: ~5 min on a loaded 2-core machine, more with
# four shards' quorum queues declared at each of the restarts, over the suite's 300 s per test.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

TWO = {"SINERGI_PROCESSES": "2", "SINERGI_SHARDS": "4"}


@pytest.fixture(scope="module")
async def stream(private_servers: Servers, private_rabbit: PrivateRabbit, private_store: PrivateStore, run_id: str,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StreamRun]:
    settings = make_settings(private_servers, f"{run_id}p{secrets.token_hex(2)}", shards=4)
    logs = tmp_path_factory.mktemp("stream-two-processes")
    started: list[ServiceProcess] = []

    def process(name: str, **env: str) -> ServiceProcess:
        started.append(service_process(settings, name, logs, **TWO, **env))
        return started[-1]

    try:
        with SmtpSink() as smtp:
            async with tap(settings, "#", durable=True) as published, httpx.AsyncClient(timeout=30) as http:
                services = {"notifications": process("notifications", SINERGI_SMTP_URL=smtp.url, **NOTIFY, **LADDER),
                            "activities": process("activities", **LADDER),
                            "partners": process("partners", **LADDER)}
                await asyncio.gather(*(asyncio.to_thread(proc.start, START_TIMEOUT) for proc in services.values()))
                run = StreamRun(settings, services, http, published, smtp, private_rabbit, private_store)
                await run.go(secrets.token_hex(2))
                yield run
                await run.counters.stop()
    finally:
        for proc in started:
            proc.stop()


async def test_each_staff_notification_shows_how_its_email_went(stream):
    from tests.faults.test_steady_stream import test_each_staff_notification_shows_how_its_email_went as check

    await check(stream)


async def test_each_service_ran_two_workers(stream):
    """Each service's supervisor runs two workers (uvicorn spawns them; counted from /proc). A worker
    the faults took down is spawned again by its supervisor: wait for it, boundedly."""
    for name, proc in stream.services.items():
        async def two_workers(pid: int = proc.process.pid) -> list[int]:
            children = await asyncio.to_thread(_children, pid)
            return children if len(children) >= 2 else []

        try:
            await eventually(two_workers, timeout=30.0, interval=0.5)
        except AssertionError:
            children = await asyncio.to_thread(_children, proc.process.pid)
            raise AssertionError(f"{name} runs {children} under its supervisor, not two workers") from None


def _children(pid: int) -> list[int]:
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found
