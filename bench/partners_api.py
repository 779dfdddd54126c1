"""Benchmark of the partners API: register 10,000 partners over HTTP, then query them.

Manual, not part of the test suite. By default it starts a service of its own on the store
and broker of ``SINERGI_MONGODB_URL`` / ``SINERGI_RABBITMQ_URL``, with its own database and
exchange names, removed at the end (``--keep`` keeps them)::

    .venv/bin/python bench/partners_api.py [--count 10000] [--concurrency 16]

or measures a running service (its database named with ``--db``, for the size figures)::

    SINERGI_AUTH_SECRET=... .venv/bin/python bench/partners_api.py --url http://127.0.0.1:8101

The spawned service takes its other settings from the environment, e.g.
``SINERGI_OUTBOX_SWEEP_SECONDS``.

Phases: POST /partners (registration: a name claim, the partner and its outbox entry),
GET one by id, the list filtered by segment, search by name (``q``: a literal,
case-insensitive substring), the same two with a second filter, and the whole registry as
CSV. Each prints requests, errors, requests/s (over the phase's wall time, at the given
concurrency) and p50/p99 latency; then the machine, the store and ``dbStats`` of the
partners database. The list filters scan on FerretDB/SQLite (it indexes only ``_id``); the
indexes the service creates serve them on MongoDB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.leftovers import remove  # noqa: E402
from bench.server import describe, spawn  # noqa: E402
from shared.auth import mint  # noqa: E402

TYPES = ["kim", "ormas_komunitas", "media", "sekolah", "keagamaan", "perguruan_tinggi", "opd_lain", "relawan"]
SEGMENTS = ["keluarga", "pemilih_pemula", "pemilih_muda", "perempuan", "disabilitas", "marjinal", "komunitas",
            "keagamaan", "warga_internet", "pelajar", "lansia", "umum"]
CATEGORIES = ["kepemudaan", "seni", "budaya", "pendidikan", "keagamaan", "media", "sosial", "olahraga"]
WORDS = ["Karang Taruna", "Komunitas Seni", "KIM", "Sanggar", "Majelis Taklim", "Forum Warga", "Radio Komunitas",
         "Paguyuban", "Relawan", "Ikatan Remaja"]
PLACES = ["Coblong", "Sukajadi", "Antapani", "Cibiru", "Lengkong", "Regol", "Andir", "Cicendo", "Arcamanik",
          "Buahbatu", "Gedebage", "Ujungberung", "Kiaracondong", "Rancasari", "Batununggal"]

Job = Callable[[], Awaitable[httpx.Response]]


@dataclass
class Phase:
    name: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0

    def report(self) -> str:
        if not self.seconds:
            return f"{self.name:34} {'none':>8}"
        ordered = sorted(self.seconds)
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (f"{self.name:34} {len(ordered):8d} {self.errors:6d} {len(ordered) / self.wall:8.1f} "
                f"{p50 * 1000:8.1f} {p99 * 1000:8.1f}")


async def measure(name: str, jobs: list[Job], concurrency: int) -> Phase:
    """Run ``jobs`` with ``concurrency`` in flight; print and return the phase's figures."""
    phase = Phase(name)
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            began = time.perf_counter()
            try:
                response = await job()
                failed = response.status_code >= 300
                if failed and phase.errors < 3:
                    print(f"  {name}: {response.status_code} {response.text[:200]}", file=sys.stderr)
            except httpx.HTTPError as exc:
                failed = True
                print(f"  {name}: {exc!r}", file=sys.stderr)
            phase.errors += failed
            phase.seconds.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = time.perf_counter() - began
    print(phase.report(), flush=True)
    return phase


def partner(rng: random.Random, n: int) -> dict[str, object]:
    place = rng.choice(PLACES)
    return {
        "name": f"{rng.choice(WORDS)} {place} {n:05d}",
        "type": rng.choice(TYPES),
        "district": f"32.73.{rng.randint(1, 30):02d}",
        "categories": rng.sample(CATEGORIES, rng.randint(1, 2)),
        "segments": rng.sample(SEGMENTS, rng.randint(1, 3)),
        "contacts": [{"name": f"Ketua {n}", "role": "Ketua", "phone": f"0812{n:08d}",
                      "email": f"mitra{n}@bench.example"}],
        "channels": [{"kind": "instagram", "handle_or_url": f"@mitra{n}", "audience_size": rng.randint(50, 20_000)}],
    }


async def bench(url: str, token: str, count: int, concurrency: int) -> None:
    rng = random.Random(3273)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300,
                                 limits=limits) as client:
        tuned = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("SINERGI_") and "SECRET" not in k]
        print(f"partners API at {url}: {count:,} partners, concurrency {concurrency}"
              f"{'; ' + ', '.join(tuned) if tuned else ''}\n")
        print(f"{'operation':34} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        ids: list[str] = []

        def register(n: int) -> Job:
            async def job() -> httpx.Response:
                response = await client.post("/partners", json=partner(rng, n))
                if response.status_code == 201:
                    ids.append(response.json()["id"])
                return response
            return job

        await measure("POST /partners", [register(n) for n in range(count)], concurrency)
        reads = min(concurrency, 8)
        await measure("GET /partners/{id}", [lambda i=i: client.get(f"/partners/{i}")
                                             for i in rng.sample(ids, min(500, len(ids)))], reads)
        await measure("GET /partners?segment=", [lambda s=s: client.get("/partners", params={"segment": s})
                                                 for s in SEGMENTS * 10], reads)
        await measure("GET /partners?segment=&type=", [
            lambda s=s: client.get("/partners", params={"segment": s, "type": rng.choice(TYPES)})
            for s in SEGMENTS * 5], reads)
        await measure("GET /partners?q= (one name)", [
            lambda n=n: client.get("/partners", params={"q": f"{n:05d}"}) for n in rng.sample(range(count), 100)],
            reads)
        await measure("GET /partners?q= (a place)", [lambda p=p: client.get("/partners", params={"q": p.lower()})
                                                     for p in PLACES * 6], reads)
        await measure("GET /partners/export (csv)", [lambda: client.get("/partners/export")], 1)


def store_figures(mongodb_url: str, database: str) -> None:
    from pymongo import MongoClient

    client = MongoClient(mongodb_url, serverSelectionTimeoutMS=3000)
    try:
        info = client.admin.command("buildInfo")
        store = describe(info)
        stats = client[database].command("dbStats")
        partners = client[database]["partners"].estimated_document_count()
        indexes = sorted(client[database]["partners"].index_information())
    finally:
        client.close()
    mib = 1024 * 1024
    print(f"\nstore: {store}; database {database}: {partners:,} partners, {stats['objects']:,} documents in "
          f"{stats['collections']} collections")
    print(f"dbStats: dataSize {stats['dataSize'] / mib:.1f} MiB, storageSize {stats['storageSize'] / mib:.1f} MiB, "
          f"indexSize {stats['indexSize'] / mib:.1f} MiB ({stats['indexes']} indexes), "
          f"totalSize {stats.get('totalSize', stats['storageSize'] + stats['indexSize']) / mib:.1f} MiB, "
          f"avgObjSize {stats['avgObjSize']:,.0f} B")
    print(f"partners indexes: {', '.join(indexes)}")


def machine() -> str:
    memory = "?"
    try:
        total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        memory = f"{int(total.split()[1]) / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {memory} RAM, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running partners service (default: start one of its own)")
    parser.add_argument("--db", default="sinergi_partners", help="its database, for dbStats (with --url)")
    parser.add_argument("--keep", action="store_true", help="keep the database and exchanges of the service it "
                                                            "started")
    parser.add_argument("--count", type=int, default=10_000, help="partners to register (default 10000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    args = parser.parse_args()
    # A SIGTERM ends the run through ``finally``: the service it started is stopped and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mongodb_url = os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/")
    rabbitmq_url = os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    spawning = args.url is None
    secret = os.environ.get("SINERGI_AUTH_SECRET")
    if not secret:
        secret = secrets.token_urlsafe(48) if spawning else (ROOT / ".sinergi" / "secret").read_text().strip()
    prefix = f"bench{secrets.token_hex(3)}"
    process, url, database = None, args.url, args.db
    if spawning:
        process, url = spawn("partners", secret, prefix)
        database = f"{prefix}_partners"
    try:
        token = mint(secret, sub="bench", role="operator", regions=["32.73"], ttl=timedelta(hours=6))
        asyncio.run(bench(url, token, args.count, args.concurrency))
        store_figures(mongodb_url, database)
        print(f"machine: {machine()}")
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)
            if not args.keep:
                remove(prefix, mongodb_url, rabbitmq_url)


if __name__ == "__main__":
    main()
