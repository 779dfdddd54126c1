"""What one request and one event cost: store round trips and CPU of each process, two checkouts side by side.

Manual, not part of the test suite. One command from the repository root::

    .venv/bin/python bench/costs.py [--base 32ce6d5] [--head HEAD] [--rounds 5] [--k 8]

For each of ``--base`` and ``--head`` (a commit, checked out once as a detached worktree under
/tmp/sinergi-<sha>, never touching this work tree, kept for the next run: ``git worktree remove``
it when done; ``work`` measures this work tree as it is) it
starts the three services from that checkout with this venv, all on **a store of its own** (this
machine's ``.sinergi/bin/sinergi-store`` on a free port, a temporary data directory), so the
store's CPU is theirs alone; RabbitMQ is the shared one (own vhost objects by prefix). Round trips
are counted from outside the services' code: ``bench/hook/sitecustomize.py`` on ``PYTHONPATH``
installs a PyMongo ``CommandListener`` in each child process (the embedded FerretDB does not
expose its Prometheus metrics: ``ferretdb.New`` keeps them private and starts no debug handler).

Steps, in ``--rounds`` rounds, the two checkouts interleaved round by round (same noise for both):
``POST /partners``, ``GET /partners?type=kim&limit=20`` (at ~150 + partners, seeded first),
``POST /activities``, and ``POST /activities/{id}/schedule`` (one ``activity.scheduled`` through
the relay to the notifications service and a staff inbox). Each step sends ``--k`` requests one
after another, back to back, then waits until no process sends a store command for 0.5 s (the
relay's and the consumers' work for them is in); then ``--k`` more, each *settled*: sent once the
previous one's work is done, as a staff member's next request usually is. Printed per step: p50
latency back to back and settled, store round trips per request (of the back-to-back ones) split
into the request itself, the relay's and the other services' (consumers), and CPU ms per request
of each process (``/proc/<pid>/stat`` utime+stime; 10 ms ticks, hence the rounds of ``k``); each
the median over the rounds. Back to back, a request shares the 2 cores with the previous ones'
consumers. The machine is shared: compare the ratios. Requests go through aiohttp's client
(``--client httpx``: as before 2026-12-07, night; httpx's own ~1 ms a request was in every p50).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.clients import Answer, Clients  # noqa: E402
from bench.leftovers import remove_broker_objects  # noqa: E402
from bench.server import Store, checkout, free_port, ready  # noqa: E402
from shared.auth import mint  # noqa: E402

RABBITMQ = os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REGION = "32.73"
HOOK = ROOT / "bench" / "hook"
TICK = os.sysconf("SC_CLK_TCK")
SERVICES = ("partners", "activities", "notifications")
TYPES = ["kim", "ormas_komunitas", "media", "sekolah", "keagamaan", "perguruan_tinggi", "opd_lain", "relawan"]
QUIET = 0.5


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    counts: Path

    def counted(self) -> Counter[str]:
        try:
            return Counter(json.loads(self.counts.read_text()))
        except (OSError, ValueError):
            return Counter()


@dataclass
class Side:
    label: str
    tree: Path
    prefix: str
    secret: str
    k: int = 8
    services: dict[str, Service] = field(default_factory=dict)
    figures: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    breakdown: dict[str, Counter[str]] = field(default_factory=dict)

    def start(self, store: Store, base: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
        for name in SERVICES:
            counts = base / self.prefix / name
            counts.mkdir(parents=True)
            port = free_port()
            env.update({
                "PYTHONPATH": f"{self.tree}{os.pathsep}{HOOK}", "SINERGI_BENCH_COUNTS": str(counts),
                "SINERGI_REGION": REGION, "SINERGI_RABBITMQ_URL": RABBITMQ, "SINERGI_MONGODB_URL": store.url,
                "SINERGI_AUTH_SECRET": self.secret, "SINERGI_DB_PREFIX": f"{self.prefix}_",
                "SINERGI_BUS_PREFIX": f"{self.prefix}.", "SINERGI_PORT": str(port), "SINERGI_LOG_LEVEL": "warning",
                "SINERGI_SMTP_URL": "smtp://127.0.0.1:1",
                # no timers inside the measured windows: the sweep and the scheduler's poll wait an hour
                "SINERGI_OUTBOX_SWEEP_SECONDS": "3600", "SINERGI_NOTIFY_POLL_SECONDS": "3600",
                # one notification per event (no summary of one actor's burst, issue 14), as before
                "SINERGI_NOTIFY_SUMMARY_WINDOW_SECONDS": "0"})
            log = open(base / f"{self.prefix}-{name}.log", "ab")  # noqa: SIM115
            process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=self.tree, env=dict(env),
                                       stdout=log, stderr=log)
            self.services[name] = Service(name, process, f"http://127.0.0.1:{port}", counts / f"{process.pid}.json")

    def wait_ready(self, timeout: float = 90.0) -> None:
        for service in self.services.values():
            ready(service.url, service.process, f"{self.label}: {service.name} (its log is under $TMPDIR)", timeout)

    def stop(self) -> None:
        for service in self.services.values():
            service.process.terminate()
        for service in self.services.values():
            try:
                service.process.wait(15)
            except subprocess.TimeoutExpired:
                service.process.kill()

    def counted(self) -> dict[str, Counter[str]]:
        return {name: s.counted() for name, s in self.services.items()}

    def cpu(self, store: Store) -> dict[str, float]:
        found = {name: cpu_seconds(s.process.pid) for name, s in self.services.items()}
        found["store"] = cpu_seconds(store.process.pid)
        return found

    async def quiet(self, timeout: float = 30.0) -> None:
        """Until no service of this side sent a store command for ``QUIET`` seconds."""
        last, since = self.counted(), time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            now = self.counted()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= QUIET:
                return


def delta(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before[k] for k in after if after[k] - before[k]})


async def timed(side: Side, name: str, request) -> float:  # noqa: ANN001
    began = time.perf_counter()
    status, answer = await request()
    took = time.perf_counter() - began
    if status >= 300:
        raise SystemExit(f"{side.label}: {name}: {status} {str(answer)[:300]}")
    return took


async def step(side: Side, store: Store, name: str, owner: str, request, k: int) -> None:  # noqa: ANN001
    """``k`` requests one after another, back to back: their latency, store round trips and CPU per request;
    then ``k`` more, each once the previous one's work is done (the relay's, the consumers'): their latency."""
    await side.quiet()
    counts0, cpu0 = side.counted(), side.cpu(store)
    latencies = [await timed(side, name, request) for _ in range(k)]
    await side.quiet()
    counts1, cpu1 = side.counted(), side.cpu(store)
    settled = []
    for _ in range(k):
        settled.append(await timed(side, name, request))
        await side.quiet()
    moved = {svc: delta(counts1[svc], counts0[svc]) for svc in SERVICES}
    own = moved[owner]
    row = {
        "p50 ms": statistics.median(latencies) * 1000,
        "p50 ms settled": statistics.median(settled) * 1000,
        "rt request": sum(v for key, v in own.items() if not key.startswith("relay:")) / k,
        "rt relay": sum(v for key, v in own.items() if key.startswith("relay:")) / k,
        "rt consumers": sum(sum(moved[svc].values()) for svc in SERVICES if svc != owner) / k,
    }
    row["rt all"] = row["rt request"] + row["rt relay"] + row["rt consumers"]
    for proc in (*SERVICES, "store"):
        row[f"cpu {proc}"] = (cpu1[proc] - cpu0[proc]) * 1000 / k
    row["cpu all"] = sum(row[f"cpu {p}"] for p in (*SERVICES, "store"))
    side.figures.setdefault(name, []).append(row)
    every = Counter()
    for svc in SERVICES:
        for key, v in moved[svc].items():
            every[f"{svc}.{key}"] += v
    side.breakdown[name] = side.breakdown.get(name, Counter()) + every


class Client:
    def __init__(self, side: Side, kind: str) -> None:
        headers = {"Authorization": f"Bearer {mint(side.secret, sub='bench', role='admin', regions=[REGION])}"}
        self.clients = Clients(kind, {name: s.url for name, s in side.services.items()}, headers, 1)
        self.http = {name: self.clients.send(name) for name in side.services}
        self.side = side
        self.n = 0
        self.planned: list[str] = []

    def partner(self) -> dict[str, object]:
        self.n += 1
        return {"name": f"KIM Biaya {self.side.prefix} {self.n:05d}", "type": TYPES[self.n % len(TYPES)],
                "segments": ["pemilih_pemula"], "contacts": [{"name": f"Ketua {self.n}", "role": "Ketua",
                                                            "phone": f"0812{self.n:08d}"}]}

    def activity(self) -> dict[str, object]:
        self.n += 1
        return {"title": f"Forum warga {self.n}", "kind": "sosialisasi", "election": "pilkada-2024",
                "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]}

    async def recipient(self) -> str:
        body = {"name": "Bench staff", "kind": "staff", "subscriptions": ["activity.scheduled"]}
        status, made = await self.http["notifications"]("POST", "/recipients", body)
        if status >= 300:  # staff may need an address: the e-mail then fails fast on a closed port
            status, made = await self.http["notifications"]("POST", "/recipients", {**body, "email": "b@example.org"})
        assert status < 300, made
        return "inbox + e-mail" if made.get("email") else "inbox"

    async def post_partner(self) -> Answer:
        return await self.http["partners"]("POST", "/partners", self.partner())

    async def list_kim(self) -> Answer:
        return await self.http["partners"]("GET", "/partners", None, {"type": "kim", "limit": "20"})

    async def plan(self) -> Answer:
        status, made = await self.http["activities"]("POST", "/activities", self.activity())
        self.planned += [made["id"]] if status == 201 else []
        return status, made

    async def schedule(self) -> Answer:
        activity_id = self.planned.pop()
        start = datetime.now(UTC) + timedelta(days=30, minutes=self.n)
        self.n += 1
        return await self.http["activities"]("POST", f"/activities/{activity_id}/schedule", {
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()})

    async def close(self) -> None:
        await self.clients.close()


STEPS = ("POST /partners", "GET /partners?type=kim&limit=20", "POST /activities", "POST .../schedule (+ event)")
COLUMNS = ("p50 ms", "p50 ms settled", "rt request", "rt relay", "rt consumers", "rt all", "cpu partners", "cpu activities",
           "cpu notifications", "cpu store", "cpu all")


def report(sides: list[Side]) -> None:
    base, head = sides
    print(f"\nmedians over the rounds, per request; rt = store round trips, cpu = ms of CPU; "
          f"ratio = {head.label} / {base.label}")
    for name in STEPS:
        print(f"\n## {name}")
        print(f"{'':22}{base.label[:16]:>16}{head.label[:16]:>16}{'ratio':>8}")
        for column in COLUMNS:
            b = statistics.median(r[column] for r in base.figures[name])
            h = statistics.median(r[column] for r in head.figures[name])
            ratio = f"{h / b:8.2f}" if b else f"{'-':>8}"
            print(f"{column:22}{b:16.1f}{h:16.1f}{ratio}")
    for name in STEPS:
        print(f"\nstore commands per request of {name} (service.sender:command:collection), "
              f"{base.label} → {head.label}:")
        every = {key: [side.breakdown[name].get(key, 0) / (len(side.figures[name]) * side.k) for side in sides]
                 for key in set(base.breakdown[name]) | set(head.breakdown[name])}
        for key, (b, h) in sorted(every.items(), key=lambda kv: (-max(kv[1]), kv[0])):
            if max(b, h) >= 0.05:
                print(f"  {b:5.1f} → {h:5.1f}  {key}")


def write(side: Side, path: str) -> None:
    """The per-event count of store commands, for ``bench/pipeline.py --same-work``."""
    rounds = len(side.figures[STEPS[-1]])
    counted = {key: value / (rounds * side.k) for key, value in side.breakdown[STEPS[-1]].items()}
    Path(path).write_text(json.dumps(counted, indent=1, sort_keys=True))
    print(f"per-event store commands of {side.label} written to {path}")


async def run(args: argparse.Namespace) -> None:
    base_dir = Path(tempfile.mkdtemp(prefix="sinergi-costs-"))
    store = Store(base_dir)
    sides = []
    for ref in (args.base, args.head):
        label, tree = checkout(ref)
        sides.append(Side(label, tree, "costs" + secrets.token_hex(3), secrets.token_urlsafe(48)))
    clients: list[Client] = []
    try:
        for side in sides:
            side.k = args.k
            side.start(store, base_dir)
        for side in sides:
            await asyncio.to_thread(side.wait_ready)
        load = os.getloadavg()[0]
        print(f"# costs: {', '.join(f'{s.label} from {s.tree}' for s in sides)}; own store {store.url}; "
              f"rounds {args.rounds} of {args.k}; {args.client}'s client; load average {load:.1f}; {os.cpu_count()} cores")
        clients = [Client(side, args.client) for side in sides]
        for client in clients:
            print(f"{client.side.label}: recipient gets {await client.recipient()}; seeding {args.seed} partners")
            for _ in range(args.seed):
                status, answer = await client.post_partner()
                assert status == 201, answer
        for side in sides:  # what a service does with nothing asked of it
            await side.quiet()
            before = side.counted()
            await asyncio.sleep(3)
            after = side.counted()
            idle = sum(sum(delta(after[s], before[s]).values()) for s in SERVICES) / 3
            print(f"{side.label}: idle {idle:.1f} store round trips/s")
        for round_ in range(args.rounds):
            for client in clients:
                side, k = client.side, args.k
                await step(side, store, STEPS[0], "partners", client.post_partner, k)
                await step(side, store, STEPS[1], "partners", client.list_kim, k)
                await step(side, store, STEPS[2], "activities", client.plan, k)
                await step(side, store, STEPS[3], "activities", client.schedule, k)
            print(f"round {round_ + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.1f})", flush=True)
        report(sides)
        if args.write:
            write(sides[1], args.write)
            write(sides[0], args.write.removesuffix(".json") + ".base.json")
    finally:
        for client in clients:
            await client.close()
        for side in sides:
            side.stop()
        store.stop()
        for side in sides:
            remove_broker_objects(side.prefix, RABBITMQ)
        if not args.keep:
            shutil.rmtree(base_dir, ignore_errors=True)
        else:
            print(f"logs and store data kept in {base_dir}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="32ce6d5", help="the starting commit (default 32ce6d5, issue 15's)")
    parser.add_argument("--head", default="HEAD", help="the commit to compare (default HEAD; 'work': this tree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--k", type=int, default=8, help="requests per step and round")
    parser.add_argument("--seed", type=int, default=150, help="partners registered before measuring")
    parser.add_argument("--write", help="write --head's store commands per scheduled event here (JSON), and "
                                        "--base's beside it (FILE.base.json), for bench/pipeline.py --same-work")
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp",
                        help="the HTTP client's library (httpx: as measured before 2026-12-07, night)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the store's data")
    asyncio.run(run(parser.parse_args()))
