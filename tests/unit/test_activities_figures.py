"""Coverage facts, their folding, and period parsing: the arithmetic behind the figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.activities import coverage
from services.activities.domain import Activity
from services.activities.figures import Period
from shared.errors import Invalid

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2024, 12, 1, tzinfo=UTC)


def reported() -> Activity:
    start = datetime(2024, 10, 31, 18, 0, tzinfo=UTC)  # 1 November 01:00 WIB
    activity = Activity.plan(id="A1", region="32.73", now=NOW, title="Talkshow", kind="sosialisasi",
                             election="pilkada-2024", method="langsung", format="talkshow",
                             segments=["perempuan", "pemilih_muda"],
                             partners=[{"partner_id": "P1", "role": "mitra"}, {"partner_id": "P1", "role": "tempat"},
                                       {"partner_id": "P2", "role": "media"}],
                             location={"district": "32.73.02"})
    activity.schedule(start, start + timedelta(hours=2), None, NOW)
    activity.hold(NOW)
    activity.report(attendance_total=100, attendance_by_segment={"perempuan": 60, "lansia": 5}, women=60,
                    disabled=0, reach=400, now=NOW)
    return activity


def test_an_activity_contributes_once_to_each_of_its_groups():
    cube = coverage.fold_facts([coverage.facts(reported(), WIB)])
    assert set(cube["month"]) == {"2024-11"}, "the month is the local one"
    assert set(cube["partner"]) == {"P1", "P2"}, "a partner in two roles counts once"
    assert cube["district"]["32.73.02"].attendance == 100
    perempuan, muda, lansia = (cube["segment"][k] for k in ("perempuan", "pemilih_muda", "lansia"))
    assert (perempuan.by_status["reported"], perempuan.attendance, perempuan.women, perempuan.reach) == (1, 60, 60, 400)
    assert (muda.by_status["reported"], muda.attendance) == (1, 0)
    assert (lansia.activities, lansia.attendance) == (0, 5), "attendance of an untargeted segment still counts"
    total = coverage.total(cube)
    assert total.figures() == {"activities": 1, "by_status": {"planned": 0, "scheduled": 0, "held": 0,
                                                             "reported": 1, "cancelled": 0},
                               "held": 1, "attendance": 100, "women": 60, "disabled": 0, "reach": 400}


def test_zero_figures_are_not_stored_and_an_undated_activity_has_no_month():
    activity = Activity.plan(id="A2", region="32.73", now=NOW, title="Konten kreatif", kind="sosialisasi",
                             election="pilkada-2024", method="tidak_langsung", format="konten_kreatif",
                             segments=["warga_internet"])
    facts = coverage.facts(activity, WIB)
    assert all(f["v"] for f in facts)
    cube = coverage.fold_facts([facts])
    assert set(cube["month"]) == {None} and set(cube["district"]) == {None}
    assert cube["format"]["konten_kreatif"].by_status["planned"] == 1


def test_keys_with_the_separator_survive_the_round_trip():
    cube = coverage.fold([{"_id": "partner|odd|id|n:held", "v": 2}, {"_id": "partner|odd|id|reach", "v": 7}])
    assert (cube["partner"]["odd|id"].held, cube["partner"]["odd|id"].reach) == (2, 7)


def test_missing_lists_targeted_keys_with_nothing_held():
    cube = coverage.fold_facts([coverage.facts(reported(), WIB)])
    assert coverage.missing({"perempuan": 3, "disabilitas": 2, "lansia": 0}, cube, "segment") == ["disabilitas"]


def test_a_period_of_dates_covers_whole_local_days():
    period = Period.parse("2024-10-01", "2024-10-31", WIB)
    assert period.start == datetime(2024, 9, 30, 17, tzinfo=UTC)
    assert period.end == datetime(2024, 10, 31, 17, tzinfo=UTC)
    assert period.text(WIB) == "2024-10-01 s.d. 2024-10-31"
    assert Period.parse(None, None, WIB).text(WIB) == "seluruh periode"


def test_a_period_of_instants_is_exact():
    period = Period.parse("2024-10-01T08:00:00+07:00", "2024-10-01T12:00:00+07:00", WIB)
    assert (period.start, period.end) == (datetime(2024, 10, 1, 1, tzinfo=UTC), datetime(2024, 10, 1, 5, tzinfo=UTC))


@pytest.mark.parametrize(("start", "end", "field"), [
    ("01/10/2024", None, "from"),
    (None, "2024-10-01T08:00:00", "to"),
    ("2024-10-31", "2024-10-01", "to"),
])
def test_a_bad_period_names_its_field(start, end, field):
    with pytest.raises(Invalid) as invalid:
        Period.parse(start, end, WIB)
    assert invalid.value.errors[0]["field"] == field


@pytest.mark.parametrize(("start", "end", "field"), [
    ("0001-01-01", None, "from"),
    (None, "9999-12-31", "to"),
    ("0001-01-01T05:00:00+07:00", None, "from"),
    (None, "9999-12-31T23:00:00-05:00", "to"),
])
def test_a_period_at_the_ends_of_the_calendar_is_refused_naming_its_field(start, end, field):
    with pytest.raises(Invalid) as invalid:
        Period.parse(start, end, WIB)
    assert [e["field"] for e in invalid.value.errors] == [field]


def test_a_period_near_the_ends_of_the_calendar_can_still_be_said_in_local_days():
    period = Period.parse("0002-01-01", "9998-12-31", WIB)
    assert period.text(WIB) == "0002-01-01 s.d. 9998-12-31"
