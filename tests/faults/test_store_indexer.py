"""The store's ``_id`` indexer (deploy/local/store/ids.go) keeps up with collections that come and go.

Without its index a lookup by ``_id`` scans the whole table (docs/performance.md), so a database
that lost it serves every write in time proportional to its size.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import OperationFailure
from ulid import ULID

PASS_SECONDS = 2  # the indexer's interval (main.go)


def indexed_tables(data: Path, database: str) -> set[str]:
    file = data / f"{database}.sqlite"
    if not file.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = 'sinergi_id_' || tbl_name")
            return {row[0] for row in rows}
    except sqlite3.OperationalError:  # the file is being created or removed right now
        return set()


def wait_for_index(data: Path, database: str, timeout: float = 5 * PASS_SECONDS) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = indexed_tables(data, database)
        if found:
            return found
        time.sleep(0.1)
    return set()


def insert_soon(collection, document: dict, timeout: float = PASS_SECONDS / 2) -> None:  # noqa: ANN001
    # FerretDB may answer "disk I/O error" to a write into a database dropped a moment ago, while
    # it lets go of the removed file; the write is then simply tried again.
    deadline = time.monotonic() + timeout
    while True:
        try:
            collection.insert_one(document)
            return
        except OperationFailure as exc:
            if "disk I/O error" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_a_database_dropped_and_created_again_between_two_passes_gets_its_id_index_back(private_store):
    client = MongoClient(private_store.url, serverSelectionTimeoutMS=5000)
    database = f"indexer_{ULID()}".lower()
    try:
        client[database]["partners"].insert_one({"_id": "p1", "name": "KIM Sekarbela"})
        assert wait_for_index(private_store.data, database), "the new collection was never indexed"

        # Dropped and created again well inside one pass: the table has the same name, no index.
        client.drop_database(database)
        insert_soon(client[database]["partners"], {"_id": "p2", "name": "KIM Cibeunying"})

        assert wait_for_index(private_store.data, database), (
            f"the recreated collection stayed without its _id index for {5 * PASS_SECONDS} s: every lookup "
            "by _id scans its table")
    finally:
        client.drop_database(database)
        client.close()


def test_a_collection_added_to_a_database_indexed_long_ago_gets_its_id_index(private_store):
    # The indexer asks again only the files that changed since it found them indexed: a new table
    # in a database it had finished with must still be seen.
    client = MongoClient(private_store.url, serverSelectionTimeoutMS=5000)
    database = f"indexer_{ULID()}".lower()
    try:
        client[database]["partners"].insert_one({"_id": "p1", "name": "KIM Sekarbela"})
        first = wait_for_index(private_store.data, database)
        assert first, "the new collection was never indexed"
        time.sleep(3 * PASS_SECONDS)  # passes that find the file unchanged

        client[database]["activities"].insert_one({"_id": "a1", "title": "Sosialisasi"})
        deadline = time.monotonic() + 5 * PASS_SECONDS
        while time.monotonic() < deadline and len(indexed_tables(private_store.data, database)) <= len(first):
            time.sleep(0.1)
        assert len(indexed_tables(private_store.data, database)) == len(first) + 1, (
            "a collection added to a database indexed before never got its _id index")
    finally:
        client.drop_database(database)
        client.close()
