"""Writes conditioned on a document's version, on the real store: a stale version writes nothing.

The store decides the path (``filters_only_by_id``): FerretDB checks the version by ``_id``, MongoDB
in the write's filter. Both paths are run here, whichever server the session has: the filter path
is correct on FerretDB too, only slower.
"""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from shared import mongo as store
from shared.settings import Settings


@pytest.fixture(params=["by-id check", "in the filter"])
async def collection(request, settings: Settings, mongo: AsyncMongoClient, monkeypatch):
    found = mongo[settings.database_name("t")][f"versioned_{request.param.split()[0].replace('-', '')}"]
    await store.filters_only_by_id(found)  # learn what the server is, then choose the path
    monkeypatch.setitem(store._filters_in_go, mongo, request.param == "by-id check")
    await found.insert_one({"_id": "a-1", "version": 3, "name": "Forum Warga Coblong"})
    return found


async def test_a_replace_at_the_current_version_writes_and_a_stale_one_changes_nothing(collection):
    assert await store.replace_at_version(collection, "a-1", 3, {"_id": "a-1", "version": 4, "name": "Talkshow"})
    assert not await store.replace_at_version(collection, "a-1", 3, {"_id": "a-1", "version": 4, "name": "stale"})
    assert not await store.replace_at_version(collection, "missing", 1, {"_id": "missing", "version": 2})
    assert await collection.find_one({"_id": "a-1"}) == {"_id": "a-1", "version": 4, "name": "Talkshow"}
    assert await collection.find_one({"_id": "missing"}) is None


async def test_an_update_at_a_stale_version_changes_nothing(collection):
    assert not await store.update_at_version(collection, "a-1", 2, {"$set": {"name": "stale"}})
    assert await store.update_at_version(collection, "a-1", 3, {"$set": {"name": "Sekolah Pemilih"}})
    assert (await collection.find_one({"_id": "a-1"}))["name"] == "Sekolah Pemilih"

