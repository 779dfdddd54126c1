"""End-to-end benchmark: activity transitions through HTTP → outbox → RabbitMQ → notifications → inbox.

Manual, not part of the test suite. One command; it starts its own activities and notifications
processes (unique database and queue names, free ports) on the shared RabbitMQ and store (or one
of its own: ``--own-store``), from this tree or from other checkouts one after another (``--at``)::

    .venv/bin/python bench/pipeline.py --n 300 --concurrency 8 --own-store --at 32ce6d5 HEAD --paced

Prints, for our pipeline: sustained events/s (N scheduled activities over the time from the first
HTTP accept to the last inbox write) and p50/p95/p99 latency from HTTP accept to an outside
subscriber's receipt and to the inbox write; then, in the same run, the machine's ceiling for the
same path without our code (raw aio-pika publish with confirms and persistent messages, consumed
and written with PyMongo to the same store) and the ratio ours / ceiling; then the *same-work*
ceiling (``bench/same_work.py``): by hand, without our framework, the store commands and the
publish one scheduled event costs today (``SAME_WORK``, counted by ``bench/costs.py``;
``--same-work FILE`` takes the count ``bench/costs.py --write FILE`` wrote), so ours / same-work
shows our overhead rather than the number of store commands; then the RSS of each service at rest and under load. ``--paced`` also
runs ours at half the sustained rate (the p99 target is measured there).

The requests are sent with aiohttp's client (``--client httpx`` for httpx's, as measured before
2026-12-07, night): on 2 cores httpx's took ~15 % of the machine from the services it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import httpx
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clients import Clients  # noqa: E402
from bench.leftovers import remove  # noqa: E402
from bench.same_work import SAME_WORK, same_work  # noqa: E402
from bench.server import Store, checkout, free_port, ready, stop  # noqa: E402
from shared.auth import mint  # noqa: E402

RABBITMQ = os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGODB = os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/")
REGION = "32.73"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{name:<34} n={len(ms):>5}  p50={pct(ms, 50):8.1f} ms  p95={pct(ms, 95):8.1f} ms  p99={pct(ms, 99):8.1f} ms"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Service:
    def __init__(self, name: str, prefix: str, secret: str, log_dir: Path, wrapper: list[str] | None = None,
                 tree: Path = ROOT) -> None:
        self.name, self.port = name, free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
        env.update({"SINERGI_REGION": REGION, "SINERGI_RABBITMQ_URL": RABBITMQ, "SINERGI_MONGODB_URL": MONGODB,
                    "SINERGI_AUTH_SECRET": secret, "SINERGI_DB_PREFIX": f"{prefix}_",
                    "SINERGI_BUS_PREFIX": f"{prefix}.", "SINERGI_PORT": str(self.port),
                    "SINERGI_LOG_LEVEL": "warning", "SINERGI_SMTP_URL": "smtp://127.0.0.1:1",
                    # one notification per event, as the figures before summaries (issue 14) measured: a
                    # burst from one actor is otherwise summed up at its 60 s window's end
                    "SINERGI_NOTIFY_SUMMARY_WINDOW_SECONDS": "0"})
        if tree != ROOT:  # another checkout (bench.server.checkout), run with this venv
            env["PYTHONPATH"] = str(tree)
        self.log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([*(wrapper or [sys.executable, "-m"]), f"services.{name}"], cwd=tree, env=env,
                                        stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        ready(self.url, self.process, f"{self.name} (see {self.log.name})", timeout)

    def stop(self) -> None:
        stop(self.process)


async def ours(args: argparse.Namespace, prefix: str, secret: str, services: dict[str, Service],
               rate: float | None = None) -> tuple[float, list[float], list[float]]:
    """Schedule N planned activities; returns (events/s, accept→subscriber, accept→inbox write)."""
    admin = {"Authorization": f"Bearer {mint(secret, sub='bench', role='admin', regions=[REGION])}"}
    # The benchmark's own client shares the 2 cores with what it measures (bench/clients.py).
    clients = Clients(args.client, {"activities": services["activities"].url}, admin, args.concurrency)
    acts = clients.send("activities")
    notes = httpx.AsyncClient(base_url=services["notifications"].url, headers=admin, timeout=60)
    mongo: AsyncMongoClient = AsyncMongoClient(MONGODB, tz_aware=True)
    connection = await aio_pika.connect_robust(RABBITMQ)
    try:
        body = {"name": "Bench staff", "kind": "staff", "subscriptions": ["activity.scheduled"]}
        recipient = (await notes.post("/recipients", json=body)).json()
        if "id" not in recipient:  # staff need an address: the e-mail then fails fast on a closed port
            recipient = (await notes.post("/recipients", json={**body, "email": f"b-{prefix}@example.org"})).json()
        assert "id" in recipient, recipient
        sem = asyncio.Semaphore(args.concurrency)

        async def plan(i: int) -> str:
            async with sem:
                status, body = await acts("POST", "/activities", {
                    "title": f"Forum warga {i}", "kind": "sosialisasi", "election": "pilkada-2024",
                    "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]})
                assert status == 201, body
                return body["id"]

        ids = await asyncio.gather(*(plan(i) for i in range(args.n)))
        # notifications also consumes activity.planned: let that backlog drain before measuring
        probe = await connection.channel()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            depth = (await probe.declare_queue(f"{prefix}.notifications.events", passive=True)).declaration_result
            if depth.message_count == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)

        received: dict[str, float] = {}
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{prefix}.sinergi.events")
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                body = json.loads(message.body)
                if body.get("type") == "sinergi.activity.scheduled":
                    received.setdefault(body["subject"], time.time())

        await queue.consume(on_message)
        accepted: dict[str, float] = {}
        start = datetime.now(UTC) + timedelta(days=30)
        payload = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}

        async def schedule(i: int, activity_id: str) -> None:
            if rate:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            async with sem:
                status, body = await acts("POST", f"/activities/{activity_id}/schedule", payload)
                assert status == 200, body
                accepted[activity_id] = time.time()

        t0 = time.monotonic()
        rss_load: dict[str, float] = {}

        async def sample_rss() -> None:
            while True:
                for name, service in services.items():
                    rss_load[name] = max(rss_load.get(name, 0.0), rss_mib(service.process.pid))
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample_rss())
        await asyncio.gather(*(schedule(i, a) for i, a in enumerate(ids)))
        inbox = mongo[f"{prefix}_notifications"][f"inbox_{recipient['id']}"]
        written: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout
        # While the events flow the inbox is only counted; it is read once they are all in. Reading
        # it whole every 0.1 s (and matching every id in every document) took CPU from the services
        # it measures: each notification's time is its own ``created_at``, not when it was seen.
        while time.monotonic() < deadline and (len(written) < len(ids) or len(received) < len(ids)):
            if await inbox.count_documents({}) >= len(ids) or time.monotonic() + 1 > deadline:
                async for doc in inbox.find({}):
                    text = json.dumps(doc, default=str)
                    for activity_id in ids:
                        if activity_id not in written and activity_id in text:
                            created = doc.get("created_at")
                            written[activity_id] = (created.timestamp() if isinstance(created, datetime)
                                                    else time.time())
                            break
            await asyncio.sleep(0.25)
        sampler.cancel()
        args.rss_load = rss_load
        first = min(accepted.values())
        last = max(written.values()) if written else time.time()
        print(f"  received by the subscriber {len(received)}/{len(ids)}, written to the inbox {len(written)}/{len(ids)}")
        rate_found = len(written) / (last - first) if written else 0.0
        return (rate_found, [received[a] - accepted[a] for a in ids if a in received],
                [written[a] - accepted[a] for a in ids if a in written])
    finally:
        await connection.close()
        await mongo.close()
        await clients.close()
        await notes.aclose()


async def ceiling(args: argparse.Namespace, prefix: str) -> tuple[float, list[float]]:
    """The same path without our code: publish with confirms (persistent) → consume → insert_one."""
    mongo: AsyncMongoClient = AsyncMongoClient(MONGODB, tz_aware=True)
    collection = mongo[f"{prefix}_raw"]["inbox"]
    await collection.insert_one({"_id": "warm-up"})
    connection = await aio_pika.connect_robust(RABBITMQ)
    latencies: list[float] = []
    done = asyncio.Event()
    try:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=args.concurrency * 4)
        queue = await consumer.declare_queue(f"{prefix}.raw", durable=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            await collection.insert_one({"_id": body["id"], "at": datetime.now(UTC), "data": body})
            await message.ack()
            latencies.append(time.time() - body["sent"])
            if len(latencies) >= args.n:
                done.set()

        await queue.consume(on_message)
        sem = asyncio.Semaphore(args.concurrency)

        async def publish(i: int) -> None:
            async with sem:
                body = {"id": f"raw-{i}", "sent": time.time(), "data": {"title": f"Forum warga {i}"}}
                await publisher.default_exchange.publish(
                    aio_pika.Message(json.dumps(body).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                     content_type="application/json"), routing_key=queue.name)

        t0 = time.time()
        await asyncio.gather(*(publish(i) for i in range(args.n)))
        await asyncio.wait_for(done.wait(), args.timeout)
        rate = args.n / (time.time() - t0)
        await queue.delete(if_unused=False, if_empty=False)
        return rate, latencies
    finally:
        await connection.close()
        await mongo.drop_database(f"{prefix}_raw")
        await mongo.close()


def start(tag: str, names: tuple[str, ...], tree: Path = ROOT) -> tuple[str, str, dict[str, Service]]:
    """Start ``names`` as processes with fresh database/queue names and a fresh secret; logs in $TMPDIR."""
    prefix = tag + secrets.token_hex(3)
    secret = secrets.token_urlsafe(48)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / prefix
    log_dir.mkdir(parents=True, exist_ok=True)
    return prefix, secret, {name: Service(name, prefix, secret, log_dir, tree=tree) for name in names}


async def measure_ours(args: argparse.Namespace, label: str, tree: Path) -> dict[str, object]:
    """Ours from the checkout in ``tree``: sustained events/s, latencies, paced p99, RSS."""
    prefix, secret, services = start("bench", ("activities", "notifications"), tree)
    found: dict[str, object] = {"label": label, "prefix": prefix}
    try:
        for service in services.values():
            await asyncio.to_thread(service.wait_ready)
        await asyncio.sleep(2)
        rest = {name: rss_mib(s.process.pid) for name, s in services.items()}
        print(f"# ours at {label} ({tree}), N={args.n}, concurrency={args.concurrency}, prefix {prefix}")
        rate, to_subscriber, to_inbox = await ours(args, prefix, secret, services)
        found["rate"] = rate
        print(f"ours:    {rate:8.1f} events/s sustained (HTTP accept of the first → inbox write of the last)")
        print(summary("  accept → outside subscriber", to_subscriber))
        print(summary("  accept → inbox write", to_inbox))
        load = dict(args.rss_load)
        if args.paced and rate > 0:
            half = rate / 2
            _, paced_sub, paced_inbox = await ours(args, prefix, secret, services, rate=half)
            print(f"paced at {half:.1f} events/s (half the sustained rate):")
            print(summary("  accept → outside subscriber", paced_sub))
            print(summary("  accept → inbox write", paced_inbox))
            found["paced p99"] = pct([v * 1000 for v in paced_inbox], 99)
            print(f"  p99 accept → inbox write {found['paced p99']:.1f} ms (target < 100 ms)")
        for name in services:
            print(f"RSS {name:<14} at rest {rest[name]:6.1f} MiB, under load {load.get(name, float('nan')):6.1f} MiB")
        return found
    finally:
        for service in services.values():
            service.stop()
        remove(prefix, MONGODB)


async def main(args: argparse.Namespace) -> None:
    global MONGODB
    store = None
    if args.own_store:  # the shared store also serves whoever else is testing: a store of our own
        store = Store(Path(tempfile.mkdtemp(prefix="sinergi-pipeline-")))
        MONGODB = store.url
    prefix = "bench" + secrets.token_hex(3)
    try:
        results = [await measure_ours(args, *checkout(ref)) for ref in args.at]
        raw_rate, raw_latency = await ceiling(args, prefix)
        print(f"ceiling: {raw_rate:8.1f} events/s (raw aio-pika confirms+persistent → PyMongo insert)")
        print(summary("  publish → stored", raw_latency))
        # One same-work ceiling per count: each checkout is compared with the work it does itself.
        files = args.same_work or [None]
        counts = [json.loads(Path(f).read_text()) if f else SAME_WORK for f in files]
        same: dict[int, tuple[float, int]] = {}
        for n, count in enumerate(counts):
            same_rate, same_latency, commands = await same_work(args, f"{prefix}{n}", count, MONGODB)
            same[n] = (same_rate, commands)
            print(f"same-work ceiling: {same_rate:8.1f} events/s ({commands} store commands and one publish an "
                  f"event, by hand, no framework{'; ' + files[n] if files[n] else ''})")
            print(summary("  request → stored", same_latency))
        for n, found in enumerate(results):
            rate = float(found["rate"])  # type: ignore[arg-type]
            same_rate, commands = same[min(n, len(counts) - 1)]
            print(f"{found['label']}: {rate:.1f} events/s; ratio ours/ceiling {rate / raw_rate:.2f} (target ≥ 0.5), "
                  f"ours/same-work ceiling ({commands} commands) {rate / same_rate:.2f} (target ≥ 0.7)"
                  + (f"; paced p99 {found['paced p99']:.1f} ms" if "paced p99" in found else ""))
        if len(results) == 2 and results[0]["rate"]:
            print(f"{results[1]['label']} / {results[0]['label']}: "
                  f"{float(results[1]['rate']) / float(results[0]['rate']):.2f}× the events/s")  # type: ignore[arg-type]
    finally:
        remove(prefix, MONGODB)
        if store is not None:
            store.stop()
            shutil.rmtree(store.data.parent, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="activity transitions (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP requests in flight (default 8)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the last event")
    parser.add_argument("--same-work", nargs="+", help="JSON counts of store commands per event (bench/costs.py "
                        "--write), one per --at in its order (or one for all), for the same-work ceiling "
                        "(default: SAME_WORK)")
    parser.add_argument("--at", nargs="+", default=["work"],
                        help="checkouts to measure ours at, one after another: commits (a detached worktree each, "
                             "bench/costs.py) or 'work' (this tree; the default), e.g. --at 32ce6d5 HEAD")
    parser.add_argument("--own-store", action="store_true",
                        help="run on a store of its own (a fresh sinergi-store on a free port), not the shared one")
    parser.add_argument("--paced", action="store_true", help="also run at half the sustained rate")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the HTTP client's library (httpx: as measured before 2026-12-07, night)")
    asyncio.run(main(parser.parse_args()))
