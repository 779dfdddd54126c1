"""Kecamatan and desa named beside their codes in every text that shows one (issue 12 point 2),
and partner contacts keyed by e-mail or phone; no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifications import rules
from services.notifications.config import NotifySettings
from services.notifications.domain import targets_jobs
from services.notifications.readmodels import Activity, Partner, Targets
from services.notifications.texts import Texts

WIB = ZoneInfo("Asia/Jakarta")
TEXTS = Texts(WIB, "Kota Bandung")
NOW = datetime(2024, 9, 1, tzinfo=UTC)


def _activity(**overrides):
    return Activity.model_validate({
        "id": "A-1", "version": 2, "title": "Forum Warga", "kind": "sosialisasi", "election": "pilkada-2024",
        "status": "scheduled", "starts_at": (NOW + timedelta(days=20)).isoformat(),
        "location": {"district": "32.73.02", "district_name": "Coblong", "village": "32.73.02.1004",
                     "village_name": "Dago", "venue": "Balai RW 05"}, **overrides})


def test_a_partners_kecamatan_and_desa_are_named_beside_their_codes():
    partner = Partner.model_validate({"id": "P-1", "name": "KIM Dago", "type": "kim", "region": "32.73",
                                      "district": "32.73.02", "district_name": "Coblong",
                                      "village": "32.73.02.1004", "village_name": "Dago", "status": "active"})
    change = rules.Change("sinergi.partner.registered", "P-1@1", NOW, None, NOW)
    [trigger] = rules.PARTNER_EVENT_RULES["sinergi.partner.registered"](change, partner)
    _, body = TEXTS.render("id", trigger.template, trigger.context)
    assert "kecamatan Coblong (32.73.02), desa/kelurahan Dago (32.73.02.1004)." in body
    _, english = TEXTS.render("en", trigger.template, trigger.context)
    assert "kecamatan Coblong (32.73.02)" in english
    assert trigger.data["partner"]["district_name"] == "Coblong"


def test_a_kecamatan_without_a_name_is_shown_by_its_code_as_before():
    partner = Partner.model_validate({"id": "P-1", "name": "KIM", "type": "kim", "region": "32.73",
                                      "district": "32.73.02", "status": "active"})
    change = rules.Change("sinergi.partner.registered", "P-1@1", NOW, None, NOW)
    [trigger] = rules.PARTNER_EVENT_RULES["sinergi.partner.registered"](change, partner)
    assert "wilayah 32.73, kecamatan 32.73.02." in TEXTS.render("id", trigger.template, trigger.context)[1]


def test_an_activitys_texts_and_its_invitation_name_the_kecamatan_and_desa():
    partner = Partner.model_validate({"id": "P-1", "name": "KIM Dago", "status": "active",
                                      "contacts": [{"name": "Pak Ujang", "phone": "0813-2000-2222"}]})
    activity = _activity(partners=[{"partner_id": "P-1", "role": "mitra"}])
    change = rules.Change("sinergi.activity.scheduled", "A-1@2", NOW, None, NOW)
    [trigger], missing = rules.scheduled(change, activity, {"P-1": partner}.get)
    assert missing == []
    area = "Wilayah   : kecamatan Coblong (32.73.02), desa/kelurahan Dago (32.73.02.1004)"
    assert area in TEXTS.render("id", trigger.template, trigger.context)[1]
    [contact] = trigger.contacts  # a phone and no e-mail: a contact all the same, by number
    assert (contact.email, contact.phone, contact.audience) == (None, "+6281320002222", "contact:+6281320002222")
    invitation = TEXTS.render("id", trigger.contact_template, {**trigger.context, "contact": contact})[1]
    assert area in invitation and "Yth. Pak Ujang" in invitation
    unplaced = _activity(location={"district": "32.73.02", "district_name": "Coblong"})
    [trigger], _ = rules.scheduled(change, unplaced, {}.get)
    subject, body = TEXTS.render("id", trigger.template, trigger.context)
    assert "Tempat    : Coblong (32.73.02)" in body


def test_the_coverage_gap_names_the_kecamatan_the_targets_named():
    targets = Targets.model_validate({
        "id": "pilkada-2024", "election": "pilkada-2024", "voting_day": "2024-11-27",
        "district_targets": [{"district": "32.73.02", "district_name": "Coblong", "activities": 2},
                             {"district": "32.73.03", "activities": 1}]})
    [job] = targets_jobs(targets, NotifySettings(), WIB, NOW)
    trigger = rules.coverage_gap(job, targets, None, [], WIB, datetime(2024, 10, 28, 8, 0, tzinfo=WIB))
    _, body = TEXTS.render("id", trigger.template, trigger.context)
    assert "- Kecamatan Coblong (32.73.02): target 2 kegiatan\n- Kecamatan 32.73.03 (target 1 kegiatan)" in body
    assert "- Kecamatan Coblong (32.73.02): target 2 activities" in TEXTS.render("en", trigger.template,
                                                                               trigger.context)[1]
    assert trigger.data["district_gaps"] == [{"district": "32.73.02", "target": 2, "district_name": "Coblong"},
                                             {"district": "32.73.03", "target": 1}]


def test_every_reason_the_answer_page_can_be_refused_with_is_worded_by_the_page():
    import ast
    from pathlib import Path

    from services.notifications import answer_page, invitations

    source = Path(invitations.__file__).read_text(encoding="utf-8")
    reasons = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"LinkRefused", "Invalid", "Conflict"}:
            for arg in node.args:
                values = arg.values if isinstance(arg, ast.Dict) else [arg]
                for value in values:
                    for part in ast.walk(value):
                        if isinstance(part, ast.Constant) and isinstance(part.value, str):
                            reasons.add(part.value)
    reasons -= {"cancelled"}  # a status compared with, not a reason
    assert reasons and reasons <= set(answer_page.SAID), reasons - set(answer_page.SAID)


def test_an_invitation_link_of_non_ascii_text_is_refused_not_a_crash():
    # schemathesis found POST /invitations/<non-ASCII> answering 500: hmac.compare_digest refuses it
    from datetime import UTC, datetime

    import pytest

    from services.notifications.invitations import LinkRefused, Signer

    signer = next(iter([Signer.__new__(Signer)]))
    signer._keys = [b"k" * 32]
    with pytest.raises(LinkRefused):
        signer.read("\U0005b5e5~f.\u0082", datetime.now(UTC))
