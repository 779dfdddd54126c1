"""The audit trail: ``GET /audit`` on every service (admin) — who changed what, when and why.

Read from the service's event log (``shared.outbox.EventLog``): every accepted write records an
event, every event carries its actor (``shared.events.make_event``), and the log keeps each
published event with its subject, actor, version and time beside the document. An item's
``changes`` is the difference between its event's ``data`` and that of the same subject's
previous event in the log. The log is pruned after ``SINERGI_EVENT_LOG_DAYS``: that is the
audit's retention. Newest first, by event id (ULIDs: creation order, to the millisecond).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared import problems
from shared.auth import Admin
from shared.clock import Instant, utc_ms
from shared.pagination import decode_cursor, encode_cursor

router = APIRouter(tags=["operations"])

# Fields every snapshot changes on every write, or that only describe the write itself (not a
# field of the subject that changed).
NOT_CHANGES = frozenset({"version", "updated_at", "changed_fields", "changes", "amended", "reason", "agreement_id"})
BATCH = 200  # log entries read per round trip while a page is gathered


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    subject: str | None = Field(None, max_length=200, description="the aggregate's id")
    actor: str | None = Field(None, max_length=200, description="the token sub that made the changes")
    from_: Instant | None = Field(None, alias="from", description="events at or after this instant (with offset)")
    to: Instant | None = Field(None, description="events before this instant (with offset)")
    limit: int = Field(50, ge=1, le=500, description="page size (max 500)")
    cursor: str | None = Field(None, description="next_cursor of the previous page")


@router.get("/audit", summary="Who changed what, when and why (admin); newest first, cursor pages")
async def audit(request: Request, _: Admin, where: Annotated[AuditQuery, Query()]) -> JSONResponse:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        raise problems.Unavailable("this service keeps no event log")
    if where.from_ and where.to and where.from_ >= where.to:
        raise problems.InvalidField({"from": "must be before 'to'"})
    log = infra.event_log.collection
    found = await _page(log, where)
    more = len(found) > where.limit
    found = found[:where.limit]
    items = [await _item(log, entry) for entry in found]
    return JSONResponse({"items": items, "next_cursor": encode_cursor(found[-1]["_id"]) if more and found else None})


def _facts(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with its audit facts; an entry logged before they were stored is read from its body."""
    if "subject" in entry:
        return entry
    body = json.loads(entry["body"])
    time = datetime.fromisoformat(body["time"])
    return {**entry, "subject": body.get("subject"), "actor": body.get("actor"), "actorname": body.get("actorname"),
            "aggregateversion": body.get("aggregateversion"), "time": utc_ms(time)}


def _wanted(entry: dict[str, Any], where: AuditQuery) -> bool:
    time = entry["time"]
    if time.tzinfo is None:  # as the store gives it back: UTC without offset
        time = time.replace(tzinfo=UTC)
    return ((where.subject is None or entry["subject"] == where.subject)
            and (where.actor is None or entry["actor"] == where.actor)
            and (where.from_ is None or time >= where.from_)
            and (where.to is None or time < where.to))


async def _page(log: Any, where: AuditQuery) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` entries that match, newest first. The store filters what it can (it scans:
    only ``_id`` is indexed); entries logged before the facts were stored are matched here."""
    wanted: dict[str, Any] = {}
    if where.subject is not None:
        wanted["subject"] = where.subject
    if where.actor is not None:
        wanted["actor"] = where.actor
    if where.from_ or where.to:
        wanted["time"] = {**({"$gte": where.from_} if where.from_ else {}), **({"$lt": where.to} if where.to else {})}
    query: dict[str, Any] = {"$or": [wanted, {"subject": {"$exists": False}}]} if wanted else {}
    before = decode_cursor(where.cursor) if where.cursor else None
    found: list[dict[str, Any]] = []
    while len(found) <= where.limit:
        bounded = {"$and": [query, {"_id": {"$lt": before}}]} if before else query
        batch = await log.find(bounded).sort("_id", -1).limit(BATCH).to_list(length=BATCH)
        found += [e for e in map(_facts, batch) if _wanted(e, where)]
        if len(batch) < BATCH:
            break
        before = batch[-1]["_id"]
    return found[:where.limit + 1]


async def _previous(log: Any, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The same subject's event just before this one, if the log still has it."""
    query = {"subject": entry["subject"], "_id": {"$lt": entry["_id"]}}
    found = await log.find(query).sort("_id", -1).limit(1).to_list(length=1)
    return found[0] if found else None


async def _item(log: Any, entry: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(entry["body"])
    data = body.get("data") or {}
    previous = await _previous(log, entry)
    before = (json.loads(previous["body"]).get("data") or {}) if previous else {}
    changes = {field: {"before": before.get(field), "after": data.get(field)}
               for field in sorted(set(data) | set(before))
               if field not in NOT_CHANGES and before.get(field) != data.get(field)}
    return {
        "event_id": entry["_id"],
        "type": body.get("type"),
        "subject": body.get("subject"),
        "version": body.get("aggregateversion"),
        "at": body.get("time"),
        "actor": body.get("actor"),
        "actor_name": body.get("actorname"),
        "reason": _reason(data, changes),
        "changes": changes,
    }


def _reason(data: dict[str, Any], changes: dict[str, Any]) -> str | None:
    """Why, when the write said: the event's own ``reason``, or that of the status change it made."""
    if data.get("reason"):
        return str(data["reason"])
    history = data.get("status_history")
    if "status" in changes and isinstance(history, list) and history and isinstance(history[-1], dict):
        reason = history[-1].get("reason")
        return str(reason) if reason else None
    return None
