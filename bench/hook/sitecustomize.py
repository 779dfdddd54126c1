"""Counts every store command a process sends, for bench/costs.py: imported at start-up by Python
itself (``sitecustomize``) when this directory is on ``PYTHONPATH``, so it measures any checkout of
the services without a line of theirs changed.

Active only when ``SINERGI_BENCH_COUNTS`` names a directory: a PyMongo ``CommandListener``
(registered globally, so every client made afterwards reports to it) counts each command by who
sent it — ``relay`` (an asyncio task named ``outbox-…``), ``task`` (any other task: a request, a
consumer) or ``thread`` — and by command name and collection; a daemon thread writes the counts to
``<dir>/<pid>.json`` whenever they change (at most every 20 ms).
"""

from __future__ import annotations

import os

_DIRECTORY = os.environ.get("SINERGI_BENCH_COUNTS")

if _DIRECTORY:
    import asyncio
    import json
    import threading
    import time
    from collections import Counter

    from pymongo import monitoring

    _counts: Counter[str] = Counter()
    _lock = threading.Lock()

    def _sender() -> str:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            return "thread"
        if task is None:
            return "thread"
        return "relay" if task.get_name().startswith("outbox") else "task"

    class _Counting(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            target = event.command.get(event.command_name)
            where = f":{target}" if isinstance(target, str) else ""
            key = f"{_sender()}:{event.command_name}{where}"
            with _lock:
                _counts[key] += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    monitoring.register(_Counting())

    def _writer() -> None:
        path = os.path.join(_DIRECTORY, f"{os.getpid()}.json")
        written: dict[str, int] = {}
        while True:
            with _lock:
                now = dict(_counts)
            if now != written:
                temporary = f"{path}.tmp"
                with open(temporary, "w") as out:
                    json.dump(now, out)
                os.replace(temporary, path)
                written = now
            time.sleep(0.02)

    threading.Thread(target=_writer, name="bench-counts", daemon=True).start()
