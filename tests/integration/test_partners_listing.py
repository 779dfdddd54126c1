"""Lists and reads of partners with one partners process (services/partners/listing.py).

FerretDB evaluates a list's filter over every partner of the collection and sorts them all for
each page: under 50 clients those lists were most of the store's work (docs/performance.md). With
one process every write of a partner passes through it, so it answers lists and reads from a copy
read once, which its writes keep current. What a client notices: the list is the store's, every
change shows at once, and the store reads no partner for it. The duplicate check's copy of names
and contacts is kept the same way.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import AutoReconnect

from services.partners.store import PartnerStore
from shared.outbox import AggregateCollection
from tests.bus import declare_exchanges
from tests.conftest import auth, make_settings, running
from tests.store_commands import commands_of_this_task


@asynccontextmanager
async def one_partners_process(servers, run_id) -> AsyncIterator:
    """The partners service alone in this process (so it keeps the copy), with a client on it."""
    settings = make_settings(servers, f"{run_id}{secrets.token_hex(4)}")
    await declare_exchanges(settings)  # the consumers' services declare it in production
    async with running("partners", settings) as (_, client):
        yield client


async def register(client, name: str, kind: str = "kim", **more) -> dict:
    made = await client.post("/partners", headers=auth(), json={"name": name, "type": kind, **more})
    assert made.status_code == 201, made.text
    return made.json()


async def names(client, **params) -> list[str]:
    listed = await client.get("/partners", headers=auth("viewer"), params=params)
    assert listed.status_code == 200, listed.text
    return [p["name"] for p in listed.json()["items"]]


async def test_lists_show_every_change_at_once_without_reading_partners_from_the_store(servers, run_id):
    async with one_partners_process(servers, run_id) as client:
        sekarbela = await register(client, "KIM Sekarbela", segments=["pemilih_pemula"], district="32.73.02")
        await register(client, "Karang Taruna Cibeunying", kind="ormas_komunitas")
        assert await names(client, type="kim") == ["KIM Sekarbela"]  # the first list reads the store

        with commands_of_this_task() as sent:
            cakra = await register(client, "KIM Cakranegara")
            changed = await client.patch(f"/partners/{sekarbela['id']}", headers=auth(),
                                         json={"notes": "aktif", "segments": ["perempuan"]})
            assert changed.status_code == 200, changed.text
            kim = await names(client, type="kim")
            women = await names(client, segment="perempuan")
            first_young = await names(client, segment="pemilih_pemula")
            by_name = await names(client, q="cakra")
            in_district = await names(client, district="32.73.02")
            one = await client.get(f"/partners/{cakra['id']}", headers=auth("viewer"))
            page = await client.get("/partners", headers=auth("viewer"), params={"limit": 1})
            rest = await client.get("/partners", headers=auth("viewer"),
                                    params={"limit": 5, "cursor": page.json()["next_cursor"]})
        assert kim == ["KIM Sekarbela", "KIM Cakranegara"]
        assert women == ["KIM Sekarbela"] and first_young == [] and by_name == ["KIM Cakranegara"]
        assert in_district == ["KIM Sekarbela"]
        assert one.status_code == 200 and one.json()["version"] == 1 and one.headers["etag"] == '"1"'
        assert [p["name"] for p in page.json()["items"]] == ["KIM Sekarbela"]
        assert [p["name"] for p in rest.json()["items"]] == ["Karang Taruna Cibeunying", "KIM Cakranegara"]
        assert rest.json()["next_cursor"] is None
        assert sent.scans["partners"] == 0, f"a list read every partner: {dict(sent)}"
        assert sent[("find", "partners")] == 0, f"a partner was read from the store: {dict(sent)}"


async def test_after_a_write_whose_answer_was_lost_the_list_shows_what_the_store_holds(servers, run_id, monkeypatch):
    async with one_partners_process(servers, run_id) as client:
        partner = await register(client, "KIM Ampenan")
        assert await names(client, type="kim") == ["KIM Ampenan"]

        replace = AggregateCollection.replace

        async def stored_then_cut(self, *args, **kwargs):  # the store applies it; its answer is lost
            await replace(self, *args, **kwargs)
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(AggregateCollection, "replace", stored_then_cut)
        lost = await client.patch(f"/partners/{partner['id']}", headers=auth(), json={"name": "KIM Ampenan Utara"})
        assert lost.status_code >= 500, lost.text
        monkeypatch.setattr(AggregateCollection, "replace", replace)

        assert await names(client, type="kim") == ["KIM Ampenan Utara"]
        read = await client.get(f"/partners/{partner['id']}", headers=auth("viewer"))
        assert read.json()["name"] == "KIM Ampenan Utara" and read.json()["version"] == 2


async def test_a_rename_whose_old_name_could_not_be_released_still_shows_in_the_list(servers, run_id, monkeypatch):
    async with one_partners_process(servers, run_id) as client:
        partner = await register(client, "KIM Pagesangan")
        assert await names(client, type="kim") == ["KIM Pagesangan"]

        async def store_gone(self, key, partner_id):  # the partner is written; the store goes after
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(PartnerStore, "_release", store_gone)
        cut = await client.patch(f"/partners/{partner['id']}", headers=auth(), json={"name": "KIM Pagesangan Baru"})
        assert cut.status_code >= 500, cut.text
        monkeypatch.undo()

        assert await names(client, type="kim") == ["KIM Pagesangan Baru"]


async def test_the_duplicate_check_reads_the_region_once_and_again_after_a_write_whose_answer_was_lost(
        servers, run_id, monkeypatch):
    # With several processes the candidates are read again after CANDIDATES_FRESH_SECONDS (here at
    # once); with one, nothing else writes a partner and the copy is kept.
    monkeypatch.setattr(PartnerStore, "CANDIDATES_FRESH_SECONDS", 0.0)
    async with one_partners_process(servers, run_id) as client:
        first = await register(client, "KIM Monjok", contacts=[{"name": "Baiq", "phone": "0819-0700-1122"}])
        with commands_of_this_task() as sent:
            await register(client, "KIM Karang Baru")
            same_phone = await client.post("/partners", headers=auth(), json={
                "name": "Forum Warga Monjok", "type": "kim", "contacts": [{"name": "Baiq", "phone": "+6281907001122"}]})
        assert same_phone.status_code == 409, same_phone.text
        assert same_phone.json()["possible_duplicates"] == [{"id": first["id"], "name": "KIM Monjok"}]
        assert sent[("find", "partners")] == 0, f"the region's partners were read again: {dict(sent)}"

        insert = AggregateCollection.insert

        async def stored_then_cut(self, *args, **kwargs):  # the store applies it; its answer is lost
            await insert(self, *args, **kwargs)
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(AggregateCollection, "insert", stored_then_cut)
        lost = await client.post("/partners", headers=auth(), json={
            "name": "KIM Rembiga", "type": "kim", "contacts": [{"name": "Lalu", "phone": "0818-0500-3344"}]})
        assert lost.status_code >= 500, lost.text
        monkeypatch.setattr(AggregateCollection, "insert", insert)

        again = await client.post("/partners", headers=auth(), json={
            "name": "Forum Rembiga", "type": "kim", "contacts": [{"name": "Lalu", "phone": "+6281805003344"}]})
        assert again.status_code == 409, "the partner stored without an answer is compared with"
        assert [d["name"] for d in again.json()["possible_duplicates"]] == ["KIM Rembiga"]


async def test_the_lists_and_the_duplicate_check_share_one_read_of_the_region(servers, run_id):
    async with one_partners_process(servers, run_id) as client:
        with commands_of_this_task() as sent:
            await register(client, "KIM Dasan Agung")
            await register(client, "KIM Dasan Cermen")
            assert await names(client, q="dasan") == ["KIM Dasan Agung", "KIM Dasan Cermen"]
        assert sent.scans["partners"] == 1, f"the region's partners were read more than once: {dict(sent)}"
