"""The shared pieces of the public contract, without I/O: envelope, routing, auth, errors, settings."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import jwt
import pytest
from pydantic import ValidationError

from shared.auth import Role, mint, verify
from shared.bus import topic_matches
from shared.events import AnyEvent, EventType, make_event, routing_key
from shared.logging import bound
from shared.errors import Invalid
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import InvalidField, Problem, Unauthorized, field_name, from_service
from shared.regions import digits, is_region_code, within
from shared.settings import Settings
from tests.cloudevents import CLOUDEVENT_SCHEMA

SECRET = "x" * 48
ROOT = Path(__file__).resolve().parent.parent.parent


def _event(**overrides):
    now = datetime.now(UTC).isoformat()
    values = dict(region="32.73", service="activities", subject="a1", version=3,
                  data={"id": "a1", "created_at": now, "updated_at": now})
    values.update(overrides)
    return make_event(EventType.ACTIVITY_SCHEDULED, **values)


def test_routing_keys_use_the_region_digits_and_the_type_without_prefix():
    assert routing_key("32.73", "sinergi.activity.scheduled") == "3273.activity.scheduled"
    assert routing_key("33.16", "sinergi.partner.agreement_signed") == "3316.partner.agreement_signed"
    assert _event().routing_key == "3273.activity.scheduled"


def test_an_event_is_a_cloudevents_1_0_structured_document():
    event = _event()
    wire = AnyEvent.model_validate_json(event.to_wire()).model_dump(mode="json", exclude_none=True)
    jsonschema.validate(wire, CLOUDEVENT_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert wire["specversion"] == "1.0" and wire["source"] == "/sinergi/32.73/activities"
    assert wire["subject"] == "a1" and wire["aggregateversion"] == 3 and wire["region"] == "32.73"
    assert wire["datacontenttype"] == "application/json"


def test_events_carry_the_correlation_and_causation_of_the_work_in_hand():
    with bound("req-1", "evt-0"):
        event = _event()
    assert (event.correlationid, event.causationid) == ("req-1", "evt-0")
    assert _event().correlationid is None


def test_event_ids_are_unique():
    assert len({_event().id for _ in range(1000)}) == 1000


@pytest.mark.parametrize("bad", [{"specversion": "0.3"}, {"time": "2024-11-27T09:00:00"}, {"aggregateversion": 0},
                                 {"region": "3273"}, {"source": ""}])
def test_an_envelope_breaking_the_contract_is_refused(bad):
    wire = _event().model_dump(mode="json")
    wire.update(bad)
    with pytest.raises(ValidationError):
        AnyEvent.model_validate(wire)


def test_region_codes():
    assert is_region_code("32") and is_region_code("32.73") and is_region_code("32.73.02.1001")
    assert not is_region_code("3273") and not is_region_code("32.7") and not is_region_code("32.73.")
    assert digits("32.73") == "3273"
    assert within("32.73.02", "32.73") and within("32.73", "32") and not within("32.7", "32.73")
    assert not within("32.730", "32.73")


def test_a_token_covers_its_regions_and_their_parents_only():
    principal = verify(SECRET, mint(SECRET, sub="s", role="operator", regions=["32"]))
    assert principal.role is Role.operator and principal.covers("32.73") and not principal.covers("33.16")
    assert verify(SECRET, mint(SECRET, sub="s", role="admin", regions=["*"])).covers("33.16")


@pytest.mark.parametrize("token", [
    jwt.encode({"sub": "s", "role": "admin", "regions": ["*"], "exp": datetime.now(UTC) + timedelta(hours=1)},
               key=None, algorithm="none"),
    jwt.encode({"sub": "s", "role": "admin", "regions": ["*"], "exp": datetime.now(UTC) + timedelta(hours=1)},
               "y" * 48, algorithm="HS256"),
    jwt.encode({"sub": "s", "role": "admin", "regions": ["*"], "exp": datetime.now(UTC) - timedelta(seconds=1)},
               SECRET, algorithm="HS256"),
    jwt.encode({"sub": "s", "role": "root", "regions": ["*"], "exp": datetime.now(UTC) + timedelta(hours=1)},
               SECRET, algorithm="HS256"),
    jwt.encode({"sub": "s", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)}, SECRET, algorithm="HS256"),
    "not.a.jwt",
], ids=["alg-none", "wrong-signature", "expired", "unknown-role", "no-regions", "garbage"])
def test_a_token_that_is_unsigned_forged_expired_or_incomplete_is_refused(token):
    with pytest.raises(Unauthorized):
        verify(SECRET, token)


def test_minting_refuses_unknown_roles_and_malformed_regions():
    with pytest.raises(ValueError):
        mint(SECRET, sub="s", role="root", regions=["32.73"])
    with pytest.raises(ValueError):
        mint(SECRET, sub="s", role="viewer", regions=["3273"])


def test_validation_errors_name_fields_as_a_client_writes_them():
    assert field_name(("body", "contacts", 0, "email")) == "contacts[0].email"
    assert field_name(("query", "limit")) == "limit"
    assert field_name(("body",)) == "body"


def test_problems_render_as_rfc_9457_documents():
    body = InvalidField({"name": "must not be empty"}).body("/partners")
    assert body == {"type": "/problems/validation", "title": "Invalid input", "status": 422,
                    "detail": "name: must not be empty", "instance": "/partners",
                    "errors": [{"field": "name", "message": "must not be empty"}]}
    assert Problem("x", status=409, current_status="reported").body()["current_status"] == "reported"


def test_cursors_round_trip_and_garbage_is_a_validation_error():
    assert decode_cursor(encode_cursor("01JABC")) == "01JABC"
    with pytest.raises(Invalid) as refused:
        decode_cursor("%%%")
    assert from_service(refused.value).body()["errors"] == [{"field": "cursor",
                                                             "message": "not a cursor this service issued"}]


def test_settings_refuse_a_missing_or_weak_secret_outside_the_dev_runner(monkeypatch):
    for key in ("SINERGI_AUTH_SECRET", "SINERGI_DEV"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValidationError, match="SINERGI_AUTH_SECRET"):
        Settings()
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(auth_secret="changeme")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(auth_secret="short-but-not-a-placeholder")
    assert Settings(auth_secret=SECRET).region == "32.73"


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("SINERGI_AUTH_SECRET", SECRET)
    monkeypatch.setenv("SINERGI_REGION", "33.16")
    monkeypatch.setenv("SINERGI_TIMEZONE", "Asia/Jayapura")
    monkeypatch.setenv("SINERGI_RETRY_DELAYS", "0.5,2")
    settings = Settings()
    assert settings.region_digits == "3316" and settings.zone.key == "Asia/Jayapura"
    assert settings.retry_delays == [0.5, 2.0]
    monkeypatch.setenv("SINERGI_TIMEZONE", "Asia/Bandung")
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        Settings()


@pytest.mark.parametrize(("pattern", "key", "matches"), [
    ("*.activity.*", "3273.activity.scheduled", True), ("*.activity.*", "3273.partner.registered", False),
    ("3273.#", "3273.partner.agreement_signed", True), ("3273.#", "3316.partner.registered", False),
    ("#", "3273.activity.held", True), ("3273.activity.#", "3273.activity", True),
    ("*.activity", "3273.activity.held", False), ("3273.*.held", "3273.activity.held", True),
])
def test_subscribers_bindings_match_routing_keys_as_rabbitmq_does(pattern, key, matches):
    assert topic_matches(pattern, key) is matches


def test_the_library_imports_no_service_and_no_tooling():
    """shared/ is what a running service needs; services and the CLI build on it, never the reverse."""
    for module in sorted((ROOT / "shared").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            upward = [n for n in names if n.split(".")[0] in {"services", "sinergi_cli", "bench", "tests"}]
            assert not upward, f"{module.relative_to(ROOT)} imports {upward}"
