"""The embedded store killed with SIGKILL (the OOM killer, a supervisor's last resort): it leaves
nothing in the machine's temporary directory, and starts again on its files with every
acknowledged write.

FerretDB's Unix socket, which only the store's own write gate dials (deploy/local/store/main.go),
was in a temporary directory the store removed on a clean stop only: each killed store left one
behind for good (ten of them in this machine's /tmp after a day of fault tests and benchmarks).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pymongo

from tests.faults.conftest import store_of_its_own


def test_a_store_killed_with_sigkill_leaves_no_files_behind_and_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"  # the store's TMPDIR: what it leaves there is seen, and only its own
    temporary.mkdir()
    (tmp_path / "store").mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    with store_of_its_own(tmp_path / "store", env=env) as store:
        with pymongo.MongoClient(store.url, serverSelectionTimeoutMS=10_000) as client:
            client["sinergi_killed"]["partners"].insert_one({"_id": "P-1", "name": "KIM Dago"})
        assert store.process is not None
        store.process.send_signal(signal.SIGKILL)
        store.process.wait(10)

        assert sorted(p.name for p in temporary.iterdir()) == [], "the killed store left files behind"

        store.start()
        with pymongo.MongoClient(store.url, serverSelectionTimeoutMS=10_000) as client:
            assert client["sinergi_killed"]["partners"].find_one({"_id": "P-1"}) == {"_id": "P-1", "name": "KIM Dago"}
            client["sinergi_killed"]["partners"].insert_one({"_id": "P-2", "name": "KIM Coblong"})
            assert client["sinergi_killed"]["partners"].count_documents({}) == 2
