"""Answers to invitations (issue 14 point 4): each invitation e-mail to a partner's contact carries a
signed, expiring link to a small page (``answer_page.py``) where the contact answers *hadir*,
*tidak hadir* or *diwakilkan* with a name; the answer is published as ``sinergi.invitation.answered``
through the outbox, and the activities service keeps it on the activity.

The link's signature is the authority (no token, no account): an HMAC-SHA256 of what it names (the
activity, the partner, the contact) and until when, keyed by the instance's secret (the previous
secret is still accepted while a rotation runs). An invitation is one per activity and contact
address; a changed answer is a later version of it, the same answer again writes nothing.

What this module refuses is only ever shown on the answer page, which is in Bahasa Indonesia: a
refusal here names its reason (a key of ``answer_page.SAID``), and the page words it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.errors import DuplicateKeyError

from services.notifications.domain import Contact
from services.notifications.readmodels import Activity
from shared.clock import now_ms
from shared.errors import Conflict, Invalid, ServiceError
from shared.events import EventType, make_event
from shared.mongo import when_free
from shared.outbox import OUTBOX, PENDING, AggregateCollection, StaleVersion
from shared.settings import Settings

ANSWERS = {"hadir": "Hadir", "tidak_hadir": "Tidak hadir", "diwakilkan": "Diwakilkan"}
SERVICE = "notifications"


class InvitationSettings(BaseSettings):
    """``SINERGI_NOTIFY_PUBLIC_URL``: where contacts reach this service's answer page (the office's
    address as the internet sees it); links stay valid until a day after the activity starts."""

    model_config = SettingsConfigDict(env_prefix="SINERGI_NOTIFY_", extra="ignore")

    public_url: str = "http://127.0.0.1:8103"
    answer_grace_days: int = Field(1, ge=0, le=30)


class LinkRefused(ServiceError):
    """A link that is not ours, altered, or past its time: the page says so, nothing else.
    ``detail`` is the reason (``incomplete``, ``forged``, ``unreadable``, ``expired``)."""


@dataclass(frozen=True)
class Invitation:
    activity_id: str
    partner_id: str
    email: str  # "" for a contact reached by phone only
    name: str
    expires: datetime
    phone: str | None = None

    @property
    def id(self) -> str:
        """One invitation per activity and contact address (the e-mail, else the phone number)."""
        address = self.email.strip().lower() or (self.phone or "")
        digest = hashlib.sha256(f"{self.activity_id}\0{address}".encode()).hexdigest()
        return f"inv-{digest[:24]}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, settings: Settings, invitations: InvitationSettings) -> None:
        self._keys = [_key(s) for s in (settings.auth_secret, settings.auth_secret_previous) if s]
        self.public_url = invitations.public_url.rstrip("/")
        self.grace = timedelta(days=invitations.answer_grace_days)

    def link(self, activity: Activity, contact: Contact, now: datetime) -> str:
        """The answer page's address for this contact of this activity."""
        starts = activity.starts_at or now + timedelta(days=30)
        claims = {"a": activity.id, "p": contact.partner_id, "e": contact.email or "", "n": contact.name,
                  "x": int((starts + self.grace).timestamp())}
        if not contact.email:
            claims["t"] = contact.phone
        payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{self.public_url}/invitations/{payload}.{self._sign(self._keys[0], payload)}"

    def read(self, token: str, now: datetime) -> Invitation:
        payload, _, signature = token.partition(".")
        if not payload or not signature or not self._keys:
            raise LinkRefused("incomplete")
        if not (payload.isascii() and signature.isascii()):  # compare_digest refuses other text (a 500)
            raise LinkRefused("forged")
        if not any(hmac.compare_digest(self._sign(key, payload), signature) for key in self._keys):
            raise LinkRefused("forged")
        try:
            claims = json.loads(_unb64(payload))
            invitation = Invitation(str(claims["a"]), str(claims["p"]), str(claims["e"]), str(claims["n"]),
                                    datetime.fromtimestamp(int(claims["x"]), tz=UTC),
                                    str(claims["t"]) if claims.get("t") else None)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise LinkRefused("unreadable") from exc
        if invitation.expires <= now:
            raise LinkRefused("expired")
        return invitation

    @staticmethod
    def _sign(key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:20])


def _key(secret: str) -> bytes:
    """A key of its own for links, derived from the instance secret (a token's key signs no link)."""
    return hmac.new(secret.encode(), b"sinergi invitation answer link", hashlib.sha256).digest()


def answer_of(values: dict[str, str], invitation: Invitation) -> tuple[str, str, str | None]:
    """The answer a form says: (answer, who comes, note); ``Invalid`` names the field to fix and,
    as its message, the reason the page words."""
    answer = (values.get("answer") or "").strip()
    if answer not in ANSWERS:
        raise Invalid({"answer": "no_answer"})
    name = " ".join((values.get("name") or "").split())[:200]
    if answer == "diwakilkan" and (not name or name.lower() == invitation.name.strip().lower()):
        raise Invalid({"name": "no_representative"})
    note = " ".join((values.get("note") or "").split())[:500] or None
    return answer, name or invitation.name, note


class Answers:
    """The answers, one document per invitation, each change published with it (the outbox)."""

    def __init__(self, stored: AggregateCollection, region: str) -> None:
        self.stored = stored
        self.region = region

    async def get(self, invitation: Invitation) -> dict[str, Any] | None:
        return await self.stored.get(invitation.id)

    async def answer(self, invitation: Invitation, activity: Activity | None, answer: str, name: str,
                     note: str | None) -> dict[str, Any]:
        """Record the contact's answer (a changed one as a later version); the same again writes nothing."""
        if activity is not None and activity.status in {"cancelled", "held", "reported"}:
            raise Conflict("activity_cancelled" if activity.status == "cancelled" else "activity_held",
                           current_status=activity.status)
        async with self.stored.lock(invitation.id):
            for _ in range(5):
                found = await self.stored.get(invitation.id)
                if found and (found["answer"], found["name"], found.get("note")) == (answer, name, note):
                    return found
                now = now_ms()
                doc = {"_id": invitation.id, "activity_id": invitation.activity_id,
                       "partner_id": invitation.partner_id, "contact_name": invitation.name,
                       "contact_email": invitation.email or None, "answer": answer, "name": name, "note": note,
                       "version": (found["version"] + 1) if found else 1,
                       "created_at": found["created_at"] if found else now, "updated_at": now}
                event = make_event(EventType.INVITATION_ANSWERED, region=self.region, service=SERVICE,
                                   subject=invitation.id, version=doc["version"], data=_snapshot(doc))
                try:
                    if found is None:
                        await when_free(lambda: self.stored.insert(doc, [event]))
                    else:
                        await when_free(lambda: self.stored.replace(
                            doc, found["version"], [event], pending=found.get(OUTBOX) or []))
                    return doc
                except (DuplicateKeyError, StaleVersion):
                    continue  # another process answered at the same moment: read again
        raise Conflict("answered_meanwhile")


def _snapshot(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in {"_id", OUTBOX, PENDING}}
    out["id"] = doc["_id"]
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in out.items()}
