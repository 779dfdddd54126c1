"""HTTP edge of notifications (CONTRACT §5): recipients, inboxes, deliveries, the schedule."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, field_validator

from services.notifications.delivery_ops import DeliveryFilter, retry_matching
from services.notifications.domain import channels_of, normalize_subscription
from services.notifications.handlers import RecipientCommands
from services.notifications.notifier import DeliveryRunner
from services.notifications.preferences_api import Preferences
from services.notifications.recipient import Recipient, one_line
from services.notifications.store import Deliveries, Inboxes, Jobs, Recipients
from shared.auth import Admin, Operator, Role, Viewer
from shared.clock import Instant, now_ms
from shared.errors import NotFound
from shared.idempotency import resource_id
from shared.outbox import OUTBOX, PENDING
from shared.pagination import Cursor, Limit
from shared.problems import Forbidden
from shared.regions import REGION_CODE
from shared.settings import Settings
from shared.web import expected_version, wired, with_etag

router = APIRouter()


RecipientsDep = Annotated[Recipients, wired("recipients")]
InboxesDep = Annotated[Inboxes, wired("inboxes")]
DeliveriesDep = Annotated[Deliveries, wired("deliveries")]
RunnerDep = Annotated[DeliveryRunner, wired("runner")]
JobsDep = Annotated[Jobs, wired("jobs")]
SettingsDep = Annotated[Settings, wired("settings")]
CommandsDep = Annotated[RecipientCommands, wired("recipient_commands")]

SAFE_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
Language = Literal["id", "en"]
Status = Literal["pending", "sending", "sent", "failed", "dead"]


# A rule name, a prefix (activity.*) or an event type, stored as the rule it names.
Subscription = Annotated[str, AfterValidator(normalize_subscription)]
Region = Annotated[str, Field(pattern=REGION_CODE)]
UserId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line)]


# The recipient's rule, checked while parsing too, so a bad name is a 422 with the other field errors.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line)]


def _unique(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Literal["staff", "system"]
    email: EmailStr | None = None
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: str | None = Field(None, min_length=16, max_length=200,
                                       description="HMAC key; generated when a webhook_url comes without one")
    language: Language = "id"
    subscriptions: list[Subscription] = Field([], description="rule names (activity.reminder), prefixes "
                                                              "(activity.*) or event types; none means every rule")
    regions: list[Region] = Field([], description="region codes; none means the whole instance")
    user_id: UserId | None = Field(None, description="the console user this staff member is (their token's sub): "
                                                     "they read this inbox as /inbox/me")
    whatsapp: str | None = Field(None, description="phone number for WhatsApp (0812..., +62812...), stored as E.164")
    telegram_chat_id: str | None = Field(None, description="the Telegram chat the instance's bot reaches")
    preferences: Preferences | None = Field(None, description="channels in order of preference, quiet hours")

    _unique_subscriptions = field_validator("subscriptions")(_unique)


class RecipientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: EmailStr | None = None
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: str | None = Field(None, min_length=16, max_length=200)
    rotate_webhook_secret: bool = False
    language: Language | None = None
    subscriptions: list[Subscription] | None = None
    regions: list[Region] | None = None
    user_id: UserId | None = None
    whatsapp: str | None = None
    telegram_chat_id: str | None = None
    preferences: Preferences | None = None

    _unique_subscriptions = field_validator("subscriptions")(_unique)

    @field_validator("name", "language", "subscriptions", "regions", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Left out keeps the value; null would store a recipient without a name (or language) to send to.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document as the API shows it: ``id`` instead of ``_id``, no outbox bookkeeping."""
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in {"_id", OUTBOX, PENDING}}}


def _shown(recipient: Recipient) -> dict[str, Any]:
    """A recipient as its stored document, which is what the API shows."""
    return {"_id": recipient.id, **recipient.state()}


def _recipient_out(doc: dict[str, Any], reveal_secret: bool = False) -> dict[str, Any]:
    """A recipient as the API shows it: the webhook secret only in the answer that set it."""
    out = {k: v for k, v in public(doc).items() if k != "webhook_secret"}
    out["webhook_secret"] = doc.get("webhook_secret") if reveal_secret else None
    out["webhook_secret_set"] = bool(doc.get("webhook_secret"))
    out["channels"] = channels_of(doc)
    return jsonable_encoder(out)


async def _recipient(recipient_id: str, recipients: RecipientsDep) -> dict[str, Any]:
    found = await recipients.get(recipient_id) if SAFE_ID.match(recipient_id) else None
    if found is None:
        raise NotFound(f"no recipient with id {recipient_id}")
    return found


# The recipient the path names (404 if there is none); after the role check, which comes first.
KnownRecipient = Annotated[dict[str, Any], Depends(_recipient)]


@router.post("/recipients", status_code=201, tags=["recipients"], summary="Add a staff member or a system")
async def add_recipient(body: RecipientIn, request: Request, _: Admin, commands: CommandsDep) -> JSONResponse:
    recipient = await commands.add(resource_id(request), body.model_dump(mode="json"))
    return with_etag(_recipient_out(_shown(recipient), reveal_secret=True), recipient.version, 201,
                     {"Location": f"/recipients/{recipient.id}"})


@router.get("/recipients", tags=["recipients"], summary="List recipients")
async def list_recipients(_: Admin, recipients: RecipientsDep, kind: Literal["staff", "system"] | None = None,
                          limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    docs, next_cursor = await recipients.page({"kind": kind} if kind else {}, limit, cursor)
    return {"items": [_recipient_out(d) for d in docs], "next_cursor": next_cursor}


@router.get("/recipients/{recipient_id}", tags=["recipients"], summary="Read a recipient")
async def read_recipient(_: Admin, doc: KnownRecipient) -> JSONResponse:
    return with_etag(_recipient_out(doc), doc["version"])


@router.patch("/recipients/{recipient_id}", tags=["recipients"], summary="Change a recipient (If-Match honoured)")
async def change_recipient(recipient_id: str, body: RecipientPatch, request: Request, _: Admin, __: KnownRecipient,
                           commands: CommandsDep) -> JSONResponse:
    changes = body.model_dump(mode="json", exclude_unset=True)
    rotate = changes.pop("rotate_webhook_secret", False)
    recipient, renewed = await commands.change(recipient_id, expected_version(request), changes, rotate)
    return with_etag(_recipient_out(_shown(recipient), reveal_secret=renewed), recipient.version)


@router.delete("/recipients/{recipient_id}", status_code=204, tags=["recipients"],
               summary="Remove a recipient and its inbox")
async def remove_recipient(recipient_id: str, request: Request, _: Admin, __: KnownRecipient,
                           commands: CommandsDep) -> Response:
    await commands.remove(recipient_id, expected_version(request))
    return Response(status_code=204)


# --- Inbox -------------------------------------------------------------------------------------
# An inbox is its recipient's: the staff member whose console user (``user_id``) is the token's
# ``sub`` reads and marks it, an admin any (issue 13 point 3). ``/inbox/me`` is the caller's own.


async def _own_inbox(recipient_id: str, caller: Viewer, recipients: RecipientsDep) -> dict[str, Any]:
    """The recipient the path names, if the caller may read its inbox: 404 for an admin when there
    is none, 403 for anyone else unless it is theirs (whether it exists is not theirs to learn)."""
    found = await recipients.get(recipient_id) if SAFE_ID.match(recipient_id) else None
    if caller.role == Role.admin:
        if found is None:
            raise NotFound(f"no recipient with id {recipient_id}")
        return found
    if found is None or not found.get("user_id") or found.get("user_id") != caller.sub:
        raise Forbidden(f"inbox {recipient_id} is not yours; /inbox/me is (an admin reads any)")
    return found


async def _my_inbox(caller: Viewer, recipients: RecipientsDep) -> dict[str, Any]:
    found = await recipients.of_user(caller.sub)
    if found is None:
        raise NotFound(f"no recipient is linked to your user ({caller.sub}); an admin links one with "
                       "PATCH /recipients/{id} {\"user_id\": ...}", user_id=caller.sub)
    return found


OwnInbox = Annotated[dict[str, Any], Depends(_own_inbox)]
MyInbox = Annotated[dict[str, Any], Depends(_my_inbox)]


async def _inbox_page(recipient: dict[str, Any], inboxes: Inboxes, unread: bool, limit: int,
                      cursor: str | None) -> dict[str, Any]:
    docs, next_cursor = await inboxes.page(recipient["_id"], unread, limit, cursor)
    return {"recipient_id": recipient["_id"], "items": [jsonable_encoder(public(d)) for d in docs],
            "next_cursor": next_cursor, "unread": await inboxes.unread(recipient["_id"])}


async def _one(recipient: dict[str, Any], notification_id: str, inboxes: Inboxes) -> JSONResponse:
    doc = await inboxes.get(recipient["_id"], notification_id)
    if doc is None:
        raise NotFound(f"recipient {recipient['_id']} has no notification {notification_id}")
    return with_etag(jsonable_encoder(public(doc)), doc["version"])


async def _mark(recipient: dict[str, Any], notification_id: str, inboxes: Inboxes) -> JSONResponse:
    if await inboxes.get(recipient["_id"], notification_id) is None:
        raise NotFound(f"recipient {recipient['_id']} has no notification {notification_id}")
    doc = await inboxes.mark_read(recipient["_id"], notification_id, now_ms())
    if doc is None:
        raise NotFound(f"recipient {recipient['_id']} has no notification {notification_id}")
    return with_etag(jsonable_encoder(public(doc)), doc["version"])


async def _mark_all(recipient: dict[str, Any], inboxes: Inboxes) -> dict[str, Any]:
    marked = await inboxes.mark_all_read(recipient["_id"], now_ms())
    return {"recipient_id": recipient["_id"], "marked": marked, "unread": await inboxes.unread(recipient["_id"])}


UnreadOnly = Annotated[bool, Query(description="only those not yet read")]


# /inbox/me first: "me" would otherwise be read as a recipient id.
@router.get("/inbox/me", tags=["inbox"], summary="Your own notifications, newest first, and how many are unread")
async def read_my_inbox(recipient: MyInbox, inboxes: InboxesDep, unread: UnreadOnly = False, limit: Limit = 50,
                        cursor: Cursor = None) -> dict[str, Any]:
    return await _inbox_page(recipient, inboxes, unread, limit, cursor)


@router.post("/inbox/me/read-all", tags=["inbox"], summary="Mark all your notifications read")
async def mark_all_mine_read(recipient: MyInbox, inboxes: InboxesDep) -> dict[str, Any]:
    return await _mark_all(recipient, inboxes)


@router.get("/inbox/me/{notification_id}", tags=["inbox"], summary="One of your notifications")
async def read_my_notification(notification_id: str, recipient: MyInbox, inboxes: InboxesDep) -> JSONResponse:
    return await _one(recipient, notification_id, inboxes)


@router.post("/inbox/me/{notification_id}/read", tags=["inbox"], summary="Mark one of your notifications read")
async def mark_mine_read(notification_id: str, recipient: MyInbox, inboxes: InboxesDep) -> JSONResponse:
    return await _mark(recipient, notification_id, inboxes)


@router.get("/inbox/{recipient_id}", tags=["inbox"],
            summary="A recipient's notifications, newest first (the recipient's user or an admin)")
async def read_inbox(recipient: OwnInbox, inboxes: InboxesDep, unread: UnreadOnly = False, limit: Limit = 50,
                     cursor: Cursor = None) -> dict[str, Any]:
    return await _inbox_page(recipient, inboxes, unread, limit, cursor)


@router.post("/inbox/{recipient_id}/read-all", tags=["inbox"], summary="Mark all of a recipient's notifications read")
async def mark_all_read(recipient: OwnInbox, inboxes: InboxesDep) -> dict[str, Any]:
    return await _mark_all(recipient, inboxes)


@router.get("/inbox/{recipient_id}/{notification_id}", tags=["inbox"], summary="One notification")
async def read_notification(notification_id: str, recipient: OwnInbox, inboxes: InboxesDep) -> JSONResponse:
    return await _one(recipient, notification_id, inboxes)


@router.post("/inbox/{recipient_id}/{notification_id}/read", tags=["inbox"], summary="Mark a notification read")
async def mark_read(notification_id: str, recipient: OwnInbox, inboxes: InboxesDep) -> JSONResponse:
    return await _mark(recipient, notification_id, inboxes)


# --- Deliveries --------------------------------------------------------------------------------


def _delivery_out(doc: dict[str, Any], full: bool = False) -> dict[str, Any]:
    hidden = set() if full else {"body", "payload"}
    return jsonable_encoder({k: v for k, v in public(doc).items() if k not in hidden})


# Every channel a delivery goes out on (the inbox is no delivery): the list and the bulk retry alike.
DeliveryChannel = Literal["email", "webhook", "whatsapp", "telegram"]


@router.get("/deliveries", tags=["deliveries"], summary="E-mails and webhooks and how they went, newest first")
async def list_deliveries(_: Operator, deliveries: DeliveriesDep, status: Status | None = None,
                          channel: DeliveryChannel | None = None, recipient_id: str | None = None,
                          rule: str | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    query = {k: v for k, v in {"status": status, "channel": channel, "recipient_id": recipient_id,
                               "rule": rule}.items() if v is not None}
    docs, next_cursor = await deliveries.page(query, limit, cursor)
    return {"items": [_delivery_out(d) for d in docs], "next_cursor": next_cursor}


class RetryFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["failed", "dead"] | None = Field(None, description="default: failed and dead")
    # Kept as lenient as it was (a channel no delivery has matches nothing), not refused as the list's.
    channel: str | None = Field(None, pattern=r"^[a-z_]{1,32}$", description="email, webhook, whatsapp or telegram")
    recipient_id: str | None = Field(None, max_length=64)
    since: Instant | None = Field(None, description="made at or after (RFC 3339 with offset)")
    until: Instant | None = Field(None, description="made before")
    dry_run: bool = Field(False, description="only count what would be retried")
    limit: int = Field(1000, ge=1, le=10_000, description="retry at most this many (oldest first)")


@router.post("/deliveries/retry", tags=["deliveries"],
             summary="Retry every failed or dead delivery a filter matches, or count them (dry_run) (admin)")
async def retry_deliveries(body: RetryFilter, _: Admin, deliveries: DeliveriesDep, runner: RunnerDep) -> dict[str, Any]:
    which = DeliveryFilter(body.status, body.channel, body.recipient_id, body.since, body.until)
    outcome = await retry_matching(deliveries, runner, which, body.dry_run, body.limit)
    return {"dry_run": body.dry_run, "matched": outcome.matched, "retried": len(outcome.retried),
            "ids": outcome.retried, "skipped": outcome.skipped}


@router.get("/deliveries/{delivery_id}", tags=["deliveries"], summary="One delivery, with its attempts")
async def read_delivery(delivery_id: str, _: Operator, deliveries: DeliveriesDep) -> JSONResponse:
    doc = await deliveries.get(delivery_id)
    if doc is None:
        raise NotFound(f"no delivery with id {delivery_id}")
    return with_etag(_delivery_out(doc, full=True), doc["version"])


@router.post("/deliveries/{delivery_id}/retry", tags=["deliveries"],
             summary="Send a failed or dead delivery again, now (admin)")
async def retry_delivery(delivery_id: str, _: Admin, runner: RunnerDep) -> JSONResponse:
    doc = await runner.retry(delivery_id)
    return with_etag(_delivery_out(doc), doc["version"])


# --- Schedule ----------------------------------------------------------------------------------


@router.get("/jobs", tags=["schedule"], summary="Reminders, alerts and digests still to come")
async def list_jobs(_: Viewer, jobs: JobsDep, settings: SettingsDep, kind: str | None = None,
                    subject: str | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    query = {k: v for k, v in {"kind": kind, "subject": subject}.items() if v is not None}
    docs, next_cursor = await jobs.page(query, limit, cursor)
    items = [{**public(d), "due_local": d["due_at"].astimezone(settings.zone).isoformat()} for d in docs]
    return {"items": jsonable_encoder(items), "next_cursor": next_cursor}
