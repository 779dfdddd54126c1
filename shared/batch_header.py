"""``X-Sinergi-Batch: <id>[; label=<what>]``: a client making many changes as one batch (the demo
load, a chunked import) names it, and the events of each request carry it (CloudEvents ``batchid``
and ``batchlabel``, ``shared.logging.in_batch``), so notifications sums them up in one message.

A pure ASGI middleware: it sets the batch for the request's own task and undoes it afterwards.
"""

from __future__ import annotations

import re
from typing import Any

from shared.logging import in_batch

HEADER = b"x-sinergi-batch"
# A batch id is a short token (a ULID, a slug); the label is free text, cut to a sane length.
BATCH_ID = re.compile(r"^[0-9A-Za-z_.:-]{1,64}$")


def parse(value: str) -> tuple[str, str | None] | None:
    """``"01J...; label=mitra_83.xlsx"`` → ``("01J...", "mitra_83.xlsx")``; ``None`` if not a batch id."""
    head, _, rest = value.partition(";")
    batch_id = head.strip()
    if not BATCH_ID.match(batch_id):
        return None
    label = rest.strip().removeprefix("label=").strip().strip('"')[:200] if rest.strip() else None
    return batch_id, (label or None)


class BatchHeader:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(HEADER)
            found = parse(raw.decode("latin-1")) if raw else None
            if found:
                with in_batch(*found):
                    await self.app(scope, receive, send)
                return
        await self.app(scope, receive, send)
