"""Corrections of an activity (amend a reported outcome, reopen a mistaken held) and the report
that falls overdue at H+3 in the region's days (issue 12, points 6 and 8), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.activities.domain import (
    ActivityReopened, InvalidActivity, OutcomeAmended, ReportFellOverdue, Status, TransitionRefused,
)
from tests.unit.test_activities_domain import NOW, WIB, in_status

LATER = NOW + timedelta(days=5)


def test_an_amendment_records_before_and_after_of_each_changed_field_and_the_reason():
    activity = in_status(Status.reported)  # 50 attended, reach 50
    changed = activity.amend({"attendance_total": 65, "women": 30, "notes": " salah hitung ", "reach": 50},
                             "daftar hadir kedua terlewat", LATER)
    assert changed == ("attendance_total", "women", "notes")  # reach was already 50
    assert activity.outcome.attendance_total == 65 and activity.outcome.reach == 50 and activity.version == 5
    [event] = activity.events
    assert event == OutcomeAmended((("attendance_total", 50, 65), ("women", 0, 30), ("notes", None, "salah hitung")),
                                   "daftar hadir kedua terlewat")


def test_an_amendment_that_changes_nothing_records_nothing():
    activity = in_status(Status.reported)
    assert activity.amend({"attendance_total": 50}, "cek ulang", LATER) == ()
    assert activity.events == [] and activity.version == 4


def test_an_amendment_keeps_the_outcome_rules_and_needs_a_reason_and_a_field():
    activity = in_status(Status.reported)
    with pytest.raises(InvalidActivity) as refused:
        activity.amend({"women": 70, "attendance_by_segment": {"perempuan": 80}}, "x", LATER)
    assert set(refused.value.by_field) == {"women", "attendance_by_segment.perempuan"}
    with pytest.raises(InvalidActivity) as refused:
        activity.amend({}, "  ", LATER)
    assert set(refused.value.by_field) == {"reason", "outcome"}
    assert activity.outcome.women == 0 and activity.events == []


@pytest.mark.parametrize("status", [Status.planned, Status.scheduled, Status.held, Status.cancelled])
def test_only_a_reported_outcome_is_amended(status):
    with pytest.raises(TransitionRefused) as refused:
        in_status(status).amend({"attendance_total": 1}, "x", LATER)
    assert refused.value.status is status


def test_a_mistaken_held_goes_back_to_scheduled_with_its_reason():
    activity = in_status(Status.held)
    activity.reopen("ternyata ditunda karena hujan", LATER)
    assert activity.status is Status.scheduled and activity.held_at is None and activity.starts_at is not None
    assert activity.events == [ActivityReopened("ternyata ditunda karena hujan")]
    with pytest.raises(InvalidActivity):
        in_status(Status.held).reopen(" ", LATER)


@pytest.mark.parametrize("status", [Status.planned, Status.scheduled, Status.reported, Status.cancelled])
def test_only_a_held_activity_is_reopened_and_a_reported_one_is_pointed_to_amend(status):
    with pytest.raises(TransitionRefused) as refused:
        in_status(status).reopen("x", LATER)
    assert refused.value.status is status
    assert ("/amend" in str(refused.value)) == (status is Status.reported)


def test_the_report_falls_overdue_on_the_third_local_day_after_the_hold_and_is_announced_once():
    activity = in_status(Status.held)  # held 2024-10-02 10:05 WIB
    assert activity.report_due_on(WIB).isoformat() == "2024-10-05"
    last_minute_of_the_4th = datetime(2024, 10, 4, 16, 59, tzinfo=UTC)  # 23:59 WIB
    assert not activity.announce_overdue(last_minute_of_the_4th, WIB)
    assert activity.announce_overdue(last_minute_of_the_4th + timedelta(minutes=1), WIB)
    assert activity.events == [ReportFellOverdue()]
    assert not activity.announce_overdue(LATER, WIB) and len(activity.events) == 1


def test_a_reopened_then_held_again_activity_is_a_new_fact():
    activity = in_status(Status.held)
    assert activity.announce_overdue(LATER, WIB)
    activity.reopen("salah tandai", LATER)
    assert activity.report_due_on(WIB) is None and not activity.announce_overdue(LATER, WIB)
    activity.hold(LATER)
    assert not activity.announce_overdue(LATER + timedelta(days=2), WIB)
    assert activity.announce_overdue(LATER + timedelta(days=3), WIB)


def test_a_reported_activity_is_never_overdue():
    assert not in_status(Status.reported).announce_overdue(LATER, WIB)
