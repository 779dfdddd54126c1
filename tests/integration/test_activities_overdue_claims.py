"""A fact claimed by a process that died before announcing it is announced by another, later.

The overdue-report announcement is claimed by an insert (once across processes); a claim left by a
crash between the claim and the write would otherwise keep that fact unannounced for good.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.activities.store import Claims


async def test_a_claim_left_by_a_crash_is_taken_over_after_its_lease(settings, mongo):
    claims = Claims(mongo[settings.database_name("activities")]["claims"], lease=timedelta(minutes=10))
    fact = "report_overdue:A-1:2024-11-20T03:00:00+00:00"
    assert await claims.take(fact)
    assert not await claims.take(fact)  # another process looking now: the first is at work

    # The claimant died: its claim grows old without the activity being announced.
    await claims.collection.update_many({}, {"$set": {"at": datetime.now(UTC) - timedelta(minutes=11)}})
    assert await claims.take(fact), "a claim older than its lease is taken over"
    assert not await claims.take(fact), "the takeover is a claim of its own, taken once"
