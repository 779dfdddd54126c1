"""A recipient: a staff member or a system that hears the rules it subscribes to (DOMAIN.md).

The aggregate the recipient use cases change through the unit of work (shared/unit_of_work.py),
with its rules: a name is one line (it goes into e-mail headers), a webhook has a secret and no
webhook no secret. Its events are recorded for the unit of work (an action that records none
writes nothing); none is published, since no other service needs to know who is notified.
Where a webhook may go is checked by the use case: that takes a DNS lookup (egress.py).

Chat addresses (a WhatsApp number, read as E.164 with ``phonenumbers``, Indonesian when written
without a country code; a Telegram chat id) and the recipient's *preferences* (which channels, in
what order, and quiet hours on the instance's wall clock) are the recipient's too; see
:func:`plan` for what the order means.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import phonenumbers

from services.notifications.domain import CONTROL_CHARACTERS
from shared.errors import Invalid

# What a recipient is made of, as given by an admin (POST) or changed by one (PATCH).
FIELDS = ("name", "kind", "email", "webhook_url", "webhook_secret", "language", "subscriptions", "regions",
          "user_id", "whatsapp", "telegram_chat_id", "preferences")
NOT_ONE_LINE = "must not contain control characters (a line break, a tab...)"

# The channels besides the inbox (always), each with the recipient's field that addresses it.
ADDRESSES = {"email": "email", "webhook": "webhook_url", "whatsapp": "whatsapp", "telegram": "telegram_chat_id"}
CHAT = frozenset({"whatsapp", "telegram"})  # held during quiet hours; e-mail, webhooks and the inbox are not
PHONE_REGION = "ID"  # a number written without a country code (0812...) is Indonesian
TELEGRAM_CHAT = re.compile(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")
CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def e164(number: str, region: str = PHONE_REGION) -> str:
    """``number`` as E.164 (``+6281234567890``); ``ValueError`` saying why it is not a phone number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number (write it as 0812... or +62812...)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def telegram_chat(chat_id: str) -> str:
    """A Telegram chat: its numeric id (a group's is negative) or a public channel's ``@name``."""
    chat_id = str(chat_id).strip()
    if not TELEGRAM_CHAT.fullmatch(chat_id):
        raise ValueError("a Telegram chat id is a number (-100123... for a group) or @channelname")
    return chat_id


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours in which chat messages wait (``21:00-06:00`` spans midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        parts = [part.strip() for part in str(text).split("-")]
        if len(parts) != 2 or not all(CLOCK.fullmatch(part) for part in parts) or parts[0] == parts[1]:
            raise ValueError("quiet hours are HH:MM-HH:MM on the instance's clock, e.g. 21:00-06:00")
        return cls(time.fromisoformat(parts[0]), time.fromisoformat(parts[1]))

    @classmethod
    def of(cls, value: Any) -> QuietHours | None:
        """From a preference (``{"start": "21:00", "end": "06:00"}``) or a setting (``21:00-06:00``)."""
        if not value:
            return None
        if isinstance(value, Mapping):
            return cls.parse(f"{value.get('start')}-{value.get('end')}")
        return cls.parse(str(value))

    def until(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When the quiet hours holding ``now`` end (an instant), or None if ``now`` is not in them."""
        local = now.astimezone(zone)
        at = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= at < self.end
        else:
            inside = at >= self.start or at < self.end
        if not inside:
            return None
        day = local.date() if at < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=zone)


def preferences(value: Any) -> dict[str, Any] | None:
    """A recipient's preferences checked and in their stored form; ``ValueError`` naming the rule.

    ``channels``: which channels besides the inbox, in order of preference (none listed: every
    channel the recipient has an address for). ``quiet_hours``: ``{start, end}`` or none.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("preferences are an object {channels, quiet_hours}")
    unknown = set(value) - {"channels", "quiet_hours"}
    if unknown:
        raise ValueError(f"preferences have no {', '.join(sorted(unknown))}; they have channels and quiet_hours")
    channels = value.get("channels")
    if channels is not None:
        if not isinstance(channels, list) or any(c not in ADDRESSES for c in channels):
            raise ValueError(f"channels are a list of {', '.join(ADDRESSES)} (the inbox always has it)")
        channels = list(dict.fromkeys(channels))
    quiet = QuietHours.of(value.get("quiet_hours"))
    return {"channels": channels,
            "quiet_hours": None if quiet is None else {"start": quiet.start.strftime("%H:%M"),
                                                       "end": quiet.end.strftime("%H:%M")}}


def addressed(recipient: Mapping[str, Any]) -> list[str]:
    """The channels besides the inbox the recipient has an address for, in its preferred order
    (listed ones only) or the usual order when it lists none."""
    have = [channel for channel, field_name in ADDRESSES.items() if recipient.get(field_name)]
    chosen = (recipient.get("preferences") or {}).get("channels")
    if chosen is None:
        return have
    return [channel for channel in chosen if channel in have]


def plan(recipient: Mapping[str, Any], available: frozenset[str] | set[str]) -> tuple[list[str], list[str]]:
    """The channels a notification goes out on now, and those kept in reserve, in order.

    Without a preferred list: every channel the recipient has an address for (and this instance a
    provider for), at once, as always. With one: the first of them that can be used; should it end
    ``dead`` (a wrong number, a token that expired), the next, and so on: "WhatsApp, else e-mail"."""
    usable = [channel for channel in addressed(recipient) if channel in available]
    if (recipient.get("preferences") or {}).get("channels") is None:
        return usable, []
    return usable[:1], usable[1:]


def quiet_hours(recipient: Mapping[str, Any]) -> QuietHours | None:
    return QuietHours.of((recipient.get("preferences") or {}).get("quiet_hours"))


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
    whatsapp: str | None = None  # E.164
    telegram_chat_id: str | None = None
    preferences: dict[str, Any] | None = None
    removed: bool = False
    events: list[Any] = field(default_factory=list)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Recipient:
        """A recipient as stored (fields an older version did not store take their defaults)."""
        return cls(id=doc["_id"], name=doc["name"], kind=doc["kind"], email=doc.get("email"),
                   webhook_url=doc.get("webhook_url"), webhook_secret=doc.get("webhook_secret"),
                   language=doc.get("language") or "id", subscriptions=list(doc.get("subscriptions") or []),
                   regions=list(doc.get("regions") or []), version=doc["version"], created_at=doc["created_at"],
                   updated_at=doc["updated_at"], user_id=doc.get("user_id"), whatsapp=doc.get("whatsapp"),
                   telegram_chat_id=doc.get("telegram_chat_id"), preferences=doc.get("preferences"))
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
        recipient._check_addresses()
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
        self._check_addresses()
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
        return ["inbox", *addressed(self.state())]

    def _check_addresses(self) -> None:
        """A WhatsApp number is stored as E.164; a Telegram chat as its id; preferences checked."""
        errors: dict[str, str] = {}
        for name, check in (("whatsapp", e164), ("telegram_chat_id", telegram_chat), ("preferences", preferences)):
            value = getattr(self, name)
            if value in (None, ""):
                setattr(self, name, None)
                continue
            try:
                setattr(self, name, check(value))
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            raise Invalid(errors)

    def _check_name(self) -> None:
        if self.name is None:  # a PATCH with "name": null was always taken; refusing it is a change of its own
            return
        try:
            one_line(self.name)
        except ValueError as exc:
            raise Invalid({"name": str(exc)}) from exc
