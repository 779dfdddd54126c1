"""HTTP edge of notifications (CONTRACT §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.inbox import Inbox
from shared.auth import Admin, Viewer
from shared.idempotency import resource_id
from shared.pagination import Cursor, Limit, page

router = APIRouter()


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["staff", "system"]
    subscriptions: list[str] = []


@router.post("/recipients", status_code=201, tags=["recipients"])
async def add_recipient(body: RecipientIn, request: Request, _: Admin) -> dict[str, object]:
    inbox: Inbox = request.app.state.inbox
    now = datetime.now(UTC)
    doc = {"_id": resource_id(request), **body.model_dump(), "version": 1, "created_at": now, "updated_at": now}
    await inbox.recipients.insert_one(doc)
    return {"id": doc.pop("_id"), **{k: v for k, v in doc.items()}}


@router.get("/inbox/{recipient_id}", tags=["inbox"])
async def read_inbox(recipient_id: str, request: Request, _: Viewer, limit: Limit = 50, cursor: Cursor = None) -> dict[str, object]:
    inbox: Inbox = request.app.state.inbox
    docs, next_cursor = await page(inbox.notifications, {"recipient_id": recipient_id}, limit, cursor, newest_first=True)
    return {"items": [{"id": d.pop("_id"), **d} for d in docs], "next_cursor": next_cursor}
