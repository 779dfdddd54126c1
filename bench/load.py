"""Load: 50 concurrent clients for 60 s against partners reads and activity writes.

Manual, not part of the test suite. One command; it starts its own partners and activities
processes (unique names, free ports) on the shared RabbitMQ and store::

    .venv/bin/python bench/load.py --clients 50 --duration 60

Half the clients read partners (a filtered list, then one partner), half write activities
(plan one, then schedule it). Prints, per kind and overall: requests, errors (any status other
than the expected one, or a transport error; must be 0), requests/s and p50/p99 latency.
``--profile FILE`` instead profiles the hottest write path (plan + schedule an activity) in this
process with pyinstrument, the service app driven through httpx's ASGI transport, and writes the
HTML profile to FILE and a text summary to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import REGION, pct, start  # noqa: E402
from bench.leftovers import remove  # noqa: E402
from shared.auth import mint  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    prefix, secret, services = start("load", ("partners", "activities"))
    headers = {"Authorization": f"Bearer {mint(secret, sub='load', role='operator', regions=[REGION])}"}
    try:
        for service in services.values():
            await asyncio.to_thread(service.wait_ready)
        partners = httpx.AsyncClient(base_url=services["partners"].url, headers=headers, timeout=30,
                                     limits=httpx.Limits(max_connections=args.clients))
        activities = httpx.AsyncClient(base_url=services["activities"].url, headers=headers, timeout=30,
                                       limits=httpx.Limits(max_connections=args.clients))
        ids = []
        for i in range(50):
            response = await partners.post("/partners", json={"name": f"KIM Beban {i}", "type": "kim", "region": REGION})
            response.raise_for_status()
            ids.append(response.json()["id"])
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        samples: dict[str, str] = {}
        stop = time.monotonic() + args.duration

        async def call(kind: str, request, expected: int):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            try:
                response = await request
            except httpx.HTTPError as exc:
                errors[kind] += 1
                samples.setdefault(kind, repr(exc))
                return None
            latencies[kind].append(time.perf_counter() - started)
            if response.status_code != expected:
                errors[kind] += 1
                samples.setdefault(kind, f"{response.status_code} {response.text[:200]}")
                return None
            return response

        async def reader(n: int) -> None:
            i = n
            while time.monotonic() < stop:
                i += 1
                await call("GET /partners?type=kim", partners.get("/partners", params={"type": "kim", "limit": 20}), 200)
                await call("GET /partners/{id}", partners.get(f"/partners/{ids[i % len(ids)]}"), 200)

        async def writer(n: int) -> None:
            i = 0
            start = datetime.now(UTC) + timedelta(days=20)
            while time.monotonic() < stop:
                i += 1
                created = await call("POST /activities", activities.post("/activities", json={
                    "title": f"Forum warga {n}-{i}", "kind": "sosialisasi", "election": "pilkada-2024",
                    "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]}), 201)
                if created is not None:
                    when = start + timedelta(minutes=i)
                    await call("POST /activities/{id}/schedule", activities.post(
                        f"/activities/{created.json()['id']}/schedule",
                        json={"starts_at": when.isoformat(), "ends_at": (when + timedelta(hours=1)).isoformat()}), 200)

        t0 = time.monotonic()
        await asyncio.gather(*(reader(n) if n % 2 == 0 else writer(n) for n in range(args.clients)))
        wall = time.monotonic() - t0
        print(f"# load: {args.clients} clients for {args.duration:.0f} s (wall {wall:.1f} s), prefix {prefix}")
        total = 0
        for kind, values in latencies.items():
            total += len(values)
            ms = [v * 1000 for v in values]
            print(f"{kind:<32} requests={len(values):>6}  errors={errors[kind]:>4}  {len(values) / wall:7.1f} req/s"
                  f"  p50={pct(ms, 50):7.1f} ms  p99={pct(ms, 99):7.1f} ms")
        every = [v * 1000 for values in latencies.values() for v in values]
        print(f"{'all':<32} requests={total:>6}  errors={sum(errors.values()):>4}  {total / wall:7.1f} req/s"
              f"  p99={pct(every, 99):7.1f} ms")
        for kind, sample in samples.items():
            print(f"  first error of {kind}: {sample}")
        await partners.aclose()
        await activities.aclose()
    finally:
        for service in services.values():
            service.stop()
        remove(prefix)


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
    parser.add_argument("--profile", help="profile the activity write path in-process; write the HTML here")
    parser.add_argument("--requests", type=int, default=100, help="with --profile: plan+schedule pairs")
    options = parser.parse_args()
    asyncio.run(profile(options) if options.profile else run(options))
