"""A write cut off by the store stopping ("context canceled" from FerretDB) is the store going away:
a client is told to try again (503), nothing was changed; it is not a bug of ours (500)."""

from __future__ import annotations

from pymongo.errors import OperationFailure

from shared.problems import unexpected


def test_a_write_cut_off_by_the_store_stopping_is_a_503_not_a_500():
    problem = unexpected(OperationFailure("[db.go:134 fsql.(*DB).InTransaction] context canceled", code=1),
                         "/activities")
    assert problem.status == 503 and problem.headers.get("Retry-After")


def test_any_other_store_failure_is_still_a_500():
    assert unexpected(OperationFailure("something else", code=2), "/activities").status == 500
