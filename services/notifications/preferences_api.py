"""HTTP: a staff member's own notification preferences, ``GET/PUT /me/preferences``.

The caller is the recipient whose ``user_id`` is their token's ``sub`` (an admin links the two on
the recipient). What they may change is their own preferences (channels in order, quiet hours) and
their chat addresses; the rest of the recipient stays the admin's. The change is a change of the
recipient through the same use case as an admin's PATCH (``handlers.RecipientCommands.change``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.handlers import RecipientCommands
from services.notifications.recipient import addressed
from services.notifications.store import Recipients
from shared.auth import Viewer
from shared.errors import NotFound
from shared.web import expected_version, wired, with_etag

router = APIRouter()

RecipientsDep = Annotated[Recipients, wired("recipients")]
CommandsDep = Annotated[RecipientCommands, wired("recipient_commands")]

Channel = Literal["email", "webhook", "whatsapp", "telegram"]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["21:00"])]


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Clock
    end: Clock


class Preferences(BaseModel):
    """Which channels, in order, and when chat may not ring (the instance's time zone)."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] | None = Field(
        None, description="channels besides the inbox, most preferred first: a notification goes to the first "
                          "the recipient can be reached on, and to the next if that delivery ends dead; "
                          "null: every channel the recipient has an address for, at once")
    quiet_hours: QuietHoursIn | None = Field(
        None, description="local HH:MM to HH:MM (may span midnight): WhatsApp and Telegram wait until it ends; "
                          "e-mail, webhooks and the inbox do not")


class MyPreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: Preferences
    whatsapp: str | None = Field(None, description="a phone number (0812..., +62812...), stored as E.164")
    telegram_chat_id: str | None = Field(None, description="the chat id the Sinergi bot reaches you on")


def _mine(doc: dict[str, Any]) -> dict[str, Any]:
    return jsonable_encoder({
        "recipient_id": doc["_id"], "name": doc.get("name"), "preferences": doc.get("preferences")
        or {"channels": None, "quiet_hours": None},
        "email": doc.get("email"), "whatsapp": doc.get("whatsapp"), "telegram_chat_id": doc.get("telegram_chat_id"),
        "channels": ["inbox", *addressed(doc)], "version": doc["version"]})


async def _me(caller: Viewer, recipients: Recipients) -> dict[str, Any]:
    for doc in await recipients.all():  # a scan of tens of staff; FerretDB scans any filter but _id anyway
        if doc.get("user_id") and doc.get("user_id") == caller.sub:
            return doc
    raise NotFound(f"no recipient is linked to your user ({caller.sub}); an admin links one with "
                   "PATCH /recipients/{id} {\"user_id\": ...}", user_id=caller.sub)


@router.get("/me/preferences", tags=["recipients"], summary="Your notification preferences and chat addresses")
async def read_my_preferences(caller: Viewer, recipients: RecipientsDep) -> JSONResponse:
    doc = await _me(caller, recipients)
    return with_etag(_mine(doc), doc["version"])


@router.put("/me/preferences", tags=["recipients"],
            summary="Change your channels, their order, quiet hours and chat addresses (If-Match honoured)")
async def change_my_preferences(body: MyPreferencesIn, request: Request, caller: Viewer, recipients: RecipientsDep,
                                commands: CommandsDep) -> JSONResponse:
    doc = await _me(caller, recipients)
    changes = body.model_dump(mode="json")
    recipient, _ = await commands.change(doc["_id"], expected_version(request), changes, False)
    saved = {"_id": recipient.id, **recipient.state()}
    return with_etag(_mine(saved), recipient.version)
