"""A subscriber to Sinergi's events, as a provincial dashboard or a national aggregator writes one.

It declares its own durable queue, binds it to the ``sinergi.events`` topic exchange with
``*.activity.*`` (every region's activity events; ``3273.#`` would be everything of Kota
Bandung), and prints one line per event. It needs nothing of Sinergi's code: only AMQP
(``pip install aio-pika``) and the contract (CloudEvents JSON, CONTRACT.md §6).

    python examples/subscriber.py --url amqp://dashboard:SECRET@mq.example:5672/sinergi-hub

A subscriber user made with ``sinergi broker subscriber dashboard`` may only use queues
named ``dashboard.*``; the default queue name follows that rule. Delivery is at least once:
the subscriber skips an event id it has seen, and per aggregate an ``aggregateversion`` older
than one it has shown (events of one aggregate may arrive out of order after a replay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from urllib.parse import unquote, urlparse

import aio_pika


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print Sinergi events as they arrive.")
    parser.add_argument("--url", default=os.environ.get("SUBSCRIBER_URL", "amqp://guest:guest@127.0.0.1:5672/"),
                        help="AMQP URL with the subscriber's user and the vhost (env SUBSCRIBER_URL)")
    parser.add_argument("--binding", action="append", help="topic binding key, repeatable (default *.activity.*)")
    parser.add_argument("--queue", help="the subscriber's durable queue (default <user>.activity)")
    parser.add_argument("--exchange", default="sinergi.events")
    parser.add_argument("--json", action="store_true", help="print each event's full JSON document")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (0: run until Ctrl-C)")
    return parser.parse_args(argv)


def line(event: dict, routing_key: str) -> str:
    data = event.get("data") or {}
    what = data.get("title") or data.get("name") or data.get("subject") or ""
    return (f"{event.get('time', '')}  {event.get('region', '?'):>5}  {event.get('type', '?'):<28}  "
            f"{event.get('subject', '?')} v{event.get('aggregateversion', '?')}  "
            f"{data.get('status', '')}  {what}  [{routing_key}]")


async def main(args: argparse.Namespace) -> int:
    user = unquote(urlparse(args.url).username or "guest")
    queue_name = args.queue or f"{user}.activity"
    connection = await aio_pika.connect_robust(args.url)
    seen: set[str] = set()
    versions: dict[str, int] = {}
    done = asyncio.Event()
    printed = 0
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=50)
        queue = await channel.declare_queue(queue_name, durable=True)
        for binding in args.binding or ["*.activity.*"]:
            await queue.bind(args.exchange, binding)
        print(f"# listening on {queue_name}, bound to {args.exchange} with {', '.join(args.binding or ['*.activity.*'])}",
              file=sys.stderr, flush=True)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal printed
            async with message.process(requeue=False):
                try:
                    event = json.loads(message.body)
                except ValueError:
                    print(f"# not JSON, skipped: {message.body[:80]!r}", file=sys.stderr, flush=True)
                    return
                event_id, subject = event.get("id"), event.get("subject")
                version = int(event.get("aggregateversion") or 0)
                if event_id in seen or version < versions.get(subject, 0):
                    return
                seen.add(event_id)
                versions[subject] = max(version, versions.get(subject, 0))
                print(json.dumps(event, ensure_ascii=False) if args.json else line(event, message.routing_key or ""),
                      flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    done.set()

        await queue.consume(on_message)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
