"""Recipients and their in-app inbox (skeleton; the rules engine grows here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class Inbox:
    def __init__(self, db: AsyncDatabase) -> None:
        self.recipients = db["recipients"]
        self.notifications = db["notifications"]

    async def staff_subscribed_to(self, rule: str) -> list[dict[str, Any]]:
        found = self.recipients.find({"kind": "staff"})
        return [r async for r in found if rule in r.get("subscriptions", []) or not r.get("subscriptions")]

    async def deliver(self, recipient_id: str, rule: str, cause_id: str, subject: str, body: str) -> bool:
        """Put one notification in an inbox; the id is derived from rule, cause and recipient,
        so the same event handled twice never produces a second notification."""
        now = datetime.now(UTC)
        try:
            await self.notifications.insert_one({
                "_id": f"{rule}:{cause_id}:{recipient_id}", "recipient_id": recipient_id, "rule": rule,
                "subject": subject, "body": body, "channels": ["inbox"], "read_at": None,
                "version": 1, "created_at": now, "updated_at": now,
            })
            return True
        except DuplicateKeyError:
            return False
