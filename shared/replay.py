"""Replays for a subscriber that was away: ``POST /events/replay`` on every service (admin).

Every service keeps the events it published in its ``event_log`` (``shared.outbox.EventLog``,
``SINERGI_EVENT_LOG_DAYS``). A subscriber whose queue missed a period (it did not exist yet,
it was purged, its system was restored from a backup) asks an administrator to re-publish
that period's events to its queue: the very documents that were published, oldest first,
optionally only those whose routing key matches a binding. The subscriber skips ids it
already has (CONTRACT §6: at least once, idempotent on ``id``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiormq.exceptions import PublishError
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import problems
from shared.auth import Admin
from shared.bus import publish_stored, topic_matches
from shared.logging import get_logger

log = get_logger(__name__)

router = APIRouter(tags=["operations"])

REPLAY_HEADER = "x-sinergi-replay"


class ReplayRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    queue: str = Field(min_length=1, max_length=255, description="the subscriber's queue; it must exist")
    from_: datetime = Field(alias="from", description="start of the period (RFC 3339 with offset), inclusive")
    to: datetime | None = Field(None, description="end of the period, exclusive; default now")
    binding: str | None = Field(None, max_length=255,
                                description="only events whose routing key matches this topic pattern, e.g. *.activity.*")

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2024-11-01T00:00:00+07:00")
        return value


class ReplayResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    queue: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    replayed: int = Field(description="events re-published to the queue")


@router.post(
    "/events/replay",
    summary="Re-publish this service's events of a period to a subscriber's queue (admin)",
    response_model=ReplayResult,
    response_model_by_alias=True,
)
async def replay_events(body: ReplayRequest, request: Request, principal: Admin) -> ReplayResult:
    infra = getattr(request.app.state, "infra", None)
    if infra is None:
        raise problems.Unavailable("this service keeps no event log")
    end = body.to or datetime.now(UTC)
    if body.from_ >= end:
        raise problems.InvalidField({"from": "must be before 'to'"})
    entries = await infra.event_log.between(body.from_, end)
    if body.binding:
        entries = [e for e in entries if topic_matches(body.binding, e["routing_key"])]
    replayed = 0
    for entry in entries:
        try:
            await _publish(infra.broker, body.queue, entry)
        except PublishError as exc:  # returned unroutable: the default exchange knows no such queue
            raise problems.NotFound(f"no queue named {body.queue!r} on this service's vhost; "
                                    "the subscriber declares it first") from exc
        replayed += 1
    log.info("events replayed", queue=body.queue, count=replayed, by=principal.sub,
             start=body.from_.isoformat(), end=end.isoformat())
    return ReplayResult(queue=body.queue, from_=body.from_, to=end, replayed=replayed)


async def _publish(broker: Any, queue: str, entry: dict[str, Any]) -> None:
    await publish_stored(broker, entry["body"], entry["_id"], entry["type"], entry.get("correlationid"),
                         queue=queue, headers={REPLAY_HEADER: entry["routing_key"]})
