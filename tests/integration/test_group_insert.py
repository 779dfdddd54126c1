"""Records made at once are written together (issue 15 point 1, "writing per batch"), on the real
store: a consumer handling its prefetch records each event processed, and each handler still learns
whether its own record was new or a duplicate before it acks."""

from __future__ import annotations

import asyncio

from shared.consumer import ProcessedEvents
from tests.store_commands import commands_of_every_task


async def test_records_made_at_once_take_few_writes_and_each_learns_its_fate(mongo, run_id, unique):
    processed = ProcessedEvents(mongo[f"{run_id}{unique}_group"])
    ids = [f"e{i}" for i in range(40)]

    with commands_of_every_task() as commands:
        first = await asyncio.gather(*(processed.record("q", event_id) for event_id in ids))
    assert first == [True] * len(ids)
    assert sum(commands.values()) <= 3, f"forty records made at once took {dict(commands)}"

    # Redeliveries among new events, and one event twice in one batch: each handler is told.
    again = await asyncio.gather(*(processed.record("q", event_id) for event_id in [*ids[:5], "new", "new"]))
    assert again[:5] == [False] * 5 and sorted(again[5:]) == [False, True]
    assert all([await processed.seen("q", event_id) for event_id in [*ids, "new"]])


async def test_a_quiet_consumer_writes_its_record_at_once(mongo, run_id, unique):
    processed = ProcessedEvents(mongo[f"{run_id}{unique}_group"])
    with commands_of_every_task() as commands:
        for n in range(3):
            assert await asyncio.wait_for(processed.record("q", f"alone-{n}"), 5) is True
    assert commands == {("insert", "processed_events"): 3}
