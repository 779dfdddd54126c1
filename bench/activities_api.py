"""Benchmark of the activities API: 5,000 activities through their life cycle, then the figures.

Manual, not part of the test suite. Against a running service::

    SINERGI_AUTH_SECRET=... .venv/bin/python bench/activities_api.py --url http://127.0.0.1:8102

or let it start one of its own (its own database and queue names, so nothing else is touched)::

    .venv/bin/python bench/activities_api.py --spawn

Phases: plan (POST /activities), schedule, hold (or cancel, one in ten), report; then reads
(GET one, a filtered list), coverage right after a write (the database aggregates: "cold"),
coverage again with nothing changed (served from the cache: "warm"), and the XLSX report.
Each phase prints requests/s (requests over the phase's wall time, at the given concurrency)
and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import remove  # noqa: E402
from bench.server import spawn  # noqa: E402
from shared.auth import mint  # noqa: E402
from shared.serve import PORTS  # noqa: E402

DIRECT = ["forum_warga", "diskusi", "seminar", "talkshow", "simulasi_pemungutan", "goes_to_school",
          "goes_to_campus", "pentas_seni", "tatap_muka", "door_to_door"]
MEDIA = ["radio", "televisi", "media_sosial", "media_online", "konten_kreatif"]
SEGMENTS = ["pemilih_pemula", "pemilih_muda", "perempuan", "disabilitas", "marjinal", "komunitas", "keagamaan",
            "warga_internet", "lansia", "umum"]
GROUPS = ["segment", "format", "partner", "district", "month"]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0

    def line(self) -> str:
        n = len(self.latencies)
        if not n:
            return f"{self.name:28} {'-':>7}"
        ordered = sorted(self.latencies)
        p99 = ordered[min(n - 1, int(n * 0.99))]
        return (f"{self.name:28} {n:7d} {self.errors:6d} {n / self.wall:9.1f} "
                f"{statistics.median(ordered) * 1000:9.1f} {p99 * 1000:9.1f}")


async def run_phase(name: str, jobs: list[Callable[[], Awaitable[httpx.Response]]], concurrency: int,
                    ok: tuple[int, ...] = (200, 201)) -> Phase:
    phase = Phase(name)
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            job = queue.pop()
            started = time.perf_counter()
            try:
                response = await job()
                if response.status_code not in ok:
                    phase.errors += 1
                    if phase.errors <= 3:
                        print(f"  {name}: {response.status_code} {response.text[:200]}", file=sys.stderr)
            except httpx.HTTPError as exc:
                phase.errors += 1
                print(f"  {name}: {exc!r}", file=sys.stderr)
            phase.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = time.perf_counter() - started
    print(phase.line(), flush=True)
    return phase


def body(rng: random.Random, n: int) -> dict[str, object]:
    direct = rng.random() < 0.75
    return {
        "title": f"Bench kegiatan {n}",
        "kind": rng.choice(["sosialisasi", "pendidikan_pemilih"]),
        "election": "pilkada-2024",
        "stage": "kampanye",
        "topics": rng.sample(["tahapan", "tata_cara_memilih", "anti_politik_uang", "anti_hoaks"], 2),
        "method": "langsung" if direct else "tidak_langsung",
        "format": rng.choice(DIRECT if direct else MEDIA),
        "segments": rng.sample(SEGMENTS, rng.randint(1, 3)),
        "location": {"district": f"32.73.{rng.randint(1, 30):02d}", "venue": "Balai warga"} if direct else None,
        "planned_reach": rng.randint(20, 500),
    }


async def bench(url: str, token: str, count: int, concurrency: int) -> None:
    rng = random.Random(2024)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        print(f"activities API at {url}: {count} activities, concurrency {concurrency}\n")
        print(f"{'operation':28} {'requests':>7} {'errors':>6} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
        ids: list[str] = []

        def create(n: int) -> Callable[[], Awaitable[httpx.Response]]:
            async def job() -> httpx.Response:
                response = await client.post("/activities", json=body(rng, n))
                if response.status_code == 201:
                    ids.append(response.json()["id"])
                return response
            return job

        await run_phase("POST /activities", [create(n) for n in range(count)], concurrency)
        season = datetime(2024, 9, 25, 2, tzinfo=UTC)

        def schedule(activity_id: str) -> Callable[[], Awaitable[httpx.Response]]:
            start = season + timedelta(days=rng.randint(0, 58), hours=rng.randint(0, 10))
            payload = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}
            return lambda: client.post(f"/activities/{activity_id}/schedule", json=payload)

        keep_planned = ids[:20]  # edited between coverage queries below
        moving = ids[20:]
        await run_phase("POST .../schedule", [schedule(i) for i in moving], concurrency)
        cancelled = set(moving[::10])
        held = [i for i in moving if i not in cancelled]
        await run_phase("POST .../cancel", [lambda i=i: client.post(f"/activities/{i}/cancel",
                                                                   json={"reason": "Ditunda"}) for i in cancelled],
                        concurrency)
        await run_phase("POST .../hold", [lambda i=i: client.post(f"/activities/{i}/hold") for i in held],
                        concurrency)

        def report(activity_id: str) -> Callable[[], Awaitable[httpx.Response]]:
            total = rng.randint(10, 400)
            payload = {"attendance_total": total, "women": rng.randint(0, total), "disabled": rng.randint(0, 5),
                       "attendance_by_segment": {rng.choice(SEGMENTS): rng.randint(0, total)}}
            return lambda: client.post(f"/activities/{activity_id}/report", json=payload)

        await run_phase("POST .../report", [report(i) for i in held], concurrency)

        await run_phase("GET /activities/{id}", [lambda i=i: client.get(f"/activities/{i}")
                                                 for i in rng.sample(ids, min(500, len(ids)))], concurrency)
        await run_phase("GET /activities?status&segment",
                        [lambda: client.get("/activities", params={"status": "reported", "segment": "perempuan",
                                                                   "limit": 50}) for _ in range(20)],
                        min(concurrency, 4))

        cold = Phase("GET /stats/coverage (cold)")
        warm = Phase("GET /stats/coverage (warm)")
        started = time.perf_counter()
        for round_ in range(10):
            # a write makes the figures stale: the next query aggregates in the database
            await client.patch(f"/activities/{keep_planned[round_]}", json={"planned_reach": 1000 + round_})
            for group_by in GROUPS:
                target = cold if group_by == GROUPS[0] else warm
                t = time.perf_counter()
                response = await client.get("/stats/coverage", params={"election": "pilkada-2024",
                                                                       "group_by": group_by})
                target.latencies.append(time.perf_counter() - t)
                target.errors += response.status_code != 200
        cold.wall = sum(cold.latencies)
        warm.wall = sum(warm.latencies)
        print(cold.line())
        print(warm.line())
        totals = response.json()["totals"]
        print(f"{'':28} (figures: {totals['activities']} activities, {totals['by_status']['reported']} reported,"
              f" {totals['attendance']} attendance; {time.perf_counter() - started:.1f} s)")
        await run_phase("GET /reports/activities xlsx",
                        [lambda: client.get("/reports/activities", params={"election": "pilkada-2024",
                                                                           "format": "xlsx"})], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{PORTS['activities']}", help="a running activities service")
    parser.add_argument("--spawn", action="store_true", help="start a service of its own instead (own databases)")
    parser.add_argument("--count", type=int, default=5000, help="activities to create (default 5000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--sweep-seconds", type=float, default=None,
                        help="with --spawn: SINERGI_OUTBOX_SWEEP_SECONDS of the service (default: its default)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the spawned service is stopped too
    secret = os.environ.get("SINERGI_AUTH_SECRET")
    if not secret:
        secret = secrets.token_urlsafe(48) if args.spawn else (ROOT / ".sinergi" / "secret").read_text().strip()
    process = None
    url = args.url
    prefix = f"bench{secrets.token_hex(3)}"
    if args.spawn:
        sweep = {} if args.sweep_seconds is None else {"SINERGI_OUTBOX_SWEEP_SECONDS": str(args.sweep_seconds)}
        process, url = spawn("activities", secret, prefix, **sweep)
    try:
        token = mint(secret, sub="bench", role="operator", regions=["32.73"], ttl=timedelta(hours=6))
        asyncio.run(bench(url, token, args.count, args.concurrency))
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            remove(prefix)




if __name__ == "__main__":
    main()
