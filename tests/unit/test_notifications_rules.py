"""The notification rules without I/O: dates in WIB/WITA/WIT, who hears what, ids, texts."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications import rules
from services.notifications.channels import SmtpServer, sign
from services.notifications.config import NotifySettings
from services.notifications.domain import (
    Contact,
    Job,
    JobKind,
    activity_jobs,
    backoff,
    coverage_gaps,
    covers,
    digest_job,
    normalize_subscription,
    notification_id,
    partner_jobs,
    subscribed,
    targets_jobs,
    wants,
    weekly_summary,
)
from services.notifications.readmodels import Activity, Partner, Targets
from services.notifications.texts import Texts, label

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")
CONFIG = NotifySettings()


def _activity(**overrides):
    return Activity.model_validate({
        "id": "A-1", "title": "Forum Warga Coblong", "kind": "sosialisasi", "format": "forum_warga",
        "segments": ["pemilih_pemula"], "election": "pilkada-2024", "region": "32.73", "status": "scheduled",
        "starts_at": datetime(2024, 11, 6, 9, 0, tzinfo=WIB).isoformat(), "ends_at": None,
        "location": {"district": "Coblong", "venue": "Balai RW 05"}, "partners": [], **overrides})


def _changed(activity, **changes):
    return activity.model_copy(update=changes)


# --- When ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "h1_utc"), [(WIB, datetime(2024, 11, 5, 1, 0, tzinfo=UTC)),
                                              (WITA, datetime(2024, 11, 5, 0, 0, tzinfo=UTC)),
                                              (WIT, datetime(2024, 11, 4, 23, 0, tzinfo=UTC))])
def test_h1_is_08_00_on_the_eve_on_the_regions_wall_clock(zone, h1_utc):
    activity = _activity(starts_at=datetime(2024, 11, 6, 9, 0, tzinfo=zone).isoformat())
    jobs = {j.data["days"]: j for j in activity_jobs(activity, CONFIG, zone, datetime(2024, 11, 1, tzinfo=UTC))}
    assert jobs[1].due_at == h1_utc
    assert jobs[3].due_at == h1_utc - timedelta(days=2)


def test_a_reminder_is_keyed_by_the_start_so_moving_the_activity_makes_new_jobs():
    now = datetime(2024, 11, 1, tzinfo=UTC)
    before = {j.id for j in activity_jobs(_activity(), CONFIG, WIB, now)}
    moved = _activity(starts_at=datetime(2024, 11, 10, 14, 0, tzinfo=WIB).isoformat())
    after = {j.id for j in activity_jobs(moved, CONFIG, WIB, now)}
    assert before and after and not before & after
    assert activity_jobs(_changed(moved, status="cancelled"), CONFIG, WIB, now) == []
    assert activity_jobs(_changed(moved, status="reported"), CONFIG, WIB, now) == []


def test_reminders_already_past_are_not_made_and_none_after_the_start():
    two_days_before = datetime(2024, 11, 4, 10, 0, tzinfo=WIB)
    assert [j.data["days"] for j in activity_jobs(_activity(), CONFIG, WIB, two_days_before)] == [1]
    early = _activity(starts_at=datetime(2024, 11, 6, 7, 0, tzinfo=WIB).isoformat())
    same_day = NotifySettings(reminder_days="1,0")
    assert [j.data["days"] for j in activity_jobs(early, same_day, WIB, two_days_before)] == [1]


def test_an_overdue_report_is_alerted_again_each_week_after_the_activities_services_h3():
    # The first alert is sinergi.activity.report_overdue (H+3, from activities); then one a week.
    held = _activity(status="held", ends_at=datetime(2024, 11, 6, 11, 0, tzinfo=WIB).isoformat())
    [job] = activity_jobs(held, CONFIG, WIB, datetime(2024, 11, 6, 12, 0, tzinfo=WIB))
    assert job.due_at == datetime(2024, 11, 16, 8, 0, tzinfo=WIB) and job.kind == "realert"
    [late] = activity_jobs(held, CONFIG, WIB, datetime(2024, 12, 7, 9, 0, tzinfo=WIB))
    assert late.due_at == datetime(2024, 12, 14, 8, 0, tzinfo=WIB)  # weeks missed: the next one only
    assert activity_jobs(_activity(status="reported", ends_at=held.ends_at.isoformat()), CONFIG, WIB,
                         datetime(2024, 11, 6, 12, 0, tzinfo=WIB)) == []


def test_agreement_reminders_7_days_before_and_none_once_renewed_or_archived():
    # 30 days before is the partners service's sinergi.partner.agreement_expiring.
    mou = {"id": "AG-1", "doc_type": "mou", "valid_until": "2024-12-31"}
    partner = {"id": "P-1", "status": "active", "agreements": [mou]}
    now = datetime(2024, 11, 1, tzinfo=UTC)

    def jobs(**changes):
        return partner_jobs(Partner.model_validate({**partner, **changes}), CONFIG, WIB, now)

    assert sorted(j.due_at for j in jobs()) == [datetime(2024, 12, 24, 8, 0, tzinfo=WIB)]
    renewed = [mou, {"id": "AG-2", "doc_type": "mou", "valid_until": "2025-12-31"}]
    assert {j.data["agreement_id"] for j in jobs(agreements=renewed)} == {"AG-2"}
    pks = [mou, {"id": "AG-3", "doc_type": "pks", "valid_until": "2025-12-31"}]
    assert {j.data["agreement_id"] for j in jobs(agreements=pks)} == {"AG-1", "AG-3"}
    assert jobs(status="archived") == []


def test_an_agreement_registered_inside_its_alert_window_gets_the_nearest_alert_at_once_and_lapsed_weekly():
    partner = Partner.model_validate({"id": "P-1", "agreements": [{"id": "AG-1", "doc_type": "pks",
                                                                  "valid_until": "2024-11-05T23:59:00+07:00"}]})
    [job] = partner_jobs(partner, CONFIG, WIB, datetime(2024, 11, 1, 12, 0, tzinfo=WIB))
    assert job.data["days"] == 7 and job.due_at < datetime(2024, 11, 1, 12, 0, tzinfo=WIB)
    [weekly] = partner_jobs(partner, CONFIG, WIB, datetime(2024, 11, 6, 12, 0, tzinfo=WIB))
    assert weekly.kind == "realert" and weekly.due_at == datetime(2024, 11, 13, 8, 0, tzinfo=WIB)


def test_the_coverage_check_is_30_days_before_voting_day():
    targets = Targets(id="pilkada-2024", election="pilkada-2024", voting_day="2024-11-27",
                      segment_targets={"perempuan": 2})
    [job] = targets_jobs(targets, CONFIG, WITA, datetime(2024, 9, 1, tzinfo=UTC))
    assert job.due_at == datetime(2024, 10, 28, 8, 0, tzinfo=WITA)
    assert targets_jobs(targets, CONFIG, WITA, datetime(2024, 11, 28, tzinfo=UTC)) == []
    assert targets_jobs(targets.model_copy(update={"segment_targets": {"perempuan": 0}}), CONFIG, WITA,
                        datetime(2024, 9, 1, tzinfo=UTC)) == []


def test_coverage_gaps_are_targeted_segments_no_held_activity_reached():
    targets = Targets(id="T", election="pilkada-2024",
                      segment_targets={"perempuan": 2, "disabilitas": 1, "lansia": 0})
    activities = [Activity(id="1", election="pilkada-2024", status="reported", segments=["perempuan"]),
                  Activity(id="2", election="pilkada-2024", status="scheduled", segments=["disabilitas"]),
                  Activity(id="3", election="pemilu-2024", status="held", segments=["disabilitas"])]
    assert coverage_gaps(targets, activities) == ["disabilitas"]


@pytest.mark.parametrize(("now", "due"), [
    (datetime(2024, 11, 10, 23, 0, tzinfo=WIB), datetime(2024, 11, 11, 7, 0, tzinfo=WIB)),
    (datetime(2024, 11, 11, 7, 0, tzinfo=WIB), datetime(2024, 11, 18, 7, 0, tzinfo=WIB)),
    (datetime(2024, 11, 11, 6, 59, tzinfo=WIT), datetime(2024, 11, 11, 7, 0, tzinfo=WIT)),
])
def test_the_digest_is_next_monday_at_07_00_local(now, due):
    assert digest_job(CONFIG, now.tzinfo, now).due_at == due


def test_the_weekly_summary_counts_last_weeks_activities_and_every_open_report():
    start, end = datetime(2024, 11, 4, tzinfo=WIB), datetime(2024, 11, 11, tzinfo=WIB)
    done = Activity.model_validate({"id": "1", "status": "reported", "starts_at": "2024-11-05T09:00:00+07:00",
                                    "outcome": {"attendance_total": 80, "reach": 120}})
    open_old = Activity.model_validate({"id": "2", "status": "held", "starts_at": "2024-10-01T09:00:00+07:00"})
    summary = weekly_summary([done, open_old], start, end)
    assert (summary.held, summary.reach, summary.attendance) == (1, 120, 80)
    assert summary.open_reports == [open_old]


# --- Who -------------------------------------------------------------------------------------


def test_subscriptions_accept_rules_prefixes_and_event_types():
    assert normalize_subscription("sinergi.activity.rescheduled") == "activity.scheduled"
    assert normalize_subscription("activity.*") == "activity.*"
    for wrong in ("activity.held", "sinergi.activity.held", "nothing.*"):
        with pytest.raises(ValueError):
            normalize_subscription(wrong)
    assert subscribed([], "digest.weekly") and subscribed(["activity.*"], "activity.reminder")
    assert not subscribed(["partner.registered"], "activity.reminder")


def test_regions_narrow_what_a_recipient_hears_about():
    assert covers(["32.73.02"], ["32.73", "32.73.02"]) and not covers(["32.73.03"], ["32.73", "32.73.02"])
    assert covers([], ["32.73"]) and covers(["32.73.02"], [])
    assert not wants({"regions": ["33.16"]}, "activity.scheduled", ["32.73"])


# --- Ids -------------------------------------------------------------------------------------


@given(st.text(), st.text(), st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)))
def test_a_notification_id_depends_only_on_rule_cause_audience_and_instant(cause, audience, at):
    assert notification_id("activity.reminder", cause, audience, at) == notification_id(
        "activity.reminder", cause, audience, at)
    assert notification_id("activity.reminder", cause, audience, at) != notification_id(
        "activity.cancelled", cause, audience, at)


def test_notification_ids_sort_by_the_instant_of_their_cause():
    earlier = notification_id("r", "z", "a", datetime(2024, 11, 5, tzinfo=UTC))
    later = notification_id("r", "a", "a", datetime(2024, 11, 5, 0, 0, 1, tzinfo=UTC))
    assert earlier < later and len(later) == 26


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0, max_value=0.999))
def test_backoff_grows_exponentially_within_its_cap_with_jitter(failures, jitter):
    delay = backoff(failures, 30.0, 3600.0, jitter)
    full = min(3600.0, 30.0 * 2 ** (failures - 1))
    assert full / 2 <= delay <= full


def test_the_signature_is_the_hmac_sha256_of_the_raw_body():
    body = b'{"id":"x"}'
    assert sign("s3cret-s3cret-s3cret", body) == "sha256=" + hmac.new(
        b"s3cret-s3cret-s3cret", body, hashlib.sha256).hexdigest()


def test_smtp_urls():
    plain = SmtpServer.from_url("smtp://127.0.0.1:1025")
    assert (plain.hostname, plain.port, plain.use_tls, plain.username) == ("127.0.0.1", 1025, False, None)
    secure = SmtpServer.from_url("smtps://kpu%40mail:p%40ss@mail.kpu.go.id")
    assert (secure.port, secure.use_tls, secure.username, secure.password) == (465, True, "kpu@mail", "p@ss")
    assert SmtpServer.from_url("smtp://mail:587?starttls=true").start_tls is True
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://mail")


# --- What ------------------------------------------------------------------------------------


def _job(occurrence, due_at=None, offset=1):
    return Job("j", occurrence, JobKind.reminder, "A-1", due_at or datetime(2024, 11, 1, tzinfo=UTC), {"days": offset})


def _reminder(activity, now, offset=1):
    job = _job(activity.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), now, offset)
    return rules.reminder(job, activity, lambda _: None, WIB, now, CONFIG.reminder_days)


def test_the_reminder_text_reads_as_the_office_writes_it():
    trigger = _reminder(_activity(), datetime(2024, 11, 5, 8, 0, tzinfo=WIB))
    subject, body = Texts(WIB, "Kota Bandung").render("id", trigger.template, trigger.context)
    assert subject == ("Pengingat: kegiatan 'Forum Warga Coblong' dijadwalkan besok, Rabu 6 November 2024 "
                       "pukul 09.00 WIB di Balai RW 05")
    assert "Waktu     : Rabu 6 November 2024, pukul 09.00 WIB" in body
    english, _ = Texts(WIB, "Kota Bandung").render("en", trigger.template, trigger.context)
    assert english == ("Reminder: activity 'Forum Warga Coblong' is scheduled tomorrow, Wednesday 6 November 2024 "
                       "at 09:00 WIB at Balai RW 05")


def test_texts_use_the_regions_zone_abbreviation():
    activity = _activity(starts_at=datetime(2024, 11, 6, 9, 0, tzinfo=WIT).isoformat())
    job = _job(datetime(2024, 11, 6, 0, 0, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), offset=3)
    trigger = rules.reminder(job, activity, lambda _: None, WIT, datetime(2024, 11, 3, 8, 0, tzinfo=WIT), [3, 1])
    subject, _ = Texts(WIT, "Kota Jayapura").render("id", trigger.template, trigger.context)
    assert "3 hari lagi, Rabu 6 November 2024 pukul 09.00 WIT" in subject


def test_a_late_h3_reminder_gives_way_to_the_h1_and_a_moved_activity_silences_the_old_one():
    activity = _activity()
    assert _reminder(activity, datetime(2024, 11, 5, 8, 0, tzinfo=WIB), offset=3) is None
    assert _reminder(activity, datetime(2024, 11, 4, 8, 0, tzinfo=WIB), offset=3).context["days"] == 2
    moved = _changed(activity, starts_at=datetime(2024, 11, 7, 9, 0, tzinfo=WIB))
    job = _job("2024-11-06T02:00:00Z")
    assert rules.reminder(job, moved, lambda _: None, WIB, datetime(2024, 11, 5, 8, tzinfo=WIB), [3, 1]) is None


def test_invitations_go_to_each_address_of_active_partners_once_and_unknown_partners_are_named():
    partners = {p.id: p for p in map(Partner.model_validate, [
        {"id": "P-1", "name": "KIM Dago", "status": "active", "contacts": [
            {"name": "Sari", "email": "sari@kimdago.id"}, {"name": "No mail", "email": None}]},
        {"id": "P-2", "name": "Radio", "status": "active",
         "contacts": [{"name": "Sari again", "email": "SARI@kimdago.id"}]},
        {"id": "P-3", "name": "Suspended", "status": "suspended", "contacts": [{"name": "X", "email": "x@y.id"}]},
    ])}
    activity = _activity(partners=[{"partner_id": p, "role": "mitra"} for p in ("P-1", "P-2", "P-3", "P-9")])
    contacts, missing = rules.invitees(activity, partners.get)
    assert contacts == [Contact("Sari", "sari@kimdago.id", "P-1", "KIM Dago", "mitra")]
    assert missing == ["P-9"]


def test_an_activity_recorded_after_it_took_place_invites_nobody():
    partners = {"P-1": Partner.model_validate({"id": "P-1", "name": "KIM", "status": "active",
                                               "contacts": [{"name": "S", "email": "s@k.id"}]})}
    past = _activity(partners=[{"partner_id": "P-1", "role": "mitra"}])
    change = rules.Change("sinergi.activity.scheduled", "A-1@2", datetime.now(UTC), None,
                          datetime(2024, 12, 1, tzinfo=UTC))
    [trigger], _ = rules.ACTIVITY_EVENT_RULES[change.type](change, past, partners.get)
    assert trigger.rule == "activity.scheduled" and trigger.contacts == []


def test_settings_reject_unknown_rules_and_read_comma_lists():
    assert NotifySettings(reminder_days="1,3", disabled_rules="digest.weekly").reminder_days == [3, 1]
    assert not NotifySettings(disabled_rules="digest.weekly").enabled("digest.weekly")
    assert NotifySettings(reminder_time="07:30").reminder_time == time(7, 30)
    with pytest.raises(ValueError):
        NotifySettings(disabled_rules="activity.everything")


def test_a_digest_of_a_quiet_week_still_renders():
    job = Job("digest.weekly", "2024-11-11", JobKind.digest, "digest", datetime(2024, 11, 11, tzinfo=WIB))
    trigger = rules.digest(job, [], WIB, date(2024, 11, 11))
    subject, body = Texts(WIB, "Kab. Blora").render("id", trigger.template, trigger.context)
    assert subject == "Ringkasan mingguan KPU Kab. Blora: 4 November 2024 – 10 November 2024"
    assert "Kegiatan pekan lalu : 0" in body


# --- Words, events, read models ----------------------------------------------------------------


def test_labels_are_the_shared_vocabularys_as_a_sentence_reads_them():
    assert label("pemilih_pemula", "segment") == "pemilih pemula"
    assert label("disabilitas", "segment") == "penyandang disabilitas"
    assert label("goes_to_school", "format") == "KPU goes to school"  # an acronym keeps its capitals
    assert label("opd_diskominfo", "partner_type") == "OPD Diskominfo"
    assert label("held", "activity_status", "en") == "held"
    assert label("pks", "doc_type", "en") == "cooperation agreement (PKS)"
    assert label("pks", "doc_type", "en", start=True) == "Cooperation agreement (PKS)"
    assert label("pilkada-2024", "election") == "Pilkada 2024"
    assert label("pilkada-2024", "election", "en") == "the 2024 regional elections"


def test_an_agreement_alert_that_begins_with_its_kind_begins_with_a_capital():
    partner = Partner.model_validate({"id": "P-1", "name": "Diskominfo", "status": "active", "agreements": [
        {"id": "AG-1", "doc_type": "pks", "number": "7/PKS/2024", "valid_until": "2024-12-31"}]})
    job = Job("partner:P-1:agreement:AG-1:30", "2024-12-31", JobKind.agreement, "P-1",
              datetime(2024, 12, 1, 1, tzinfo=UTC), {"agreement_id": "AG-1", "days": 30})
    trigger = rules.agreement_expiring(job, partner, WIB, datetime(2024, 12, 1, 8, tzinfo=WIB))
    subject, body = Texts(WIB, "Kota Bandung").render("en", trigger.template, trigger.context)
    assert subject == "Cooperation agreement (PKS) with Diskominfo expires in 30 days (Tuesday 31 December 2024)"
    assert body.startswith("The cooperation agreement (PKS) no. 7/PKS/2024 with Diskominfo is valid until")
    assert trigger.data["agreement"]["number"] == "7/PKS/2024" and trigger.data["partner"]["id"] == "P-1"


def test_a_delivery_outcome_is_published_as_a_notification_snapshot_without_its_body():
    from services.notifications.events import delivery_ended
    from shared.events import EventType, NotificationEvent

    at = datetime(2024, 11, 5, 1, tzinfo=UTC)
    delivery = {"_id": "N1.email", "version": 3, "created_at": at, "updated_at": at, "notification_id": "N1",
                "recipient_id": None, "audience": "contact:sari@kimdago.id", "rule": "activity.scheduled",
                "subject": "Undangan", "channel": "email", "region": "32.73", "to": "sari@kimdago.id",
                "body": "Yth. Ibu Sari", "history": [], "cause": {"type": "sinergi.activity.scheduled", "id": "A@2"},
                "status": "sent", "attempts": 1, "last_error": None}
    event = delivery_ended(EventType.NOTIFICATION_SENT, delivery)
    assert (event.subject, event.aggregateversion, event.source) == ("N1.email", 3, "/sinergi/32.73/notifications")
    assert set(event.data) == {"id", "version", "created_at", "updated_at", "notification_id", "recipient_id", "rule",
                               "subject", "channel", "region", "cause", "delivery"}
    assert event.data["recipient_id"] == "contact:sari@kimdago.id"
    assert event.data["delivery"] == {"status": "sent", "attempts": 1, "last_error": None}
    NotificationEvent.model_validate_json(event.to_wire())  # what the published schema describes


def test_read_models_take_nulls_as_defaults_and_naive_times_as_utc():
    activity = Activity.model_validate({"id": "A-1", "segments": None, "location": None, "partners": None,
                                        "starts_at": "2024-11-06T02:00:00", "ends_at": "not a date",
                                        "outcome": {"reach": "many", "attendance_total": 40}, "whatever": 1})
    assert activity.segments == [] and activity.partners == [] and activity.regions == ()
    assert activity.starts_at == datetime(2024, 11, 6, 2, tzinfo=UTC) and activity.ends_at is None
    assert activity.reach == 40 and activity.attendance == 40
    partner = Partner.model_validate({"id": "P", "agreements": [
        {"id": "AG", "valid_until": "2024-11-05T23:59:00+07:00", "signed_by": "Kepala Dinas"}]})
    agreement = partner.agreements[0]
    assert agreement.until(WIB) == date(2024, 11, 5) and agreement.until(ZoneInfo("UTC")) == date(2024, 11, 5)
    assert agreement.model_dump(mode="json")["signed_by"] == "Kepala Dinas"  # a webhook passes it on
