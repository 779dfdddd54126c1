"""The coverage revision: set after the writes it covers, once per burst, never skipped."""

from __future__ import annotations

import asyncio

from services.activities.store import Revision


class Tokens:
    """The revisions collection in a dict: counts the writes of the token."""

    def __init__(self) -> None:
        self.doc: dict | None = None
        self.sets = 0

    async def find_one(self, _filter: dict) -> dict | None:
        return self.doc

    async def update_one(self, _filter: dict, change: dict, upsert: bool = False) -> None:
        await asyncio.sleep(0.01)  # a round trip
        self.sets += 1
        self.doc = {"_id": Revision.ID, **change["$set"]}


async def settled(revision: Revision) -> None:
    for _ in range(500):
        if revision._settling is None or revision._settling.done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the revision was never set")


async def test_a_burst_of_writes_sets_the_token_once_more_after_the_last_and_this_process_sees_each_at_once():
    tokens = Tokens()
    revision = Revision(tokens)  # type: ignore[arg-type]
    revision.SETTLE_SECONDS = 0.2
    seen = [await revision.current()]
    for _ in range(10):
        await revision.bump()
        seen.append(await revision.current())
        await asyncio.sleep(0.005)  # the first write's token is being set meanwhile
    assert len(set(seen)) == 11, "each write of this process changes what its cached figures are checked against"
    await settled(revision)
    assert tokens.sets == 2, "the first write at once, the nine made while it was set together after it"
    token = tokens.doc["token"]
    await revision.bump()
    await settled(revision)
    assert tokens.sets == 3 and tokens.doc["token"] != token, "a later write sets it again: none is skipped"
