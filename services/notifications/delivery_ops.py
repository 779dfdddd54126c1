"""Operating deliveries in bulk (issue 14 point 6): retry every failed or dead delivery a filter
matches, or count them first (a dry run).

Each retry is the admin's one-delivery retry (``DeliveryRunner.retry``, through the unit of work),
so every attempt it starts goes to the recipient as it is now and records the target it used. A
delivery that changed meanwhile (retried by another admin, or sent) is skipped, named in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notifications.domain import NotRetryable
from services.notifications.notifier import DeliveryRunner
from services.notifications.store import Deliveries
from shared.errors import NotFound

RETRYABLE = ("failed", "dead")


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries: by status (failed and dead unless one is named), channel, recipient, and
    when they were made (``since`` inclusive, ``until`` exclusive)."""

    status: str | None = None
    channel: str | None = None
    recipient_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, doc: dict[str, Any]) -> bool:
        made = doc.get("created_at")
        return (doc["status"] in ((self.status,) if self.status else RETRYABLE)
                and (self.channel is None or doc["channel"] == self.channel)
                and (self.recipient_id is None or doc.get("recipient_id") == self.recipient_id)
                and (self.since is None or (made is not None and _aware(made) >= self.since))
                and (self.until is None or (made is not None and _aware(made) < self.until)))


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class BulkRetry:
    matched: int
    retried: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


async def retry_matching(deliveries: Deliveries, runner: DeliveryRunner, which: DeliveryFilter, dry_run: bool,
                         limit: int) -> BulkRetry:
    """Retry (or with ``dry_run`` only count) the deliveries at work that ``which`` matches, oldest
    first, at most ``limit``; only failed and dead ones are ever retried."""
    found = sorted((d for d in await deliveries.working() if which.matches(d)), key=lambda d: d["_id"])
    outcome = BulkRetry(matched=len(found))
    if dry_run:
        return outcome
    for doc in found[:limit]:
        try:
            await runner.retry(doc["_id"])
            outcome.retried.append(doc["_id"])
        except (NotRetryable, NotFound) as exc:
            outcome.skipped.append({"id": doc["_id"], "reason": str(exc)})
    return outcome
