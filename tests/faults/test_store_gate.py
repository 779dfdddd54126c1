"""The store's write gate (deploy/local/store/gate.go): writes to one database go into FerretDB
one at a time, in the order they came; reads and other databases' writes do not wait.

Without it a write waits in SQLite's busy handler, whose sleeps let later writes pass: 3 clients
of 25 writers each saw p99 0.8–0.9 s and 1.7 s at worst for writes of 1–2 ms (docs/performance.md).
The gate's order is checked against a stand-in for FerretDB that answers when the test says, in
Go beside the gate (gate_test.go), and so is that a failed accept (out of file descriptors) does not
stop it taking clients; the rest of the suite runs every store command through it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STORE_SOURCE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "store"


@pytest.mark.skipif(shutil.which("go") is None, reason="Go builds the store; without it there is no gate to test")
def test_the_store_gate_lets_one_write_per_database_in_and_reads_pass() -> None:
    run = subprocess.run(["go", "test", "-count=1", "."],
                         cwd=STORE_SOURCE, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
