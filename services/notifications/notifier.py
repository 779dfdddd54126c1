"""Use cases of delivery: fan a trigger out to its audience, and carry each delivery through.

(Over 400 lines: the notifier makes the delivery documents the runner carries through, one shape
read and written in one place.)

Exactly once, without transactions:

- a notification's id comes from (rule, cause, audience) and it is stored by an insert keyed
  on ``_id``, one collection per recipient: the same cause twice is one notification;
- each e-mail or webhook is a *delivery* (id = notification id + channel), inserted the same
  way; when a cause is handled again (a redelivered event, a re-run job) deliveries already
  sent and moved to the log are not brought back;
- attempt *n* of a delivery is sent only by the process whose insert of the claim
  ``delivery:<id>@<n>`` succeeded, after it stored the delivery as ``sending``; the outcome
  (``sent``, ``failed`` with the next attempt's time, ``dead``) and its
  ``sinergi.notification.sent`` / ``.failed`` event are one document write;
- the outcome is then copied onto the inbox notification in a second write, which a crash or a
  store error can lose: the scheduler copies the summary of each delivery that ends (``sent``,
  before it moves to the log; ``dead``) again where the notification shows an older one
  (:meth:`DeliveryRunner.show`). A summary carries the delivery's version, and only a later
  version replaces it, so the copies converge on the newest whatever order they land in.

A process that dies while a delivery is ``sending`` leaves it there; after the lease
(:meth:`DeliveryRunner.recover`) a webhook counts the attempt as failed and tries again
(receivers dedupe on ``X-Sinergi-Delivery``), while an e-mail is **not** re-sent: it becomes
``dead`` saying the outcome is unknown, and an admin may retry it by hand. A chat message is
sent again, as a webhook is (no chat provider dedupes).

Chat (``chat.py``) is a channel like the others: the same delivery, attempts, claims, backoff and
dead state. Two things are its own: a provider may say how long to wait (``retry_after``, which
the next attempt respects), and a chat message due in the recipient's quiet hours (a partner
contact's: ``SINERGI_NOTIFY_CONTACT_QUIET_HOURS``) waits for their end, on the instance's clock.
A recipient that lists its channels in order gets a notification on the first it can be reached
on; when that delivery ends ``dead`` the next is tried (``recipient.plan``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.notifications.channels import DeliveryFailed, DeliveryRefused, Email, Mailer, WebhookSender
from services.notifications.chat import ChatMessage, ChatSenders, configured
from services.notifications.clock import Clock
from services.notifications.config import NotifySettings
from services.notifications.domain import (
    Trigger,
    Delivery,
    NotRetryable,
    backoff,
    delivery_id,
    notification_id,
    summary,
    wants,
)
from services.notifications.events import delivery_ended
from services.notifications.recipient import ADDRESSES, CHAT, QuietHours, e164, plan, quiet_hours
from services.notifications.store import Deliveries, Inboxes, Recipients
from services.notifications.texts import Texts
from shared.clock import now_ms
from shared.errors import NotFound
from shared.events import EventType
from shared.logging import bound, get_logger
from shared.outbox import OUTBOX, PENDING, StaleVersion
from shared.unit_of_work import UnitOfWork

log = get_logger(__name__)

CHUNK = 500
RECIPIENTS_TTL = 10.0
HISTORY = 20
INTERRUPTED_EMAIL = (
    "the service stopped while this e-mail was being handed to the SMTP server, so whether it went out is "
    "unknown; it is not sent again automatically, to avoid a duplicate. Retry it by hand if it did not arrive."
)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter("sinergi_notifications_total", "Notifications stored", ["rule"],
                                     registry=registry)
        self.deliveries = Counter("sinergi_notification_deliveries_total", "Delivery attempts by outcome",
                                  ["channel", "outcome"], registry=registry)
        self.latency = Histogram("sinergi_notification_delivery_seconds", "From cause to delivery", ["channel"],
                                 registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


class Notifier:
    """Turns a trigger into notifications (inbox) and deliveries (e-mail, webhook)."""

    def __init__(self, recipients: Recipients, inboxes: Inboxes, deliveries: Deliveries, texts: Texts, clock: Clock,
                 config: NotifySettings, region: str, wake: Callable[[], None], metrics: Metrics,
                 hand_over: Callable[[list[dict[str, Any]]], None]) -> None:
        self.recipients = recipients
        self.inboxes = inboxes
        self.deliveries = deliveries
        self.texts = texts
        self.clock = clock
        self.config = config
        self.region = region
        self.wake = wake
        self.hand_over = hand_over  # new deliveries, to the scheduler: they start without its tick
        self.metrics = metrics
        self.available = frozenset({"email", "webhook"}) | configured(config)
        self.zone_name = getattr(texts.zone, "key", "UTC")
        self.contact_quiet = QuietHours.of(config.contact_quiet_hours)

    async def notify(self, trigger: Trigger, rerun: bool = False, staff: bool = True) -> int:
        """Store the trigger's notifications; ``rerun`` when this cause may have been handled before.
        ``staff=False``: only the partners' contacts (the staff's part is held for a summary)."""
        if not self.config.enabled(trigger.rule):
            return 0
        audience = [r for r in await self.recipients.recent() if wants(r, trigger.rule, trigger.regions)] if staff else []
        rendered: dict[str, tuple[str, str]] = {}
        stored = 0
        deliveries: list[dict[str, Any]] = []
        for recipient in audience:
            language = recipient.get("language") or "id"
            if language not in rendered:
                rendered[language] = self.texts.render(language, trigger.template, trigger.context)
            subject, body = rendered[language]
            stored += await self._to_recipient(trigger, recipient, language, subject, body, deliveries)
        for contact in trigger.contacts:
            subject, body = self.texts.render("id", trigger.contact_template or trigger.template,
                                              {**trigger.context, "contact": contact})
            nid = notification_id(trigger.rule, trigger.cause, contact.audience, trigger.occurred_at)
            if contact.email:
                deliveries.append(self._delivery(trigger, nid, "email", contact.audience, None, contact.email,
                                                 contact.name, "id", subject, body))
            phone = contact.phone
            if phone and "whatsapp" in self.available:
                # A number that is not one is kept as given: its attempt ends dead saying so.
                deliveries.append(self._delivery(trigger, nid, "whatsapp", contact.audience, None, _phone(phone),
                                                 contact.name, "id", subject, body, quiet=self.contact_quiet))
        # Deliveries are stored (and start) once every inbox has its notification: the inbox
        # comes first, and writes of both at once would only slow each other on the store. A
        # crash before this point re-runs the cause, which stores them then.
        for start in range(0, len(deliveries), CHUNK):
            chunk = deliveries[start:start + CHUNK]
            added = await self.deliveries.add_new(chunk, check_log=rerun)
            self.hand_over([d for d in chunk if d["_id"] in added])
            if len(added) < len(chunk):
                # Stored before (the cause runs again after a crash): a tick finds where they are.
                self.wake()
        return stored

    async def _to_recipient(self, trigger: Trigger, recipient: dict[str, Any], language: str, subject: str, body: str,
                            deliveries: list[dict[str, Any]]) -> int:
        nid = notification_id(trigger.rule, trigger.cause, recipient["_id"], trigger.occurred_at)
        now_channels, reserve = plan(recipient, self.available)
        channels = ["inbox", *now_channels, *reserve]
        outside = [self._delivery(trigger, nid, channel, f"recipient:{recipient['_id']}", recipient["_id"],
                                  recipient.get(ADDRESSES[channel]), recipient.get("name"), language, subject, body,
                                  quiet=quiet_hours(recipient), reserve=reserve)
                   for channel in now_channels]
        for delivery in outside:
            # Another channel also records its outcome on the notification (now, or after a fallback).
            delivery["shared"] = len(outside) + len(reserve) > 1
        now = now_ms()
        note = {
            "_id": nid, "recipient_id": recipient["_id"], "rule": trigger.rule, "subject": subject, "body": body,
            "language": language, "channels": channels, "read_at": None,
            "cause": {"type": trigger.cause_type, "id": trigger.cause}, "occurred_at": trigger.occurred_at,
            "data": trigger.data,
            "delivery": {"inbox": {"status": "sent", "attempts": 1, "last_error": None},
                         **{d["channel"]: summary(d) for d in outside}},
            "version": 1, "created_at": now, "updated_at": now,
        }
        # The inbox first: a delivery's outcome is then always recorded on an existing notification.
        added = await self.inboxes.add(recipient["_id"], note)
        if added:
            self.metrics.notifications.labels(trigger.rule).inc()
        deliveries.extend(outside)
        return int(added)

    def _delivery(self, trigger: Trigger, nid: str, channel: str, audience: str, recipient_id: str | None,
                  to: str | None, to_name: str | None, language: str, subject: str, body: str,
                  quiet: QuietHours | None = None, reserve: list[str] | None = None) -> dict[str, Any]:
        now = now_ms()
        did = delivery_id(nid, channel)
        due = self.clock.now()
        if channel in CHAT and quiet is not None:
            due = quiet.until(due, ZoneInfo(self.zone_name)) or due  # chat waits for the morning
        doc: dict[str, Any] = {
            "_id": did, "notification_id": nid, "recipient_id": recipient_id, "audience": audience,
            "rule": trigger.rule, "channel": channel, "to": to, "to_name": to_name, "language": language,
            "subject": subject, "region": self.region,
            "cause": {"type": trigger.cause_type, "id": trigger.cause}, "occurred_at": trigger.occurred_at,
            "correlationid": trigger.correlation_id,
            "status": "pending", "attempts": 0, "attempt_limit": self.config.max_attempts, "last_error": None,
            "next_attempt_at": due, "attempt_started_at": None, "sent_at": None, "history": [],
            "version": 1, "created_at": now, "updated_at": now,
        }
        if channel in CHAT:
            doc["zone"] = self.zone_name  # the wall clock of quiet hours, for the retries
        if reserve:
            doc["fallback"] = list(reserve)  # the channels to try, in order, should this one end dead
        if channel != "webhook":
            doc["body"] = body
        if channel == "webhook" or "webhook" in (reserve or []):
            payload = {
                "id": did, "type": "sinergi.notification", "notification_id": nid, "rule": trigger.rule,
                "recipient_id": recipient_id, "region": self.region, "language": language, "subject": subject,
                "body": body, "occurred_at": trigger.occurred_at.isoformat(),
                "cause": {"type": trigger.cause_type, "id": trigger.cause}, "data": trigger.data,
            }
            # Stored as the exact bytes to send: every attempt carries the same body and signature.
            doc["payload"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
        return doc


class SendSlot:
    """One of a channel's send slots, taken before a delivery attempt is stored as ``sending`` and,
    with several processes, given back as soon as its message is handed over (or the attempt ends
    without it).

    Recording the outcome may wait for another process's write lease on the notification, up to
    ``WriteLeases.SECONDS`` when that process was killed; a slot held meanwhile kept the channel's
    other messages waiting behind it (four such e-mails stopped every e-mail of the process).
    """

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = False

    async def __aenter__(self) -> SendSlot:
        await self._slots.acquire()
        self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.give_back()

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


class DeliveryRunner:
    """One attempt of one delivery; recovery of attempts a dead process left; retries by hand."""

    def __init__(self, deliveries: Deliveries, inboxes: Inboxes, recipients: Recipients, mailer: Mailer,
                 webhooks: WebhookSender, clock: Clock, config: NotifySettings, metrics: Metrics,
                 wake: Callable[[], None]) -> None:
        self.deliveries = deliveries
        self.inboxes = inboxes
        self.recipients = recipients
        self.mailer = mailer
        self.webhooks = webhooks
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.wake = wake
        # Taken before an attempt is stored as ``sending``, so that only messages really being
        # handed over are ``sending`` (and, after a crash, of unknown outcome).
        self.chat = ChatSenders(config)
        self._slots = {"email": asyncio.Semaphore(config.smtp_concurrency),
                       "webhook": asyncio.Semaphore(config.concurrency),
                       **{channel: asyncio.Semaphore(config.concurrency) for channel in CHAT}}
        self._recipients: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self.unit: UnitOfWork[Delivery] = UnitOfWork(deliveries, kind="delivery")
        # With several processes, recording an outcome may wait for a lease a killed process left
        # (``SendSlot``): the slot is given back once the message is handed over. With one, it is
        # held until the outcome is stored, so that a crash catches at most ``smtp_concurrency``
        # e-mails of unknown outcome.
        self._give_back_early = deliveries.active.leases is not None

    def slot(self, channel: str) -> SendSlot:
        return SendSlot(self._slots[channel])

    async def attempt(self, doc: dict[str, Any], attempt: int, resumed: bool = False,
                      slot: SendSlot | None = None) -> None:
        """Send attempt ``attempt`` of the delivery ``doc`` (as the scheduler read it; it holds the claim).

        ``resumed``: the attempt's claim was taken by a process that has not finished it within
        the lease (it stopped, or it is very slow). That process may have handed the message
        over, so an e-mail is not sent again but ends ``dead`` as of unknown outcome, while a
        webhook is sent again (receivers dedupe on its delivery id). ``slot``: the channel's send
        slot the caller took, given back once the message is handed over.
        """
        did = doc["_id"]
        async with self.deliveries.lock(did):
            if doc["status"] not in {"pending", "failed"} or doc["attempts"] != attempt - 1:
                return
            started = now_ms()
            if resumed and doc["channel"] == "email":
                log.warning("e-mail attempt abandoned by its claimant; not sent again", delivery_id=did)
                await self._conclude(doc, attempt, error=INTERRUPTED_EMAIL, give_up=True, started=started, ms=0)
                return
            target = await self._target(doc)
            if isinstance(target, str):
                await self._conclude(doc, attempt, error=target, give_up=True, started=started, ms=0)
                return
            if doc["channel"] == "email":
                sending = {"status": "sending", "attempts": attempt, "attempt_started_at": started,
                           "to": target["to"], "to_name": target["to_name"], "version": doc["version"] + 1,
                           "updated_at": started}
                if not await self.deliveries.mark(did, doc["version"], sending):
                    return  # changed since the scan; the next tick looks again
                doc = {**doc, **sending}
        with bound(doc.get("correlationid"), doc["cause"]["id"], delivery_id=did, channel=doc["channel"]):
            began = time.perf_counter()
            error: str | None = None
            give_up = False
            wait: float | None = None
            message_id: str | None = None
            try:
                try:
                    message_id = await self._send(doc, target, attempt)
                finally:
                    if slot is not None and self._give_back_early:
                        slot.give_back()  # handed over: recording the outcome needs no slot
            except DeliveryRefused as exc:
                error, give_up = str(exc), True  # refused again on every attempt, until an admin changes it
            except DeliveryFailed as exc:
                error, wait = str(exc), exc.retry_after
            except Exception as exc:  # a bug or an unexpected library error: still an outcome to record
                log.exception("delivery attempt raised")
                error = f"{exc.__class__.__name__}: {exc}"
            ms = round((time.perf_counter() - began) * 1000, 1)
            async with self.deliveries.lock(did):
                await self._conclude(doc, attempt, error=error, give_up=give_up, started=started, ms=ms,
                                     resumed=resumed, target=target, wait=wait, message_id=message_id)

    async def _conclude(self, doc: dict[str, Any], attempt: int, **outcome: Any) -> None:
        """Record the outcome on ``doc`` as read; if it changed meanwhile, on the fresh one. A real
        outcome replaces an "unknown" that another process recorded while this one was slow."""
        try:
            await self._finish(doc, attempt, **outcome)
        except StaleVersion:
            fresh = await self.deliveries.at_work(doc["_id"])
            if fresh is None or fresh["status"] == "sent" or fresh["attempts"] > attempt:
                return
            if fresh["status"] == "dead" and (fresh["last_error"] != INTERRUPTED_EMAIL
                                              or outcome["error"] == INTERRUPTED_EMAIL):
                return
            await self._finish(fresh, attempt, **outcome)

    async def _target(self, doc: dict[str, Any]) -> dict[str, Any] | str:
        """Where to send now: a recipient as it is now, its address, name and secret (an admin may
        have fixed them since the delivery was queued); a partner's contact as the cause named it."""
        channel = doc["channel"]
        if doc["recipient_id"] is None:
            if channel == "whatsapp" and not _phone(doc["to"] or "").startswith("+"):
                return f"{doc['to']!r} is not a phone number WhatsApp can be sent to"
            return {"to": doc["to"], "to_name": doc.get("to_name")}
        recipient = await self._recipient(doc["recipient_id"])
        if recipient is None:
            return "the recipient was removed"
        if channel == "email":
            if not recipient.get("email"):
                return "the recipient has no e-mail address now"
            return {"to": recipient["email"], "to_name": recipient.get("name")}
        if channel in CHAT:
            if not recipient.get(ADDRESSES[channel]):
                return f"the recipient has no {ADDRESSES[channel]} now"
            return {"to": recipient[ADDRESSES[channel]], "to_name": recipient.get("name")}
        if not recipient.get("webhook_url"):
            return "the recipient has no webhook now"
        return {"to": recipient["webhook_url"], "secret": recipient.get("webhook_secret") or ""}

    async def _recipient(self, recipient_id: str) -> dict[str, Any] | None:
        """A recipient as of at most ``RECIPIENTS_TTL`` seconds ago (one read per recipient per
        batch, not per attempt); this process's own changes are seen at once (``forget``)."""
        cached = self._recipients.get(recipient_id)
        if cached is not None and time.monotonic() - cached[0] < RECIPIENTS_TTL:
            return cached[1]
        found = await self.recipients.get(recipient_id)
        self._recipients[recipient_id] = (time.monotonic(), found)
        if len(self._recipients) > 10_000:
            self._recipients.clear()
        return found

    def forget(self, recipient_id: str) -> None:
        self._recipients.pop(recipient_id, None)

    async def show(self, deliveries: list[dict[str, Any]]) -> int:
        """Make the notifications of these deliveries (as the scheduler read them) show their
        state where they show an older one; idempotent. Returns how many it changed."""
        written = await self.inboxes.show(deliveries)
        if written:
            log.warning("notifications repaired: they did not show their delivery's outcome", count=written)
        return written

    async def _send(self, doc: dict[str, Any], target: dict[str, Any], attempt: int) -> str | None:
        """Send one attempt; the provider's id of the message, where it gives one (chat)."""
        if doc["channel"] == "email":
            await self.mailer.send(Email(doc["_id"], target["to"], target["to_name"], doc["subject"], doc["body"],
                                         doc["language"], doc["rule"]))
        elif doc["channel"] in CHAT:
            return await self.chat.send(doc["channel"], ChatMessage(doc["_id"], target["to"], doc["subject"],
                                                                    doc["body"], doc["language"]))
        else:
            await self.webhooks.send(target["to"], target["secret"], doc["payload"].encode(), doc["_id"], doc["rule"],
                                     attempt)
        return None

    async def _finish(self, doc: dict[str, Any], attempt: int, error: str | None, give_up: bool, started: datetime,
                      ms: float, resumed: bool = False, target: dict[str, Any] | None = None,
                      wait: float | None = None, message_id: str | None = None) -> None:
        """``target``: where the attempt went (none when it was not made), kept on the delivery, in
        the attempt's history and in the log, since an admin may change a recipient between attempts.
        ``wait``: the seconds the provider asked for before the next attempt (a rate limit)."""
        to = target["to"] if target else doc.get("to")
        entry = {"attempt": attempt, "at": started, "ms": ms, "outcome": "sent" if error is None else "failed",
                 "error": error, "to": to}
        if message_id:
            entry["message_id"] = message_id  # the provider's id of the message (chat)
        if resumed:
            entry["resumed"] = "the process that first took this attempt stopped before recording its outcome"
        history = [*doc.get("history", []), entry]
        changes: dict[str, Any] = {"attempts": attempt, "history": history[-HISTORY:], "last_error": error, "to": to}
        if target and "to_name" in target:
            changes["to_name"] = target["to_name"]
        if error is None:
            changes.update(status="sent", sent_at=now_ms())
            event = EventType.NOTIFICATION_SENT
        elif give_up or attempt >= doc["attempt_limit"]:
            changes["status"] = "dead"
            event = EventType.NOTIFICATION_FAILED
        else:
            delay = backoff(attempt, self.config.retry_base_seconds, self.config.retry_max_seconds, random.random())
            if wait is not None:
                delay = max(delay, wait)  # a rate limit's retry_after, never sooner
            changes.update(status="failed", next_attempt_at=await self._after_quiet(
                doc, self.clock.now() + timedelta(seconds=delay)))
            event = None
        saved = await self._save(doc, event=event, **changes)
        outcome = "sent" if error is None else changes["status"]
        self.metrics.deliveries.labels(doc["channel"], outcome).inc()
        if error is None:
            self.metrics.latency.labels(doc["channel"]).observe(
                max((now_ms() - doc["created_at"]).total_seconds(), 0))
        log.info("delivery attempt", delivery_id=doc["_id"], channel=doc["channel"], attempt=attempt, to=to,
                 outcome=outcome, error=error, ms=ms)
        if saved["recipient_id"]:
            await self.inboxes.set_delivery(saved["recipient_id"], saved["notification_id"], saved["channel"],
                                            summary(saved), saved["updated_at"], verify=saved.get("shared", True))
        if saved["status"] == "dead" and saved.get("fallback") and saved["recipient_id"]:
            await self._fall_back(saved)
        if saved["status"] == "failed":
            self.wake()

    async def _after_quiet(self, doc: dict[str, Any], at: datetime) -> datetime:
        """``at``, or the end of the quiet hours it falls in for a chat message (the recipient's as
        they are now; a partner contact's from the settings)."""
        if doc["channel"] not in CHAT or not doc.get("zone"):
            return at
        if doc["recipient_id"] is None:
            quiet = QuietHours.of(self.config.contact_quiet_hours)
        else:
            recipient = await self._recipient(doc["recipient_id"])
            quiet = quiet_hours(recipient) if recipient else None
        return (quiet.until(at, ZoneInfo(doc["zone"])) or at) if quiet else at

    async def _fall_back(self, dead: dict[str, Any]) -> None:
        """The delivery on the recipient's preferred channel ended dead: the next channel it listed
        gets the notification (a new delivery, shown on the notification beside the dead one)."""
        channel, rest = dead["fallback"][0], dead["fallback"][1:]
        now = now_ms()
        doc = {k: v for k, v in dead.items() if k not in {OUTBOX, PENDING}}
        doc.update(_id=delivery_id(dead["notification_id"], channel), channel=channel, to=None, status="pending",
                   attempts=0, attempt_limit=self.config.max_attempts, last_error=None, attempt_started_at=None,
                   sent_at=None, history=[], version=1, created_at=now, updated_at=now, fallback=rest,
                   fell_back_from=dead["_id"], next_attempt_at=self.clock.now())
        doc.pop("zone", None)
        if channel in CHAT:
            doc["zone"] = dead.get("zone") or "UTC"
            doc["next_attempt_at"] = await self._after_quiet(doc, doc["next_attempt_at"])
        if not rest:
            doc.pop("fallback")
        if await self.deliveries.add_new([doc], check_log=True):
            log.info("delivery falls back to the next preferred channel", delivery_id=dead["_id"], channel=channel)
            await self.inboxes.set_delivery(doc["recipient_id"], doc["notification_id"], channel, summary(doc),
                                            now, verify=True)
            self.wake()

    async def _save(self, doc: dict[str, Any], event: EventType | None = None, **changes: Any) -> dict[str, Any]:
        """One version-conditioned write of the delivery, with its outcome event if any.

        Not the unit of work: an attempt is the delivery worker's state machine, holding the
        delivery's lock across two writes around the send (``sending``, then the outcome), and on
        a lost race it decides on the fresh state (:meth:`_conclude`) rather than applying the
        same change again. Its writes are still checked by ``_id`` and wait for a busy store
        (``Deliveries.mark``/``record``)."""
        new = {k: v for k, v in doc.items() if k not in {OUTBOX, PENDING}}
        new.update(changes, version=doc["version"] + 1, updated_at=now_ms())
        events = []
        if event is not None:
            with bound(doc.get("correlationid"), doc["cause"]["id"]):
                events.append(delivery_ended(event, new))
        await self.deliveries.record(new, doc["version"], events, pending=doc.get(OUTBOX) or [])
        return new

    async def recover(self, did: str) -> None:
        """An e-mail left ``sending`` by a process that died (the caller holds the recovery claim)."""
        async with self.deliveries.lock(did):
            doc = await self.deliveries.at_work(did)
            if doc is None or doc["status"] != "sending":
                return
            attempt = doc["attempts"]
            started = doc.get("attempt_started_at") or now_ms()
            log.warning("e-mail interrupted mid-send; not re-sent", delivery_id=did, attempt=attempt)
            await self._finish(doc, attempt, error=INTERRUPTED_EMAIL, give_up=True, started=started, ms=0)

    async def retry(self, did: str) -> dict[str, Any]:
        """An admin's retry of a failed or dead delivery: one more attempt, now. A client's change
        of one delivery, so through the unit of work (the same lock as an attempt's)."""
        try:
            delivery = await self.unit.change(did, None, lambda d: d.retry(self.clock.now(), now_ms()))
        except NotFound:
            if await self.deliveries.logged(did):
                raise NotRetryable(f"delivery {did} was sent; there is nothing to retry",
                                   current_status="sent") from None
            raise
        saved = delivery.doc
        if saved["recipient_id"]:
            await self.inboxes.set_delivery(saved["recipient_id"], saved["notification_id"], saved["channel"],
                                            summary(saved), saved["updated_at"], verify=saved.get("shared", True))
        self.wake()
        return saved


def _phone(number: str) -> str:
    """A partner contact's number as E.164, or as given when it is not one (its attempt says so)."""
    try:
        return e164(number)
    except ValueError:
        return number
