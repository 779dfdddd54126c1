"""The coverage check without I/O: kecamatan as well as segments (issue 12 point 1), the voting day
as the election calendar has it (point 3), and elections named as the calendar names them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.notifications import rules
from services.notifications.config import NotifySettings
from services.notifications.domain import coverage_gaps, district_gaps, targets_jobs
from services.notifications.readmodels import Activity, Election, Targets
from services.notifications.texts import Texts

WIB = ZoneInfo("Asia/Jakarta")
CONFIG = NotifySettings()
SEPTEMBER = datetime(2024, 9, 1, tzinfo=UTC)


def _targets(**overrides):
    return Targets.model_validate({
        "id": "pilkada-2024", "election": "pilkada-2024", "voting_day": "2024-11-27",
        "segment_targets": {"perempuan": 1},
        "district_targets": [{"district": "32.73.02", "activities": 3}, {"district": "32.73.03", "activities": 1},
                             {"district": "32.73.14", "activities": 1}, {"district": "32.73.25", "activities": 0}],
        **overrides})


def _held(activity_id, district=None, village=None, election="pilkada-2024", status="held", segments=("perempuan",)):
    return Activity.model_validate({"id": activity_id, "election": election, "status": status,
                                    "segments": list(segments), "location": {"district": district, "village": village}})


def test_a_targeted_kecamatan_where_no_activity_of_the_election_took_place_is_a_gap():
    activities = [_held("1", district="32.73.02"),
                  _held("2", village="32.73.03.1001", status="reported"),  # a kelurahan of Babakan Ciparay
                  _held("3", district="32.73.14", election="pemilu-2024"),  # another election
                  _held("4", district="32.73.14", status="scheduled")]  # not yet held
    assert district_gaps(_targets(), activities) == ["32.73.14"]  # 32.73.25's target is 0
    assert coverage_gaps(_targets(), activities) == []


def test_district_targets_are_read_as_a_list_and_as_the_old_map():
    old = _targets(district_targets={"32.73.02": 2, "32.73.03": 0})
    assert old.targeted_districts == {"32.73.02": 2}
    assert _targets().targeted_districts == {"32.73.02": 3, "32.73.03": 1, "32.73.14": 1}


def test_district_targets_alone_make_a_coverage_check():
    [job] = targets_jobs(_targets(segment_targets={}), CONFIG, WIB, SEPTEMBER)
    assert job.due_at == datetime(2024, 10, 28, 8, 0, tzinfo=WIB)


def test_the_coverage_check_follows_the_calendars_voting_day():
    moved = Election(id="pilkada-2024", name="Pilkada Serentak 2024", voting_day="2024-12-04")
    [job] = targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER, moved)
    assert (job.occurrence, job.due_at) == ("2024-12-04", datetime(2024, 11, 4, 8, 0, tzinfo=WIB))
    standing = Election(id="pilkada-2024", name="Pendidikan pemilih", voting_day=None)
    assert targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER, standing) == []
    [unknown] = targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER, None)
    assert unknown.occurrence == "2024-11-27"


def test_a_check_made_for_the_old_voting_day_does_not_fire_once_the_calendar_moved_it():
    [job] = targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER)
    moved = Election(id="pilkada-2024", name="Pilkada 2024", voting_day="2024-12-04")
    now = datetime(2024, 10, 28, 8, 0, tzinfo=WIB)
    assert rules.coverage_gap(job, _targets(), moved, [], WIB, now) is None
    assert rules.coverage_gap(job, _targets(), None, [], WIB, now) is not None


def test_the_gap_text_lists_kecamatan_by_code_and_names_the_election_as_the_calendar_does():
    [job] = targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER)
    now = datetime(2024, 10, 28, 8, 0, tzinfo=WIB)
    trigger = rules.coverage_gap(job, _targets(), None, [_held("1", district="32.73.02")], WIB, now)
    assert trigger is not None
    assert trigger.data["gaps"] == []
    assert trigger.data["district_gaps"] == [{"district": "32.73.03", "target": 1},
                                             {"district": "32.73.14", "target": 1}]
    texts = Texts(WIB, "Kota Bandung")
    subject, body = texts.render("id", trigger.template, trigger.context)
    assert subject == ("Kecamatan belum terjangkau: 2 kecamatan tanpa kegiatan terlaksana, 30 hari sebelum "
                       "pemungutan suara Pilkada 2024")
    assert "- Kecamatan 32.73.03 (target 1 kegiatan)\n- Kecamatan 32.73.14 (target 1 kegiatan)" in body

    named = {**trigger.context, "election_names": {"pilkada-2024": "Pemilihan Wali Kota Bandung 2024"}}
    subject, _ = texts.render("id", trigger.template, named)
    assert subject.endswith("pemungutan suara Pemilihan Wali Kota Bandung 2024")
    english, body = texts.render("en", trigger.template, named)
    assert english == ("Coverage gap: 2 targeted kecamatan with no activity held, 30 days before voting in "
                       "Pemilihan Wali Kota Bandung 2024")
    assert "- Kecamatan 32.73.14 (target 1 activities)" in body


def test_segments_and_kecamatan_together():
    [job] = targets_jobs(_targets(), CONFIG, WIB, SEPTEMBER)
    trigger = rules.coverage_gap(job, _targets(), None, [], WIB, datetime(2024, 10, 28, 8, 0, tzinfo=WIB))
    subject, body = Texts(WIB, "Kota Bandung").render("id", trigger.template, trigger.context)
    assert subject.startswith("Sasaran belum terjangkau: 1 segmen dan 3 kecamatan tanpa kegiatan terlaksana")
    assert "- perempuan (target 1 kegiatan)" in body and "- Kecamatan 32.73.02 (target 3 kegiatan)" in body
