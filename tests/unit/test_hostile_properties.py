"""Property tests of the domain rules: whatever the input or the order of commands, the rules hold;
and of the HTTP edge: whatever a token or a JSON text holds, the answer is a client error or a
success, never a crash."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.activities.domain import ActivityError, Location, Segment, Status
from services.partners.domain import Invalid, NotAllowed, details, fold
from services.partners.domain import Status as PartnerStatus
from shared.auth import verify
from shared.problems import Unauthorized
from shared.body_limits import BodyRefused, check_json_text
from tests.unit.test_activities_domain import NOW, planned
from tests.unit.test_partners_domain import REGION
from tests.unit.test_partners_domain import NOW as PNOW
from tests.unit.test_partners_domain import partner

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


# --- partners ------------------------------------------------------------------------------------

@FAST
@given(names)
def test_the_uniqueness_key_is_idempotent_and_ignores_case_and_spacing(name):
    key = fold(name)
    assert fold(key) == key
    assert fold("  " + name.upper() + "\t") == fold(name.upper())
    assert key == key.strip() and "  " not in key


@FAST
@given(names)
def test_a_checked_name_is_stored_normalised_and_checking_it_again_changes_nothing(name):
    try:
        once = details({"name": name, "type": "kim"}, REGION)
    except Invalid:
        return
    twice = details({**once, "type": "kim"}, REGION)
    assert twice["name"] == once["name"]
    assert fold(once["name"]) == fold(name)


COMMANDS = st.lists(st.sampled_from(["suspend", "reactivate", "archive", "revise", "move_active",
                                     "move_suspended", "move_archived"]), max_size=12)


@FAST
@given(COMMANDS)
def test_no_sequence_of_commands_leaves_archived_and_each_change_is_in_the_history(commands):
    found = partner()
    archived = False
    for i, command in enumerate(commands):
        now = PNOW + timedelta(minutes=i + 1)
        before = found.status
        try:
            if command == "suspend":
                found.suspend("jeda", now, "op")
            elif command == "reactivate":
                found.reactivate(None, now, "op")
            elif command == "archive":
                found.archive("bubar", now, "op")
            elif command == "revise":
                found.revise({"notes": f"catatan {i}"}, now)
            else:
                found.move_to(PartnerStatus(command.removeprefix("move_")), "impor", now, "op")
        except (NotAllowed, Invalid):
            assert found.status is before  # a refused command changes nothing
            continue
        archived = archived or found.status is PartnerStatus.archived
        assert found.status is PartnerStatus.archived or not archived
        if found.status is not before:
            assert found.status_history[-1].status is found.status
            assert found.status_history[-1].previous is before
    assert found.status_history[0].status is PartnerStatus.active


# --- activities ----------------------------------------------------------------------------------

ALLOWED = {
    Status.planned: {Status.planned, Status.scheduled, Status.cancelled},
    Status.scheduled: {Status.scheduled, Status.held, Status.cancelled},
    Status.held: {Status.held, Status.reported},
    Status.reported: {Status.reported},
    Status.cancelled: {Status.cancelled},
}

STEPS = st.lists(st.tuples(st.sampled_from(["edit", "schedule", "hold", "report", "cancel"]),
                           st.integers(-48, 48)), max_size=10)


@FAST
@given(STEPS, st.integers(0, 500))
def test_any_sequence_of_commands_only_follows_the_life_cycle(steps, total):
    activity = planned()
    version = activity.version
    for i, (command, hours) in enumerate(steps):
        now = NOW + timedelta(hours=i)
        before = activity.status
        try:
            if command == "edit":
                activity.edit({"title": f"Forum warga {i}"}, now)
            elif command == "schedule":
                start = NOW + timedelta(hours=hours)
                activity.schedule(start, start + timedelta(hours=2),
                                  Location(district="32.73.02", village=None, venue="Balai RW 05"), now)
            elif command == "hold":
                activity.hold(now + timedelta(days=5))
            elif command == "report":
                activity.report(attendance_total=total, attendance_by_segment={"pemilih_pemula": total}, now=now)
            else:
                activity.cancel("hujan deras", now)
        except ActivityError:
            assert activity.status is before
            continue
        assert activity.status in ALLOWED[before], (before, command, activity.status)
        assert activity.version >= version
        version = activity.version
        if activity.status is Status.reported:
            assert activity.outcome is not None and activity.outcome.attendance_total == total
        if activity.status is Status.cancelled:
            assert activity.cancel_reason


segments = st.dictionaries(st.sampled_from([s.value for s in Segment]), st.integers(-5, 600), max_size=6)


@FAST
@given(st.integers(-5, 500), segments, st.integers(-5, 600), st.integers(-5, 600))
def test_a_report_never_counts_more_in_a_segment_than_attended(total, by_segment, women, disabled):
    activity = planned()
    activity.schedule(NOW, NOW + timedelta(hours=2), Location(district="32.73.02", village=None, venue="Balai"), NOW)
    activity.hold(NOW + timedelta(hours=3))
    try:
        activity.report(attendance_total=total, attendance_by_segment=by_segment, women=women, disabled=disabled,
                        now=NOW + timedelta(hours=4))
    except ActivityError:
        assert activity.status is Status.held and activity.outcome is None
        return
    outcome = activity.outcome
    assert outcome is not None and outcome.attendance_total >= 0
    assert all(0 <= count <= outcome.attendance_total for count in outcome.attendance_by_segment.values())
    assert 0 <= outcome.women <= outcome.attendance_total and 0 <= outcome.disabled <= outcome.attendance_total


# --- the HTTP edge: tokens and JSON text of any shape get a client error, never a crash ---------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
SECRET = "s" * 48


@FAST
@given(role=json_values | st.sampled_from(["viewer", "operator", "admin"]),
       regions=json_values | st.just(["32.73"]), sub=json_values | st.just("rina"))
def test_a_signed_token_of_any_shape_is_a_principal_or_refused_as_401(role, regions, sub):
    claims = {"sub": sub, "role": role, "regions": regions, "exp": int(time.time()) + 600}
    try:
        found = verify(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))
    except Unauthorized as refused:
        assert refused.status == 401
        return
    assert found.role.name == role and list(found.regions) == regions and found.sub == sub


any_text = st.text(st.characters(codec=None), max_size=12)  # surrogates included
documents = st.recursive(
    st.none() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=10,
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


@FAST
@given(documents)
def test_json_text_is_refused_exactly_when_it_holds_a_nul_or_a_lone_surrogate(document):
    text = json.dumps(document).encode()  # escapes every non-ASCII character, surrogates as \udxxx
    strings = list(_strings(document))
    has_nul = any("\0" in s for s in strings)
    has_surrogate = any("\ud800" <= c <= "\udfff" for s in strings for c in s)
    try:
        check_json_text(text)
    except BodyRefused as refused:
        assert refused.problem.status == (400 if has_nul else 422)
        assert has_nul or has_surrogate
        if refused.problem.status == 422:
            assert refused.problem.errors and refused.problem.errors[0]["field"]
        return
    assert not has_nul and not has_surrogate
