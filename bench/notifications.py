"""Benchmark of the notifications fan-out: one event to 1,000 recipients, inbox and webhook.

Manual, not part of the test suite. Starts the notifications service as its own process, with
its own database and queue names (nothing else is touched), and a local HTTP receiver::

    .venv/bin/python bench/notifications.py                 # 1,000 recipients
    .venv/bin/python bench/notifications.py --recipients 200

Each recipient is a system with a webhook, so the one ``sinergi.partner.registered`` event
becomes 1,000 inbox notifications and 1,000 signed webhook POSTs. Printed: notifications per
second (both channels, from the publish to the last delivery) and p50/p99 latency from the
event to each delivery (inbox: the notification stored; webhook: the POST received).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymongo import AsyncMongoClient  # noqa: E402

from bench.leftovers import remove  # noqa: E402
from shared.auth import mint  # noqa: E402
from shared.events import EventType  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.bus import declare_exchanges  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.notifications_support import WebhookReceiver, event, partner, publish  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def line(name: str, latencies: list[float]) -> str:
    return (f"{name:8} {len(latencies):6}  p50 {statistics.median(latencies) * 1000:8.0f} ms"
            f"  p99 {percentile(latencies, 99) * 1000:8.0f} ms  max {max(latencies) * 1000:8.0f} ms")


async def run(args: argparse.Namespace) -> None:
    prefix = "bench" + secrets.token_hex(3)
    secret = secrets.token_urlsafe(48)
    settings = Settings(rabbitmq_url=args.rabbitmq_url, mongodb_url=args.mongodb_url, auth_secret=secret,
                        db_prefix=f"{prefix}_", bus_prefix=f"{prefix}.")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
    env.update({"SINERGI_RABBITMQ_URL": args.rabbitmq_url, "SINERGI_MONGODB_URL": args.mongodb_url,
                "SINERGI_AUTH_SECRET": secret, "SINERGI_DB_PREFIX": settings.db_prefix,
                "SINERGI_BUS_PREFIX": settings.bus_prefix, "SINERGI_PORT": str(port), "SINERGI_LOG_LEVEL": "warning",
                "SINERGI_NOTIFY_CONCURRENCY": str(args.concurrency),
                # The bench's webhook receiver listens on loopback, which webhooks may not reach by default.
                "SINERGI_NOTIFY_WEBHOOK_ALLOW": "127.0.0.0/8,::1"})
    log = open(ROOT / ".sinergi-bench-notifications.log", "wb")  # noqa: SIM115
    service = subprocess.Popen([sys.executable, "-m", "services.notifications"], cwd=ROOT, env=env,
                               stdout=log, stderr=log)
    headers = {"Authorization": f"Bearer {mint(secret, sub='bench', role='admin', regions=['*'])}"}
    mongo: AsyncMongoClient = AsyncMongoClient(args.mongodb_url, tz_aware=True)
    try:
        with WebhookReceiver() as receiver:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit("the service did not become ready; see .sinergi-bench-notifications.log")
                started = time.perf_counter()
                semaphore = asyncio.Semaphore(16)

                async def add(i: int) -> str:
                    async with semaphore:
                        response = await client.post("/recipients", json={
                            "name": f"Sistem {i}", "kind": "system", "subscriptions": ["partner.registered"],
                            "webhook_url": receiver.url(f"/hook/{i}")})
                        response.raise_for_status()
                        return response.json()["id"]

                ids = await asyncio.gather(*(add(i) for i in range(args.recipients)))
                print(f"{args.recipients} recipients created in {time.perf_counter() - started:.1f} s")

                await declare_exchanges(settings)
                the_event = event(EventType.PARTNER_REGISTERED, partner("P-BENCH", "Komunitas Bench"))
                sent_at = datetime.now(UTC)
                clock = time.perf_counter()
                await publish(settings, the_event)
                while len(receiver.hits) < args.recipients:
                    if time.perf_counter() - clock > args.timeout:
                        raise SystemExit(f"only {len(receiver.hits)} webhooks after {args.timeout} s")
                    await asyncio.sleep(0.05)
                wall = time.perf_counter() - clock

            db = mongo[settings.database_name("notifications")]
            stored = [await db[f"inbox_{rid}"].find_one({}, {"created_at": 1}) for rid in ids]
            inbox = [(doc["created_at"] - sent_at).total_seconds() for doc in stored if doc]
            hooks = [(hit.at - sent_at).total_seconds() for hit in receiver.hits]
            last_inbox = max(inbox)
            total = len(inbox) + len(hooks)
            print(f"one event -> {len(inbox)} inbox notifications + {len(hooks)} webhooks "
                  f"in {wall:.2f} s (last inbox write at {last_inbox:.2f} s)")
            print(f"throughput {total / wall:8.0f} notifications/s (both channels)")
            print(line("inbox", inbox))
            print(line("webhook", hooks))
            assert len({h.headers['x-sinergi-delivery'] for h in receiver.hits}) == args.recipients
    finally:
        service.terminate()
        service.wait(15)
        await mongo.close()
        remove(prefix, args.mongodb_url, settings.rabbitmq_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="deliveries in flight (SINERGI_NOTIFY_CONCURRENCY)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--rabbitmq-url", default=os.environ.get("SINERGI_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--mongodb-url", default=os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
