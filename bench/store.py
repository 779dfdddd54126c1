"""What a read or a write costs on the store, by collection size: the figures behind "The store"
in docs/performance.md.

Manual, not part of the test suite. Against the store of ``SINERGI_MONGODB_URL`` (default the local
one), in a database of its own, dropped at the end::

    .venv/bin/python bench/store.py [--sizes 100,1000,3000] [--repeat 20] [--pauses 0,0.02,0.15]

For each size it fills one collection with documents of about 1.5 KB and times, on a document in
the middle: ``find_one({_id})``; ``update_one({_id})``; a version-checked write as the services make
it (``shared.mongo.update_at_version``: by ``_id`` on FerretDB, in the filter on MongoDB); the same
write with the version in the filter whatever the server; ``find_one({_id, version})``; and
``insert_one``. On FerretDB 1.24/SQLite a filter of ``_id`` alone is looked up in an index (the one
``sinergi-store`` adds); any other filter is evaluated over the whole collection.

Then, with ``--pauses`` (seconds), what a staff member's lone request meets: after each pause, a
``find_one`` of a missing ``_id``, an ``insert_one`` and another, one after another (medians of
``--repeat`` × 5 tries). The first commands after a pause cost more than the same commands back
to back, and the store warms again over a few of them: the figures above, timed back to back, do
not show it (docs/performance.md, 2026-12-08).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import describe  # noqa: E402
from shared.mongo import filters_only_by_id, update_at_version  # noqa: E402

PAD = "x" * 1500


async def timed(repeat: int, step: Callable[[int], Awaitable[object]]) -> float:
    """Milliseconds per call of ``step``, averaged over ``repeat`` calls."""
    began = time.perf_counter()
    for n in range(repeat):
        await step(n)
    return (time.perf_counter() - began) * 1000 / repeat


async def bench(url: str, sizes: list[int], repeat: int, pauses: list[float]) -> None:
    client = AsyncMongoClient(url)
    name = f"bench_store_{secrets.token_hex(3)}"
    things = client[name]["things"]
    try:
        info = await client.admin.command("buildInfo")
        server = describe(info)
        path = "by _id" if await filters_only_by_id(things) else "in the filter"
        print(f"{server} at {url}; documents of ~1.5 KB; version checked {path}\n")
        print(f"{'size':>6} {'find _id':>9} {'update _id':>11} {'at_version':>11} "
              f"{'{_id,version}':>14} {'find {_id,v}':>13} {'insert':>7}   (ms per call)")
        have = 0
        for size in sizes:
            await things.insert_many([{"_id": f"t{n:07d}", "version": 1, "name": f"n{n}", "pad": PAD}
                                      for n in range(have, size)])
            have = size
            key = f"t{size // 2:07d}"
            version = (await things.find_one({"_id": key}))["version"]

            async def at_version(_: int) -> None:
                nonlocal version
                assert await update_at_version(things, key, version, {"$inc": {"version": 1}})
                version += 1

            async def in_filter(_: int) -> None:
                nonlocal version
                result = await things.update_one({"_id": key, "version": version}, {"$inc": {"version": 1}})
                assert result.matched_count == 1
                version += 1

            figures = [
                await timed(repeat, lambda _: things.find_one({"_id": key})),
                await timed(repeat, lambda n: things.update_one({"_id": key}, {"$set": {"name": f"u{n}"}})),
                await timed(repeat, at_version),
                await timed(repeat, in_filter),
                await timed(repeat, lambda _: things.find_one({"_id": key, "version": {"$gte": 0}})),
                await timed(repeat, lambda n: things.insert_one({"_id": f"i{size}-{n}", "version": 1, "pad": PAD})),
            ]
            await things.delete_many({"_id": {"$in": [f"i{size}-{n}" for n in range(repeat)]}})
            print(f"{size:6d} " + " ".join(f"{f:{w}.1f}" for f, w in zip(figures, (9, 11, 11, 14, 13, 7))),
                  flush=True)
        if pauses:
            await after_pauses(things, pauses, repeat * 5)
    finally:
        await client.drop_database(name)
        await client.close()


async def after_pauses(things: AsyncCollection, pauses: list[float], tries: int) -> None:
    print(f"\n{'pause s':>7} {'find':>6} {'insert':>7} {'insert':>7}   (ms, in this order after each pause)")
    for pause in pauses:
        times: list[list[float]] = [[], [], []]
        for n in range(tries):
            await asyncio.sleep(pause)
            steps = (lambda: things.find_one({"_id": "missing"}),
                     lambda: things.insert_one({"_id": f"p{pause}-{n}-a", "version": 1, "pad": PAD}),
                     lambda: things.insert_one({"_id": f"p{pause}-{n}-b", "version": 1, "pad": PAD}))
            for kept, step in zip(times, steps):
                began = time.perf_counter()
                await step()
                kept.append((time.perf_counter() - began) * 1000)
        print(f"{pause:7.3f} " + " ".join(f"{statistics.median(t):{w}.2f}" for t, w in zip(times, (6, 7, 7))),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    parser.add_argument("--sizes", default="100,1000,3000,10000", help="collection sizes, ascending")
    parser.add_argument("--repeat", type=int, default=20, help="calls timed per figure")
    parser.add_argument("--pauses", default="", help="seconds, e.g. 0,0.02,0.15: commands after each pause")
    args = parser.parse_args()
    pauses = [float(p) for p in args.pauses.split(",") if p]
    asyncio.run(bench(args.url, [int(s) for s in args.sizes.split(",")], args.repeat, pauses))


if __name__ == "__main__":
    main()
