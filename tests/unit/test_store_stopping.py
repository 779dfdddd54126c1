"""A write cut off by the store stopping ("context canceled" from FerretDB) is the store going away:
a client is told to try again (503), nothing was changed; it is not a bug of ours (500)."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from shared.mongo import stopping
from shared.problems import unexpected


def test_a_write_cut_off_by_the_store_stopping_is_a_503_not_a_500():
    problem = unexpected(OperationFailure("[db.go:134 fsql.(*DB).InTransaction] context canceled", code=1),
                         "/activities")
    assert problem.status == 503 and problem.headers.get("Retry-After")


@pytest.mark.parametrize("cut_off", [
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] [db.go:134 fsql.(*DB).InTransaction] context canceled",
    # an update's read-then-write transaction rolled back under it by the shutdown
    "[msg_update.go:133 handler.(*Handler).updateDocument] [update.go:114 common.UpdateDocument] "
    "[collection.go:191 sqlite.(*collection).UpdateAll] [db.go:167 fsql.(*DB).InTransaction] "
    "sql: transaction has already been committed or rolled back",
])
def test_every_way_the_stopping_store_cuts_a_write_off_is_the_store_going_away(cut_off):
    assert stopping(OperationFailure(cut_off, code=1))
    assert unexpected(OperationFailure(cut_off, code=1), "/partners").status == 503


def test_any_other_store_failure_is_still_a_500():
    assert unexpected(OperationFailure("something else", code=2), "/activities").status == 500
