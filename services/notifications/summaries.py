"""Summaries instead of floods (issue 14 point 3): a burst of one rule's notifications from one
cause reaches each recipient as one message ("83 mitra baru dari impor mitra_83.xlsx", with a list).

Which notifications are summed up, and how they are grouped:

- events of one *batch* (CloudEvents ``batchid``: one import, the demo load) are grouped exactly:
  every one becomes a line of the batch's summary, sent ``batch_seconds`` after its first event;
- other events of one rule from one actor (the token's ``sub``) within a ``window_seconds`` window:
  the first is notified at once as ever, the rest of that window become one summary at its end;
- only the rules that events fire for staff (``GROUPED``); only the staff's part is held: the
  partner contacts a trigger invites (or tells of a cancellation) are notified at once, each on
  their own (``handlers._notify``, ``Notifier.notify(staff=False)``).

Exact across restarts, without transactions: each line is an insert keyed by ``<group>/<cause>``
(a redelivered event adds nothing, for a day after its summary too), the open group is a document inserted once, and its flush is a
scheduled job (``JobKind.summary``) run under the scheduler's claim. The summary's notification id
comes from the group and when it opened, so a flush re-run after a crash stores nothing twice.
A line that arrives while its group is flushed opens the group again: a second, later summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifications.domain import Job, JobKind, Trigger, stamp
from services.notifications.store import Claims, Jobs, SummaryBook
from shared.events import AnyEvent

GROUPED = ("partner.registered", "activity.scheduled", "activity.cancelled")
DONE_KEPT = timedelta(days=1)  # lines of a sent summary, kept to recognise a redelivered event
LINES_SHOWN = 200  # a summary lists at most this many; it always says how many there were


class SummarySettings(BaseSettings):
    """``SINERGI_NOTIFY_SUMMARY_WINDOW_SECONDS`` (0: no window grouping) and ``..._BATCH_SECONDS``."""

    model_config = SettingsConfigDict(env_prefix="SINERGI_NOTIFY_SUMMARY_", extra="ignore")

    window_seconds: float = Field(60.0, ge=0)
    batch_seconds: float = Field(20.0, gt=0)


@dataclass(frozen=True)
class Line:
    """One notification as a line of a summary."""

    cause: str
    text: str
    regions: tuple[str, ...]
    item: dict[str, Any]


def line_of(trigger: Trigger) -> Line:
    """What a summary says of one notification: the partner's name, or the activity's title and day."""
    context = trigger.context
    if "p" in context:
        partner = context["p"]
        return Line(trigger.cause, partner.name or partner.id, tuple(trigger.regions),
                    {"id": partner.id, "name": partner.name})
    activity = context.get("a") or {}
    starts = context.get("starts")
    return Line(trigger.cause, activity.get("title") or activity.get("id") or trigger.cause, tuple(trigger.regions),
                {"id": activity.get("id"), "title": activity.get("title"),
                 "starts_at": starts.isoformat() if isinstance(starts, datetime) else None})


class Summaries:
    """Holds back the notifications a burst would flood recipients with, and sends their summaries."""

    def __init__(self, book: SummaryBook, jobs: Jobs, claims: Claims, settings: SummarySettings,
                 expect: Callable[[datetime], None]) -> None:
        self.book = book
        self.jobs = jobs
        self.claims = claims
        self.settings = settings
        self.expect = expect

    async def hold(self, trigger: Trigger, event: AnyEvent, now: datetime) -> bool:
        """Keep ``trigger`` for a summary (``True``), or leave it to be notified now (``False``)."""
        if trigger.rule not in GROUPED:
            return False
        batch_id = getattr(event, "batchid", None)
        actor = getattr(event, "actor", None)
        if batch_id:
            group = f"batch:{batch_id}:{trigger.rule}"
            opened = {"label": getattr(event, "batchlabel", None), "batch": batch_id}
            due = now + timedelta(seconds=self.settings.batch_seconds)
        elif actor and self.settings.window_seconds > 0:
            window = self.settings.window_seconds
            index = math.floor(event.time.timestamp() / window)
            key = f"{trigger.rule}:{actor}:{index}"
            if await self._leads(f"summary-lead:{key}", trigger.cause, now):
                return False  # the first of its window: notified at once
            group = f"window:{key}"
            opened = {"label": None, "batch": None}
            due = datetime.fromtimestamp((index + 1) * window, tz=now.tzinfo) + timedelta(seconds=1)
        else:
            return False
        line = line_of(trigger)
        line_id = f"{group}/{line.cause}"
        added = await self.book.add_line({"_id": line_id, "group": group, "cause": line.cause, "text": line.text,
                                          "regions": list(line.regions), "item": line.item, "at": trigger.occurred_at})
        if not added and await self.book.line_done(line_id):
            return True  # redelivered after its summary went out
        await self._open(group, {"rule": trigger.rule, "actor": actor, "actorname": getattr(event, "actorname", None),
                                 "correlation_id": trigger.correlation_id, **opened}, due, now)
        return True

    async def _leads(self, claim: str, cause: str, now: datetime) -> bool:
        """Whether ``cause`` is the first of its window (a redelivery of the first one still is)."""
        if await self.claims.take(claim, cause, now):
            return True
        return await self.claims.holder(claim) == cause

    async def _open(self, group: str, fields: dict[str, Any], due: datetime, now: datetime) -> None:
        """The group, open until ``due`` unless it is open already; its flush job either way (an
        insert: one that is there stays), so a crash between the two loses nothing."""
        await self.book.open_group({"_id": group, **fields, "opened_at": now, "due_at": due})
        found = await self.book.group(group)
        if found is None:
            return  # flushed meanwhile, after this line was read or not: the flush looks again
        job = Job(f"summary:{group}", stamp(found["opened_at"]), JobKind.summary, group, found["due_at"])
        await self.jobs.ensure(job, now)
        self.expect(found["due_at"])

    async def flush(self, job: Job) -> tuple[Trigger | None, list[str]]:
        """The summary of the group the job names (``None`` if it has no lines), and its lines' ids."""
        group = await self.book.group(job.subject)
        if group is None or stamp(group["opened_at"]) != job.occurrence:
            return None, []
        lines = await self.book.open_lines(job.subject)
        return (summary_trigger(group, lines, job) if lines else None), [line["_id"] for line in lines]

    async def close(self, job: Job, done: list[str], now: datetime) -> None:
        """After the summary is stored: forget its lines and the group; a line that came in
        meanwhile opens the group again (a later summary of its own)."""
        # Kept a day as done, so an event redelivered after the flush is not summed up again.
        await self.book.mark_done(done, now)
        group = await self.book.group(job.subject)
        if group is None or stamp(group["opened_at"]) != job.occurrence:
            return
        await self.book.close_group(job.subject)
        if await self.book.open_lines(job.subject):
            fields = {k: v for k, v in group.items() if k not in {"_id", "opened_at", "due_at"}}
            await self._open(job.subject, fields, now + timedelta(seconds=self.settings.batch_seconds), now)


def summary_trigger(group: dict[str, Any], lines: list[dict[str, Any]], job: Job) -> Trigger:
    """One notification for the group's lines, to whoever the rule reaches in any of their regions."""
    regions = sorted({r for line in lines for r in line.get("regions") or []})
    if any(not line.get("regions") for line in lines):
        regions = []  # a line about the whole instance: everyone the rule reaches
    shown = [line["text"] for line in lines[:LINES_SHOWN]]
    context = {"rule": group["rule"], "count": len(lines), "label": group.get("label"),
               "actor": group.get("actorname") or group.get("actor"), "items": shown,
               "more": max(len(lines) - LINES_SHOWN, 0), "batch": bool(group.get("batch"))}
    data = {"summary": {"rule": group["rule"], "count": len(lines), "batch": group.get("batch"),
                        "label": group.get("label"), "items": [line["item"] for line in lines]}}
    return Trigger(group["rule"], "summary", f"{group['_id']}@{job.occurrence}", "summary", group["opened_at"],
                   tuple(regions), context, data=data, correlation_id=group.get("correlation_id"))
