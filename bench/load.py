"""Load: 50 concurrent clients for 60 s against partners reads and activity writes, checkouts side by side.

Manual, not part of the test suite. One command; for each checkout of ``--at`` (a commit, checked
out once as a detached worktree by ``bench.server.checkout``; ``work`` is this work tree), one
after another, it starts that checkout's partners and activities processes (unique names, free
ports) on the shared RabbitMQ and on the store (the shared one, or one of its own with
``--own-store``)::

    .venv/bin/python bench/load.py --clients 50 --duration 60 --at 32ce6d5 HEAD --own-store

Half the clients read partners (a filtered list, then one partner), half write activities
(plan one, then schedule it); each client sends a request once it has its last answer, on a
connection of its own. Prints, per checkout, kind and overall: requests, errors (any status
other than the expected one, or a transport error; must be 0), requests/s and p50/p99 latency.

The clients are aiohttp's (``--client httpx`` for httpx's, as before 2026-12-07): on this 2-core
machine the load and the services share the cores, and httpx's pool of 50 connections took ~0.75
of a core by itself at ~250 requests/s, and its own queueing showed as the services' latency
(docs/performance.md). ``--profile FILE`` instead profiles the hottest write path (plan +
schedule an activity) in this process with pyinstrument, the service app driven through httpx's
ASGI transport, and writes the HTML profile to FILE and a text summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench.pipeline as pipeline  # noqa: E402
from bench.clients import Clients  # noqa: E402
from bench.leftovers import remove  # noqa: E402
from bench.pipeline import REGION, pct, start  # noqa: E402
from bench.server import Store, checkout  # noqa: E402
from shared.auth import mint  # noqa: E402

async def measure(args: argparse.Namespace, label: str, tree: Path) -> dict[str, float]:
    """The load against ``tree``'s services; prints its table and returns overall req/s and p99."""
    prefix, secret, services = start("load", ("partners", "activities"), tree)
    headers = {"Authorization": f"Bearer {mint(secret, sub='load', role='operator', regions=[REGION])}"}
    clients: Clients | None = None
    try:
        for service in services.values():
            await asyncio.to_thread(service.wait_ready)
        clients = Clients(args.client, {name: s.url for name, s in services.items()}, headers, args.clients)
        partners, activities = clients.send("partners"), clients.send("activities")
        ids = []
        for i in range(50):
            status, made = await partners("POST", "/partners",
                                          {"name": f"KIM Beban {i}", "type": "kim", "region": REGION})
            if status != 201:
                raise SystemExit(f"{label}: registering a partner answered {status}: {made}")
            ids.append(made["id"])
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        samples: dict[str, str] = {}
        stop = time.monotonic() + args.duration

        async def call(kind: str, request: Awaitable[tuple[int, Any]], expected: int) -> Any:
            started = time.perf_counter()
            try:
                status, answer = await request
            except clients.errors as exc:  # type: ignore[union-attr, misc]
                errors[kind] += 1
                samples.setdefault(kind, repr(exc))
                return None
            latencies[kind].append(time.perf_counter() - started)
            if status != expected:
                errors[kind] += 1
                samples.setdefault(kind, f"{status} {str(answer)[:200]}")
                return None
            return answer

        async def reader(n: int) -> None:
            i = n
            while time.monotonic() < stop:
                i += 1
                await call("GET /partners?type=kim",
                           partners("GET", "/partners", None, {"type": "kim", "limit": "20"}), 200)
                await call("GET /partners/{id}", partners("GET", f"/partners/{ids[i % len(ids)]}", None, None), 200)

        async def writer(n: int) -> None:
            i = 0
            start = datetime.now(UTC) + timedelta(days=20)
            while time.monotonic() < stop:
                i += 1
                created = await call("POST /activities", activities("POST", "/activities", {
                    "title": f"Forum warga {n}-{i}", "kind": "sosialisasi", "election": "pilkada-2024",
                    "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]}, None), 201)
                if created is not None:
                    when = start + timedelta(minutes=i)
                    await call("POST /activities/{id}/schedule", activities(
                        "POST", f"/activities/{created['id']}/schedule",
                        {"starts_at": when.isoformat(), "ends_at": (when + timedelta(hours=1)).isoformat()}, None), 200)

        t0 = time.monotonic()
        await asyncio.gather(*(reader(n) if n % 2 == 0 else writer(n) for n in range(args.clients)))
        wall = time.monotonic() - t0
        print(f"# load at {label}: {args.clients} {args.client} clients for {args.duration:.0f} s "
              f"(wall {wall:.1f} s), prefix {prefix}, load average before {args.load:.1f}")
        total = 0
        for kind, values in latencies.items():
            total += len(values)
            ms = [v * 1000 for v in values]
            print(f"{kind:<32} requests={len(values):>6}  errors={errors[kind]:>4}  {len(values) / wall:7.1f} req/s"
                  f"  p50={pct(ms, 50):7.1f} ms  p99={pct(ms, 99):7.1f} ms")
        every = [v * 1000 for values in latencies.values() for v in values]
        found = {"req/s": total / wall, "p99": pct(every, 99), "errors": sum(errors.values())}
        print(f"{'all':<32} requests={total:>6}  errors={found['errors']:>4}  {found['req/s']:7.1f} req/s"
              f"  p99={found['p99']:7.1f} ms", flush=True)
        for kind, sample in samples.items():
            print(f"  first error of {kind}: {sample}")
        return found
    finally:
        if clients is not None:
            await clients.close()
        for service in services.values():
            service.stop()
        remove(prefix, pipeline.MONGODB)


async def run(args: argparse.Namespace) -> None:
    store = None
    if args.own_store:  # the shared store also serves whoever else is testing: a store of our own
        store = Store(Path(tempfile.mkdtemp(prefix="sinergi-load-")))
        pipeline.MONGODB = store.url
    try:
        results = []
        for ref in args.at:
            label, tree = checkout(ref)
            args.load = os.getloadavg()[0]
            results.append((label, await measure(args, label, tree)))
        if len(results) > 1:
            (base_label, base), *rest = results
            for label, head in rest:
                print(f"# {label} / {base_label}: {head['req/s'] / base['req/s']:.2f}x the requests/s, "
                      f"p99 {base['p99']:.0f} → {head['p99']:.0f} ms (target < 1000 ms, no errors: "
                      f"{head['errors']:.0f} errors)")
    finally:
        if store is not None:
            store.stop()


async def profile(args: argparse.Namespace) -> None:
    import importlib

    from pyinstrument import Profiler

    from shared.settings import Settings

    prefix = "prof" + secrets.token_hex(3)
    secret = secrets.token_urlsafe(48)
    settings = Settings(region=REGION, rabbitmq_url=os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
                        mongodb_url=os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/"),
                        auth_secret=secret, db_prefix=f"{prefix}_", bus_prefix=f"{prefix}.", log_level="warning")
    from tests.bus import declare_exchanges

    await declare_exchanges(settings)  # in production the consumers' services declare it
    app = importlib.import_module("services.activities.main").build(settings)
    headers = {"Authorization": f"Bearer {mint(secret, sub='prof', role='operator', regions=[REGION])}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://activities", headers=headers) as client:
            start = datetime.now(UTC) + timedelta(days=20)
            profiler = Profiler(async_mode="enabled", interval=0.0005)
            profiler.start()
            t0 = time.perf_counter()
            for i in range(args.requests):
                created = await client.post("/activities", json={
                    "title": f"Forum warga {i}", "kind": "sosialisasi", "election": "pilkada-2024",
                    "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]})
                when = start + timedelta(minutes=i)
                await client.post(f"/activities/{created.json()['id']}/schedule",
                                  json={"starts_at": when.isoformat(), "ends_at": (when + timedelta(hours=1)).isoformat()})
            wall = time.perf_counter() - t0
            profiler.stop()
    Path(args.profile).write_text(profiler.output_html())
    print(f"# profile: {args.requests} plan+schedule pairs one after another, {wall / args.requests * 1000:.1f} ms a pair")
    session = profiler.last_session
    print(f"# wall {session.duration:.1f} s, CPU {session.cpu_time:.1f} s: the rest is waiting on the store and broker")
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    remove(prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--at", nargs="+", default=["work"],
                        help="checkouts to measure one after another: commits, or 'work' for this work tree")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the clients' HTTP library (httpx: as measured before 2026-12-07)")
    parser.add_argument("--own-store", action="store_true", help="a store of its own on a free port (its CPU theirs)")
    parser.add_argument("--profile", help="profile the activity write path in-process; write the HTML here")
    parser.add_argument("--requests", type=int, default=100, help="with --profile: plan+schedule pairs")
    options = parser.parse_args()
    asyncio.run(profile(options) if options.profile else run(options))
