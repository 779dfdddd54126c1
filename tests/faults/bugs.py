"""Bugs outside tests/faults that the fault tests found and that are not fixed yet, as the
``xfail`` reasons naming them. Each has its minimal case, marked ``xfail(strict=True)``, in
``test_notifications_under_faults.py``; the steady stream reports a failure that matches one of
them exactly as ``xfail`` too. Delete an entry, and its markers, once its minimal test passes.
"""

RETRY_REORDERS = (
    "an event retried after a transient failure (the store away) is handled after the later events of its "
    "aggregate, and then ignored as stale: shared/consumer.py EventQueue.deliver forwards it to a retry queue "
    "(the ConnectionFailure branch), while the queue goes on; services/notifications/handlers.py "
    "Rules.on_activity / on_partner then find the read model newer (Applied.STALE) and fire no rule, so an "
    "activity's 'scheduled' notification is lost when its 'held' event overtook it, a partner's 'registered' "
    "one when its first update did. docs/notifications.md "
    "promises events handled in arrival order. Fix: when the store is unreachable, retry the handler in place "
    "(back off and try again while holding the queue's order / the aggregate's lock) instead of re-queueing "
    "the message behind later ones."
)
