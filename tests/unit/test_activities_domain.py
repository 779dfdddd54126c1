"""The Activity aggregate's rules and life cycle, and the election targets, without I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.activities.domain import (
    Activity, ActivityCancelled, ActivityHeld, ActivityPlanned, ActivityReported, ActivityRescheduled,
    ActivityScheduled, ActivityUpdated, InvalidActivity, Location, Status, Targets, TargetsSet, TransitionRefused,
)
from services.activities.elections import ELECTIONS
from shared.errors import Conflict, Invalid
from shared.vocabulary import DIRECT_FORMATS, MEDIA_FORMATS, Format, Segment

NOW = datetime(2024, 10, 1, 3, 0, tzinfo=UTC)
WIB = ZoneInfo("Asia/Jakarta")
REGION = "32.73"


def details(**overrides):
    values = {
        "title": "Forum warga pemilih pemula Coblong",
        "kind": "sosialisasi",
        "election": "pilkada-2024",
        "method": "langsung",
        "format": "forum_warga",
        "segments": ["pemilih_pemula"],
    }
    values.update(overrides)
    return values


def planned(**overrides) -> Activity:
    activity = Activity.plan(id="A1", region=REGION, now=NOW, **details(**overrides))
    activity.events.clear()
    return activity


def in_status(status: Status) -> Activity:
    activity = planned()
    start = NOW + timedelta(days=1)
    if status is Status.cancelled:
        activity.cancel("hujan deras", NOW)
    if status in (Status.scheduled, Status.held, Status.reported):
        activity.schedule(start, start + timedelta(hours=2), None, NOW)
    if status in (Status.held, Status.reported):
        activity.hold(start + timedelta(minutes=5))
    if status is Status.reported:
        activity.report(attendance_total=50, now=start + timedelta(days=1))
    activity.events.clear()
    assert activity.status is status
    return activity


LATER = NOW + timedelta(days=3)
TRANSITIONS = {
    "schedule": lambda a: a.schedule(NOW + timedelta(days=2), NOW + timedelta(days=2, hours=2), None, LATER),
    "hold": lambda a: a.hold(LATER),
    "report": lambda a: a.report(attendance_total=10, now=LATER),
    "cancel": lambda a: a.cancel("narasumber berhalangan", LATER),
    "edit": lambda a: a.edit({"title": "Judul baru"}, LATER),
}
ALLOWED = {
    (Status.planned, "schedule"): (Status.scheduled, ActivityScheduled),
    (Status.planned, "cancel"): (Status.cancelled, ActivityCancelled),
    (Status.planned, "edit"): (Status.planned, ActivityUpdated),
    (Status.scheduled, "schedule"): (Status.scheduled, ActivityRescheduled),
    (Status.scheduled, "hold"): (Status.held, ActivityHeld),
    (Status.scheduled, "cancel"): (Status.cancelled, ActivityCancelled),
    (Status.scheduled, "edit"): (Status.scheduled, ActivityUpdated),
    (Status.held, "report"): (Status.reported, ActivityReported),
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("transition", list(TRANSITIONS))
def test_every_transition_is_allowed_or_refused_naming_the_current_status(status, transition):
    activity = in_status(status)
    version = activity.version
    if (status, transition) in ALLOWED:
        after, event = ALLOWED[(status, transition)]
        TRANSITIONS[transition](activity)
        assert activity.status is after
        assert activity.version == version + 1
        assert [type(e) for e in activity.events] == [event], "exactly one event per transition"
    else:
        with pytest.raises(TransitionRefused) as refused:
            TRANSITIONS[transition](activity)
        assert f"activity A1 is '{status.value}'" in str(refused.value)
        assert refused.value.status is status
        assert activity.status is status and activity.version == version and activity.events == []


def test_the_contracts_example_wording():
    with pytest.raises(TransitionRefused, match=r"^activity A1 is 'reported'; it cannot be cancelled$"):
        in_status(Status.reported).cancel("terlambat", LATER)


def test_planning_records_one_event_at_version_one():
    activity = Activity.plan(id="A1", region=REGION, now=NOW, **details())
    assert activity.status is Status.planned and activity.version == 1
    assert [type(e) for e in activity.events] == [ActivityPlanned]


def test_hold_is_refused_before_starts_at_and_allowed_from_it():
    activity = in_status(Status.scheduled)
    with pytest.raises(TransitionRefused, match="cannot be marked held before it starts"):
        activity.hold(activity.starts_at - timedelta(seconds=1))
    activity.hold(activity.starts_at)
    assert activity.status is Status.held


def test_scheduling_in_the_past_is_allowed_and_can_be_held_at_once():
    activity = planned()
    activity.schedule(NOW - timedelta(days=30), NOW - timedelta(days=30) + timedelta(hours=2), None, NOW)
    activity.hold(NOW)
    assert activity.status is Status.held


def test_rescheduling_to_the_same_time_and_place_changes_nothing():
    activity = in_status(Status.scheduled)
    version = activity.version
    assert activity.schedule(activity.starts_at, activity.ends_at, None, LATER) is False
    assert activity.version == version and activity.events == []


def test_a_rescheduled_event_remembers_where_it_was():
    activity = in_status(Status.scheduled)
    before = activity.starts_at
    activity.schedule(before + timedelta(days=1), before + timedelta(days=1, hours=1), None, LATER)
    assert activity.events == [ActivityRescheduled(before, before + timedelta(hours=2))]


@pytest.mark.parametrize("fmt", sorted(MEDIA_FORMATS))
def test_media_formats_need_the_indirect_method(fmt):
    with pytest.raises(InvalidActivity) as invalid:
        planned(method="langsung", format=fmt)
    assert "tidak_langsung" in invalid.value.by_field["format"]
    assert planned(method="tidak_langsung", format=fmt).format == fmt


@pytest.mark.parametrize("fmt", sorted(DIRECT_FORMATS))
def test_direct_formats_need_the_direct_method(fmt):
    with pytest.raises(InvalidActivity) as invalid:
        planned(method="tidak_langsung", format=fmt)
    assert "'langsung'" in invalid.value.by_field["format"]


def test_lainnya_goes_with_either_method():
    assert planned(method="langsung", format="lainnya").format is Format.lainnya
    assert planned(method="tidak_langsung", format="lainnya").format is Format.lainnya


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"title": "   "}, "title", "needs a title"),
    ({"election": "pemilu-2029"}, "election", "unknown election 'pemilu-2029'"),
    ({"segments": []}, "segments", "at least one"),
    ({"starts_at": NOW, "ends_at": NOW}, "ends_at", "must be after starts_at"),
    ({"starts_at": NOW, "ends_at": NOW - timedelta(hours=1)}, "ends_at", "must be after starts_at"),
    ({"ends_at": NOW}, "starts_at", "required when ends_at"),
    ({"starts_at": datetime(2024, 10, 1, 9)}, "starts_at", "UTC offset"),
    ({"planned_reach": -1}, "planned_reach", "negative"),
    ({"speakers": [{"name": " ", "affiliation": "UNPAD"}]}, "speakers[0].name", "needs a name"),
    ({"location": {"district": "Cobong"}}, "location.district", "did you mean Coblong"),  # a name: the gazetteer's
    ({"location": {"district": "32.73"}}, "location.district", "kecamatan code"),
    ({"location": {"district": "33.16.01"}}, "location.district", "not in region 32.73"),
    ({"location": {"district": "32.73.02", "village": "32.73.05.1001"}}, "location.village", "not in kecamatan"),
    ({"location": {"online_url": "zoom meeting"}}, "location.online_url", "http(s)"),
])
def test_each_field_rule_names_its_field(overrides, field, words):
    with pytest.raises(InvalidActivity) as invalid:
        planned(**overrides)
    assert words in invalid.value.by_field[field]


def test_text_is_trimmed_and_duplicates_dropped():
    activity = planned(title="  Talkshow   Radio  ", segments=["perempuan", "perempuan", "umum"],
                       topics=["anti_hoaks", "anti_hoaks"], location={"venue": "  "})
    assert activity.title == "Talkshow Radio"
    assert [s.value for s in activity.segments] == ["perempuan", "umum"]
    assert [t.value for t in activity.topics] == ["anti_hoaks"]
    assert activity.location is None


def test_an_edit_that_changes_nothing_records_nothing():
    activity = planned()
    assert activity.edit({"title": "Forum warga pemilih pemula Coblong"}, LATER) == ()
    assert activity.version == 1 and activity.events == []


def test_an_edit_records_the_fields_it_changed():
    activity = planned()
    changed = activity.edit({"title": "Baru", "segments": ["pemilih_pemula", "pelajar"]}, LATER)
    assert changed == ("title", "segments")
    assert activity.events == [ActivityUpdated(("title", "segments"), before=(
        ("title", "Forum warga pemilih pemula Coblong"), ("segments", [Segment.pemilih_pemula])))]


def test_a_scheduled_activity_moves_only_by_rescheduling():
    activity = in_status(Status.scheduled)
    with pytest.raises(InvalidActivity) as invalid:
        activity.edit({"starts_at": NOW + timedelta(days=5)}, LATER)
    assert "/schedule" in invalid.value.by_field["starts_at"]


def test_schedule_checks_times_and_location():
    activity = planned()
    with pytest.raises(InvalidActivity) as invalid:
        activity.schedule(NOW, NOW - timedelta(minutes=1), None, NOW)
    assert "ends_at" in invalid.value.by_field
    with pytest.raises(InvalidActivity) as invalid:
        activity.schedule(NOW, NOW + timedelta(hours=1), Location(district="35.72.01"), NOW)
    assert "location.district" in invalid.value.by_field
    assert activity.status is Status.planned and activity.version == 1


@pytest.mark.parametrize(("outcome", "field"), [
    ({"attendance_total": 10, "attendance_by_segment": {"perempuan": 11}}, "attendance_by_segment.perempuan"),
    ({"attendance_total": 10, "women": 11}, "women"),
    ({"attendance_total": 10, "disabled": 11}, "disabled"),
    ({"attendance_total": 10, "attendance_by_segment": {"alien": 1}}, "attendance_by_segment.alien"),
    ({"attendance_total": -1}, "attendance_total"),
    ({"attendance_total": 10, "reach": -5}, "reach"),
    ({"attendance_total": 10, "documentation_urls": ["foto.jpg"]}, "documentation_urls[0]"),
])
def test_a_report_cannot_claim_more_than_attended(outcome, field):
    activity = in_status(Status.held)
    with pytest.raises(InvalidActivity) as invalid:
        activity.report(now=LATER, **outcome)
    assert field in invalid.value.by_field
    assert activity.status is Status.held


def test_segments_may_overlap_so_their_sum_may_exceed_the_total():
    activity = in_status(Status.held)
    activity.report(attendance_total=100, attendance_by_segment={"perempuan": 60, "pemilih_muda": 70}, women=60,
                    disabled=2, now=LATER)
    assert activity.outcome.reach == 100, "reach defaults to attendance"


def test_cancel_needs_a_reason():
    with pytest.raises(InvalidActivity) as invalid:
        planned().cancel("  ", LATER)
    assert "reason" in invalid.value.by_field


def test_an_activity_in_the_quiet_period_is_warned_about():
    quiet = planned(starts_at=datetime(2024, 11, 25, 9, tzinfo=WIB), ends_at=datetime(2024, 11, 25, 11, tzinfo=WIB))
    assert "masa tenang" in quiet.quiet_period_warning(WIB)
    # 23 Nov 23:30 WIB to 24 Nov 00:30 WIB reaches into the quiet period
    overlapping = planned(starts_at=datetime(2024, 11, 23, 23, 30, tzinfo=WIB),
                          ends_at=datetime(2024, 11, 24, 0, 30, tzinfo=WIB))
    assert overlapping.quiet_period_warning(WIB)
    before = planned(starts_at=datetime(2024, 11, 23, 9, tzinfo=WIB), ends_at=datetime(2024, 11, 23, 11, tzinfo=WIB))
    assert before.quiet_period_warning(WIB) is None
    assert planned().quiet_period_warning(WIB) is None


def test_the_catalogue_has_the_four_elections_with_their_voting_days_and_quiet_periods():
    assert {k: e.voting_day for k, e in ELECTIONS.items()} == {
        "pemilu-2019": date(2019, 4, 17), "pilkada-2020": date(2020, 12, 9),
        "pemilu-2024": date(2024, 2, 14), "pilkada-2024": date(2024, 11, 27),
        "berkelanjutan": None,  # the standing programme between elections
    }
    standing = ELECTIONS["berkelanjutan"]
    assert (standing.kind, standing.stages, standing.participation_target_pct) == ("berkelanjutan", (), None)
    pilkada = ELECTIONS["pilkada-2024"]
    assert (pilkada.quiet_period.starts_on, pilkada.quiet_period.ends_on) == (date(2024, 11, 24), date(2024, 11, 26))
    assert pilkada.window("kampanye").starts_on == date(2024, 9, 25)
    assert ELECTIONS["pemilu-2024"].quiet_period.starts_on == date(2024, 2, 11)
    for election in (e for e in ELECTIONS.values() if e.voting_day):
        assert election.quiet_period.ends_on < election.voting_day
        assert all(w.starts_on <= w.ends_on for w in election.stages)


def test_targets_default_to_the_catalogue_and_record_what_changed():
    targets = Targets.set_for(election="pilkada-2024", region=REGION, now=NOW,
                              segment_targets={"perempuan": 5}, reach_target=1000)
    assert targets.participation_target_pct == 82.0 and targets.voting_day == date(2024, 11, 27)
    assert targets.version == 1 and len(targets.events) == 1
    targets.events.clear()
    assert targets.change(LATER, segment_targets={"perempuan": 5}, reach_target=1000) == ()
    assert targets.version == 1 and targets.events == []
    assert targets.change(LATER, segment_targets={"perempuan": 6}, reach_target=1000,
                          participation_target_pct=79.5) == ("participation_target_pct", "segment_targets")
    assert targets.version == 2
    assert targets.events == [TargetsSet(("participation_target_pct", "segment_targets"))]


@pytest.mark.parametrize(("values", "field"), [
    ({"participation_target_pct": 120}, "participation_target_pct"),
    ({"segment_targets": {"pelaut": 2}}, "segment_targets.pelaut"),
    ({"district_targets": {"33.16.01": 2}}, "district_targets.33.16.01"),
    ({"reach_target": -1}, "reach_target"),
])
def test_targets_rules_name_the_field(values, field):
    with pytest.raises(InvalidActivity) as invalid:
        Targets.set_for(election="pilkada-2024", region=REGION, now=NOW, **values)
    assert field in invalid.value.by_field


def test_targets_for_an_unknown_election_are_refused():
    with pytest.raises(InvalidActivity) as invalid:
        Targets.set_for(election="pilkada-2029", region=REGION, now=NOW)
    assert "unknown election" in invalid.value.by_field["election"]


def test_refusals_are_the_services_conflict_and_invalid_with_what_a_client_acts_on():
    with pytest.raises(Conflict) as refused:
        in_status(Status.reported).cancel("terlambat", LATER)
    assert refused.value.facts == {"current_status": "reported"}
    with pytest.raises(Invalid) as invalid:
        Activity.plan(id="A2", region=REGION, now=NOW, **details(title=" ", segments=[]))
    assert [e["field"] for e in invalid.value.errors] == ["title", "segments"]


@pytest.mark.parametrize("moment", [datetime(1, 1, 1, 12, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)])
def test_a_time_at_the_ends_of_the_calendar_is_refused(moment):
    with pytest.raises(InvalidActivity) as invalid:
        planned().schedule(moment, moment + timedelta(hours=1), None, NOW)
    assert "starts_at" in invalid.value.by_field
