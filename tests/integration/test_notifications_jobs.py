"""A subject's jobs follow its changes, read and written by ``_id`` alone, on the real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from services.notifications.domain import Job
from services.notifications.store import Jobs
from shared.settings import Settings

NOW = datetime(2024, 11, 10, 1, tzinfo=UTC)


def reminder(subject: str, days: int, due_in: timedelta = timedelta(days=1)) -> Job:
    return Job(key=f"reminder:{subject}:H-{days}", occurrence="2024-11-20", kind="reminder", subject=subject,
               due_at=NOW + due_in)


def overdue(subject: str) -> Job:
    return Job(key=f"overdue:{subject}", occurrence="2024-11-23", kind="overdue", subject=subject,
               due_at=NOW + timedelta(days=13))


@pytest.fixture
async def db(settings: Settings, mongo):
    return mongo[settings.database_name("notifications")]


async def stored(jobs: Jobs) -> set[str]:
    return {doc["_id"] async for doc in jobs.collection.find({}, {"_id": 1})}


async def test_rescheduling_moves_the_reminders_and_reporting_removes_the_overdue_alert(db):
    jobs = Jobs(db["jobs"])
    h3, h1 = reminder("A-1", 3), reminder("A-1", 1)
    assert {j.id for j in await jobs.sync("A-1", ["reminder", "overdue"], [h3, h1], NOW)} == {h3.id, h1.id}

    moved = Job(key=h3.key, occurrence="2024-11-27", kind="reminder", subject="A-1", due_at=NOW + timedelta(days=14))
    assert [j.id for j in await jobs.sync("A-1", ["reminder", "overdue"], [moved, h1], NOW)] == [moved.id]
    assert await stored(jobs) == {moved.id, h1.id}

    held = overdue("A-1")
    await jobs.sync("A-1", ["reminder", "overdue"], [held], NOW)
    assert await stored(jobs) == {held.id}
    await jobs.sync("A-1", ["reminder", "overdue"], [], NOW)  # reported
    assert await stored(jobs) == set()


async def test_a_job_keeps_its_due_and_another_subjects_jobs_are_untouched(db):
    jobs = Jobs(db["jobs"])
    mine, theirs = reminder("A-1", 3), reminder("A-2", 3)
    await jobs.sync("A-1", ["reminder"], [mine], NOW)
    await jobs.sync("A-2", ["reminder"], [theirs], NOW)
    later = Job(key=mine.key, occurrence=mine.occurrence, kind="reminder", subject="A-1", due_at=NOW + timedelta(days=5))
    assert await jobs.sync("A-1", ["reminder"], [later], NOW) == []
    assert (await jobs.collection.find_one({"_id": mine.id}))["due_at"] == mine.due_at
    await jobs.sync("A-1", ["reminder"], [], NOW)
    assert await stored(jobs) == {theirs.id}


async def test_jobs_stored_before_the_index_existed_are_found_by_the_subjects_next_change(db):
    older = reminder("A-9", 3)
    await db["jobs"].insert_one(Jobs._doc(older, NOW))  # as an earlier version stored it, unnamed
    jobs = Jobs(db["jobs"])  # a process started after the upgrade
    await jobs.sync("A-9", ["reminder", "overdue"], [overdue("A-9")], NOW)
    assert await stored(jobs) == {overdue("A-9").id}


async def test_a_job_named_but_not_stored_when_the_process_died_is_stored_by_the_redelivered_event(db):
    jobs = Jobs(db["jobs"])
    h3 = reminder("A-3", 3)
    # What a crash between naming the job and storing it leaves behind.
    await jobs.names.insert_one(Jobs._name_doc("A-3", h3.id, "reminder"))
    assert [j.id for j in await Jobs(db["jobs"]).sync("A-3", ["reminder"], [h3], NOW)] == [h3.id]
    assert await stored(jobs) == {h3.id}


async def test_the_job_lists_an_older_version_kept_per_subject_still_name_their_jobs(db):
    """Before job_names, a subject's job ids were one list under the subject's id; during a rolling
    deploy an older process still writes them. Their jobs are found (and the list moves over)."""
    h3, h1 = reminder("A-4", 3), reminder("A-4", 1)
    await db["jobs"].insert_many([Jobs._doc(h3, NOW), Jobs._doc(h1, NOW)])
    await db["jobs_by_subject"].insert_one({"_id": "A-4", "jobs": [{"id": h3.id, "kind": "reminder"},
                                                                   {"id": h1.id, "kind": "reminder"}]})
    jobs = Jobs(db["jobs"])
    jobs._indexed = True  # as in a process that indexed before the older one stored these
    await jobs.sync("A-4", ["reminder", "overdue"], [h1], NOW)  # H-3 no longer wanted
    assert await stored(jobs) == {h1.id}
    assert await db["jobs_by_subject"].find_one({"_id": "A-4"}) is None
    await jobs.sync("A-4", ["reminder", "overdue"], [], NOW)
    assert await stored(jobs) == set()


async def test_two_processes_changing_one_subjects_jobs_at_once_lose_no_job(db, servers):
    """Two processes (or an old and a new version during a rolling deploy) handle two events of
    the same activities at the same moment, each on its own connection: one derives the
    reminders of a scheduled activity, the other the overdue alert of a held one. When the
    activities are then reported, every job either of them stored must go: a job whose name was
    lost would stay for ever, since nothing else would delete it."""
    other = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    try:
        first, second = Jobs(db["jobs"]), Jobs(other[db.name]["jobs"])
        subjects = [f"A-{i}" for i in range(12)]
        kinds = ["reminder", "overdue"]

        async def handled(jobs: Jobs, subject: str, desired: list[Job]) -> None:
            for attempt in range(5):  # as the consumer retries an event whose handling raised
                try:
                    await jobs.sync(subject, kinds, desired, NOW)
                    return
                except DuplicateKeyError:
                    await asyncio.sleep(0.05 * attempt)

        await asyncio.gather(*(
            writer for subject in subjects for writer in (
                handled(first, subject, [reminder(subject, 3), reminder(subject, 1)]),
                handled(second, subject, [overdue(subject)]))))
        assert await stored(first)

        await asyncio.gather(*(first.sync(subject, kinds, [], NOW) for subject in subjects))  # all reported
        assert await stored(first) == set()
    finally:
        await other.close()
