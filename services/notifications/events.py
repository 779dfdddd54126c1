"""The events notifications publishes, mapped on purpose from a delivery's outcome.

``sinergi.notification.sent`` and ``.failed`` carry a :class:`~shared.events.NotificationSnapshot`
built here, field by field, from the delivery as stored: never the document itself, whose body,
payload, address and attempt history are not for subscribers. ``notification_id``, ``region`` and
``cause`` ride as the snapshot's extra members, as they always have (docs/notifications.md).
"""

from __future__ import annotations

from typing import Any

from shared.events import AnyEvent, EventType, NotificationSnapshot, make_event

SERVICE = "notifications"


def delivery_snapshot(delivery: dict[str, Any]) -> NotificationSnapshot:
    """The delivery as subscribers see it; a partner's contact is named by its audience
    (``contact:<address>``), having no recipient id."""
    return NotificationSnapshot(
        id=delivery["_id"],
        version=delivery["version"],
        created_at=delivery["created_at"],
        updated_at=delivery["updated_at"],
        notification_id=delivery["notification_id"],
        recipient_id=delivery["recipient_id"] or delivery["audience"],
        rule=delivery["rule"],
        subject=delivery["subject"],
        channel=delivery["channel"],
        region=delivery["region"],
        cause=delivery["cause"],
        delivery={"status": delivery["status"], "attempts": delivery["attempts"],
                  "last_error": delivery["last_error"]},
    )


def delivery_ended(event_type: EventType, delivery: dict[str, Any]) -> AnyEvent:
    """``sinergi.notification.sent`` or ``.failed`` for the delivery at its new version."""
    snapshot = delivery_snapshot(delivery)
    return make_event(event_type, region=delivery["region"], service=SERVICE, subject=delivery["_id"],
                      version=delivery["version"], data=snapshot.model_dump())
