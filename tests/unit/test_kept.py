"""A copy read once and kept current by this process's writes (shared/kept.py): the paths a list or an
inbox page takes only when a write lands while the copy is being read, which the service tests do not
reach on purpose. The store's read is a function the test holds open, so a write comes in mid-read."""

from __future__ import annotations

import asyncio

from shared.kept import KeptCopies


def _copies(most: int = 10) -> KeptCopies[str, list[str], str]:
    return KeptCopies(apply=lambda copy, write: copy.append(write) if write not in copy else None,
                      too_large=lambda copy: len(copy) > most)


class Store:
    """What the store holds per key, and a read that can be held open mid-way."""

    def __init__(self, **held: list[str]) -> None:
        self.held = held
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.reading = asyncio.Event()

    def read(self, key: str):
        async def read() -> list[str]:
            self.reads += 1
            snapshot = list(self.held.get(key, []))  # what the read saw
            self.reading.set()
            await self.gate.wait()
            return snapshot
        return read


async def test_callers_asking_while_a_copy_is_read_share_one_read_and_later_ones_read_none():
    kept, store = _copies(), Store(a=["1", "2"])
    store.gate.clear()
    waiting = [asyncio.create_task(kept.get("a", store.read("a"))) for _ in range(5)]
    await store.reading.wait()
    store.gate.set()
    assert [await task for task in waiting] == [["1", "2"]] * 5
    assert await kept.get("a", store.read("a")) == ["1", "2"]
    assert store.reads == 1


async def test_a_write_made_while_the_copy_is_read_is_in_the_copy_kept():
    kept, store = _copies(), Store(a=["1"])
    store.gate.clear()
    first = asyncio.create_task(kept.get("a", store.read("a")))
    await store.reading.wait()
    store.held["a"].append("2")  # stored after the read saw the key
    kept.wrote("a", "2")
    store.gate.set()
    assert await first == ["1", "2"]
    assert await kept.get("a", store.read("a")) == ["1", "2"] and store.reads == 1


async def test_a_write_of_unknown_outcome_while_the_copy_is_read_answers_the_waiters_but_is_not_kept():
    kept, store = _copies(), Store(a=["1"])
    store.gate.clear()
    first = asyncio.create_task(kept.get("a", store.read("a")))
    await store.reading.wait()
    store.held["a"].append("2")  # the write reached the store, but its caller never learnt it
    kept.unsure("a")
    store.gate.set()
    assert await first == ["1"]
    assert await kept.get("a", store.read("a")) == ["1", "2"], "the spoiled read was kept"
    assert store.reads == 2


async def test_writes_keep_a_kept_copy_current_and_an_unsure_one_drops_it():
    kept, store = _copies(), Store(a=["1"])
    await kept.get("a", store.read("a"))
    kept.wrote("a", "2")
    kept.wrote("b", "9")  # no copy of b: nothing to change
    store.held["a"] += ["2", "3"]
    assert await kept.get("a", store.read("a")) == ["1", "2"] and store.reads == 1
    kept.unsure("a")
    assert await kept.get("a", store.read("a")) == ["1", "2", "3"] and store.reads == 2
    assert await kept.get("b", store.read("b")) == []


async def test_a_copy_over_its_bound_answers_its_read_and_the_store_answers_that_key_from_then_on():
    kept, store = _copies(most=3), Store(big=["1", "2", "3", "4"], small=["1"])
    assert await kept.get("big", store.read("big")) == ["1", "2", "3", "4"]
    assert kept.left_to_store("big") and await kept.get("big", store.read("big")) is None
    assert store.reads == 1

    await kept.get("small", store.read("small"))
    for write in ("2", "3", "4"):  # grows past the bound by writes
        kept.wrote("small", write)
    assert kept.left_to_store("small") and await kept.get("small", store.read("small")) is None

    kept.forget("big")  # its data dropped: read again when asked
    store.held["big"] = []
    assert await kept.get("big", store.read("big")) == [] and not kept.left_to_store("big")
