"""The recipient aggregate's rules, without a store: secrets, one-line names, versions, events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifications.domain import Delivery, NotRetryable
from services.notifications.recipient import Recipient, RecipientAdded, RecipientChanged, RecipientRemoved
from shared.errors import Invalid

AT = datetime(2026, 12, 1, tzinfo=UTC)
LATER = datetime(2026, 12, 2, tzinfo=UTC)


def hook(**values):
    return Recipient.add("R1", {"name": "Dashboard", "kind": "system", "webhook_url": "https://x.example/h",
                                "language": "id", "subscriptions": [], "regions": [], **values}, AT,
                         secret=lambda: "generated")


def test_a_webhook_gets_a_secret_and_a_secret_without_a_webhook_is_dropped():
    assert hook().webhook_secret == "generated"
    assert hook(webhook_secret="mine-mine-mine-16").webhook_secret == "mine-mine-mine-16"
    staff = Recipient.add("R2", {"name": "Rina", "kind": "staff", "webhook_secret": "x" * 16}, AT)
    assert staff.webhook_secret is None and staff.channels == ["inbox"]
    assert staff.events == [RecipientAdded("R2")] and staff.version == 1


def test_a_change_is_a_new_version_and_says_whether_the_secret_is_new():
    recipient = hook()
    recipient.events.clear()
    assert recipient.change({"language": "en"}, rotate_secret=False, at=LATER) is False
    assert recipient.version == 2 and recipient.updated_at == LATER
    assert recipient.change({}, rotate_secret=True, at=LATER, secret=lambda: "rotated") is True
    assert recipient.webhook_secret == "rotated"
    assert recipient.change({"webhook_url": None}, rotate_secret=False, at=LATER) is False
    assert recipient.webhook_secret is None and recipient.channels == ["inbox"] and recipient.version == 4
    assert [type(e) for e in recipient.events] == [RecipientChanged] * 3


def test_a_name_with_a_control_character_is_refused_naming_the_field():
    with pytest.raises(Invalid) as refused:
        hook().change({"name": "Rina\r\nBcc: x@evil.example"}, rotate_secret=False, at=LATER)
    assert [e["field"] for e in refused.value.errors] == ["name"]


def test_removing_records_it():
    recipient = hook()
    recipient.remove()
    assert recipient.removed and recipient.events[-1] == RecipientRemoved("R1")


def test_only_a_failed_or_dead_delivery_is_retried_and_the_refusal_names_its_status():
    doc = {"_id": "D1", "status": "dead", "attempts": 3, "attempt_limit": 3, "version": 5}
    delivery = Delivery(dict(doc))
    delivery.retry(LATER, LATER)
    assert delivery.doc["status"] == "pending" and delivery.doc["attempt_limit"] == 4 and delivery.version == 6
    with pytest.raises(NotRetryable) as refused:
        Delivery({**doc, "status": "sending"}).retry(LATER, LATER)
    assert refused.value.facts == {"current_status": "sending"}
