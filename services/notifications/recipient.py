"""A recipient: a staff member or a system that hears the rules it subscribes to (DOMAIN.md).

The aggregate the recipient use cases change through the unit of work (shared/unit_of_work.py),
with its rules: a name is one line (it goes into e-mail headers), a webhook has a secret and no
webhook no secret. Its events are recorded for the unit of work (an action that records none
writes nothing); none is published, since no other service needs to know who is notified.
Where a webhook may go is checked by the use case: that takes a DNS lookup (egress.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notifications.domain import CONTROL_CHARACTERS, channels_of
from shared.errors import Invalid

# What a recipient is made of, as given by an admin (POST) or changed by one (PATCH).
FIELDS = ("name", "kind", "email", "webhook_url", "webhook_secret", "language", "subscriptions", "regions",
          "user_id")
NOT_ONE_LINE = "must not contain control characters (a line break, a tab...)"


def one_line(name: str) -> str:
    """A name goes into e-mail headers: a line break there (or any control character) is refused
    where the admin can fix it, not by every e-mail sent to it. ``ValueError`` names the rule."""
    if CONTROL_CHARACTERS.search(name):
        raise ValueError(NOT_ONE_LINE)
    return name


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RecipientAdded:
    recipient_id: str


@dataclass(frozen=True)
class RecipientChanged:
    recipient_id: str
    fields: tuple[str, ...]
    secret_renewed: bool


@dataclass(frozen=True)
class RecipientRemoved:
    recipient_id: str


@dataclass
class Recipient:
    id: str
    name: str | None
    kind: str
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None
    language: str
    subscriptions: list[str]
    regions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime
    removed: bool = False
    events: list[Any] = field(default_factory=list)
    # The console user this staff recipient is (their token's ``sub``): their inbox is theirs alone.
    user_id: str | None = None

    @classmethod
    def add(cls, recipient_id: str, values: Mapping[str, Any], at: datetime,
            secret: Callable[[], str] = new_secret) -> Recipient:
        """A new recipient from an admin's values: a webhook without a secret gets one, a secret
        without a webhook is dropped."""
        recipient = cls(id=recipient_id, version=1, created_at=at, updated_at=at,
                        **{name: values.get(name) for name in FIELDS})
        recipient._check_name()
        if recipient.webhook_url and not recipient.webhook_secret:
            recipient.webhook_secret = secret()
        if recipient.webhook_secret and not recipient.webhook_url:
            recipient.webhook_secret = None
        recipient.events.append(RecipientAdded(recipient_id))
        return recipient

    def change(self, changes: Mapping[str, Any], rotate_secret: bool, at: datetime,
               secret: Callable[[], str] = new_secret) -> bool:
        """Apply an admin's changes; returns whether the webhook secret is new (shown once, then).
        Removing the webhook removes its secret; a webhook left without one gets one."""
        before = self.webhook_secret
        for name, value in changes.items():
            if name not in FIELDS:
                raise ValueError(f"a recipient has no field {name}")
            setattr(self, name, value)
        self._check_name()
        if not self.webhook_url:
            self.webhook_secret = None
        elif rotate_secret or not self.webhook_secret:
            self.webhook_secret = secret()
        renewed = bool(self.webhook_secret) and self.webhook_secret != before
        # Every change is a new version, even one that sets what was there (as it always was).
        self.version += 1
        self.updated_at = at
        self.events.append(RecipientChanged(self.id, tuple(changes), renewed))
        return renewed

    def remove(self) -> None:
        self.removed = True
        self.events.append(RecipientRemoved(self.id))

    def state(self) -> dict[str, Any]:
        """What is stored of the recipient, and shown (without its secret) by the API."""
        return {**{name: getattr(self, name) for name in FIELDS}, "version": self.version,
                "created_at": self.created_at, "updated_at": self.updated_at}

    @property
    def channels(self) -> list[str]:
        return channels_of({"email": self.email, "webhook_url": self.webhook_url})

    def _check_name(self) -> None:
        if self.name is None:  # a PATCH with "name": null was always taken; refusing it is a change of its own
            return
        try:
            one_line(self.name)
        except ValueError as exc:
            raise Invalid({"name": str(exc)}) from exc
