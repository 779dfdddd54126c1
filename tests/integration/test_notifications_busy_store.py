"""A store busy with another writer makes a recipient's change wait and then succeed, never a 500.

FerretDB on SQLite refuses a write with "database is locked" once another writer has held the
database file longer than its busy timeout; these tests hold it from outside on a store of their
own (as tests/integration/test_partners_concurrency.py does), so no other test run waits.
"""

from __future__ import annotations

import asyncio

from tests.conftest import auth, running
from tests.integration.test_partners_concurrency import BUSY_TIMEOUT, own_store, writer_holding  # noqa: F401
from tests.notifications_support import add_recipient, fast

ADMIN = auth("admin")


async def _quiet(app) -> None:
    """The scheduler's and the relay's own writes would take their turn first."""
    await app.state.scheduler.stop()
    await app.state.infra.relay.stop()


async def test_a_recipient_added_while_the_store_is_busy_is_stored_once_it_takes_writes(settings, own_store,
                                                                                        monkeypatch):
    fast(monkeypatch)
    settings = settings.model_copy(update={"mongodb_url": own_store.url})
    async with running("notifications", settings) as (app, client):
        await _quiet(app)
        with writer_holding(own_store.data / f"{settings.database_name('notifications')}.sqlite"):
            added = asyncio.create_task(client.post("/recipients", headers=ADMIN, json={
                "name": "Rina", "kind": "staff", "email": "rina@kpu-bandung.go.id"}))
            # Longer than the store waits: its first try of the insert is refused as busy.
            await asyncio.sleep(BUSY_TIMEOUT + 1.5)
            assert not added.done()
        answer = await added
        assert answer.status_code == 201, answer.text
        rina = answer.json()
        assert rina["version"] == 1 and rina["name"] == "Rina" and rina["channels"] == ["inbox", "email"]
        assert (await client.get(f"/recipients/{rina['id']}", headers=ADMIN)).json() == rina
        assert (await client.get(f"/inbox/{rina['id']}", headers=ADMIN)).json()["items"] == []


async def test_a_recipient_changed_while_the_store_is_busy_is_changed_once_it_takes_writes(settings, own_store,
                                                                                          monkeypatch):
    fast(monkeypatch)
    settings = settings.model_copy(update={"mongodb_url": own_store.url})
    async with running("notifications", settings) as (app, client):
        rina = await add_recipient(client, name="Rina", email="rina@kpu-bandung.go.id")
        await _quiet(app)
        with writer_holding(own_store.data / f"{settings.database_name('notifications')}.sqlite"):
            patch = asyncio.create_task(client.patch(f"/recipients/{rina['id']}", headers={**ADMIN, "If-Match": '"1"'},
                                                     json={"name": "Rina Sosdiklih", "language": "en"}))
            await asyncio.sleep(BUSY_TIMEOUT + 1.5)
            assert not patch.done()
        answer = await patch
        assert answer.status_code == 200, answer.text
        assert answer.headers["etag"] == '"2"'
        assert answer.json()["name"] == "Rina Sosdiklih" and answer.json()["language"] == "en"
        stored = await client.get(f"/recipients/{rina['id']}", headers=ADMIN)
        assert stored.json() == answer.json()
