"""Concurrent writes to one partner: If-Match picks one winner; without it, nothing is lost; a busy
store makes a change wait, never fail with a 500."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bus import tap
from tests.conftest import auth, eventually, running
from tests.integration.test_partners_api import PARTNER_EVENTS, count_at_least, register


async def test_two_patches_on_the_same_version_one_wins_the_other_gets_412(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}"
        headers = {**auth(), "If-Match": '"1"'}
        first, second = await asyncio.gather(
            client.patch(url, headers=headers, json={"notes": "dari operator A", "segments": ["perempuan"]}),
            client.patch(url, headers=headers, json={"notes": "dari operator B", "categories": ["keagamaan"]}),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 412]
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        assert loser.json()["current_version"] == 2

        stored = (await client.get(url, headers=auth("viewer"))).json()
        assert stored == winner.json() and stored["version"] == 2
        await eventually(lambda: count_at_least(published, 2))
        updated = [e for e in published if e["type"] == "sinergi.partner.updated"]
        assert len(updated) == 1 and updated[0]["aggregateversion"] == 2
        assert updated[0]["data"]["notes"] == stored["notes"]
        assert {k: updated[0]["data"][k] for k in stored if k != "status_history"} == {
            k: v for k, v in stored.items() if k != "status_history"}


async def test_concurrent_patches_without_if_match_are_applied_one_after_another(settings):
    async with tap(settings, PARTNER_EVENTS) as published, running("partners", settings) as (_, client):
        partner = await register(client)
        url = f"/partners/{partner['id']}"
        notes = [f"catatan {n}" for n in range(8)]
        answers = await asyncio.gather(*(client.patch(url, headers=auth(), json={"notes": n}) for n in notes))
        assert all(a.status_code == 200 for a in answers)
        assert sorted(a.json()["version"] for a in answers) == list(range(2, 10))

        stored = (await client.get(url, headers=auth("viewer"))).json()
        assert stored["version"] == 9
        await eventually(lambda: count_at_least(published, 9))
        updated = sorted((e for e in published if e["type"] == "sinergi.partner.updated"),
                         key=lambda e: e["aggregateversion"])
        assert [e["aggregateversion"] for e in updated] == list(range(2, 10))
        # Each event tells the state at its version; the last is what is stored.
        assert {a.json()["version"]: a.json()["notes"] for a in answers} == {
            e["aggregateversion"]: e["data"]["notes"] for e in updated}
        assert updated[-1]["data"]["notes"] == stored["notes"]


# --- a busy store ----------------------------------------------------------------------------------
#
# FerretDB on SQLite waits up to 10 s (its busy_timeout) for another writer of the same database
# file, then refuses with "database is locked (SQLITE_BUSY)", having written nothing. Another
# writer is anything holding that file: a second process, a long import, a backup, the store's own
# indexer. These tests hold it from outside on a store of their own, so no other test run waits.

BUSY_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def own_store(tmp_path_factory):
    from tests.faults.conftest import store_of_its_own

    with store_of_its_own(tmp_path_factory.mktemp("busy-store")) as store:
        yield store


@contextlib.contextmanager
def writer_holding(database: Path) -> Iterator[None]:
    """Another writer holding the database's write lock (SQLite allows one writer per file)."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("COMMIT")
    finally:
        connection.close()


async def test_a_change_the_store_refused_as_busy_is_tried_again_not_a_500(settings, own_store):
    settings = settings.model_copy(update={"mongodb_url": own_store.url})
    async with running("partners", settings) as (app, client):
        partner = await register(client)
        # The relay's own writes (marking the event published) would take their turn first.
        await app.state.infra.relay.stop()
        with writer_holding(own_store.data / f"{settings.database_name('partners')}.sqlite"):
            patch = asyncio.create_task(client.patch(f"/partners/{partner['id']}", headers={**auth(), "If-Match": '"1"'},
                                                     json={"notes": "setelah antrean"}))
            # Longer than the store waits: its first try of the write is refused as busy.
            await asyncio.sleep(BUSY_TIMEOUT + 1.5)
            assert not patch.done()
        answer = await patch
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == 2 and answer.json()["notes"] == "setelah antrean"
        stored = (await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))).json()
        assert stored == answer.json()
