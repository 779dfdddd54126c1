"""docs/events/ (a JSON Schema per event type, each service's AsyncAPI) is what the code generates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from shared.events import CATALOGUE, ActivitySnapshot, CloudEvent, EventType, make_event
from sinergi_cli.ops import asyncapi

ROOT = Path(__file__).resolve().parent.parent.parent
REGENERATE = "docs/events/ differs from the code: run `sinergi events docs` and commit the result"


def test_the_published_documents_match_the_code():
    assert asyncapi.drift(ROOT) == [], REGENERATE


def test_an_event_model_changed_without_regenerating_the_documents_is_caught(monkeypatch):
    class ActivityWithVenue(ActivitySnapshot):
        venue_capacity: int | None = None

    class ChangedEvent(CloudEvent[ActivityWithVenue]):
        pass

    monkeypatch.setitem(CATALOGUE, EventType.ACTIVITY_HELD, (ChangedEvent, CATALOGUE[EventType.ACTIVITY_HELD][1]))
    stale = asyncapi.drift(ROOT)
    assert "docs/events/sinergi.activity.held.schema.json" in stale
    assert "docs/events/asyncapi/activities.json" in stale  # its producer's AsyncAPI document
    assert "docs/events/sinergi.activity.planned.schema.json" not in stale


def test_a_new_event_type_without_documents_is_caught(monkeypatch):
    from enum import StrEnum

    class More(StrEnum):
        PARTNER_MERGED = "sinergi.partner.merged"

    monkeypatch.setitem(CATALOGUE, More.PARTNER_MERGED, CATALOGUE[EventType.PARTNER_UPDATED])
    assert "docs/events/sinergi.partner.merged.schema.json" in asyncapi.drift(ROOT)


def _schema(event_type: str) -> dict:
    return json.loads((ROOT / "docs" / "events" / f"{event_type}.schema.json").read_text())


def test_a_real_event_validates_against_its_schema_and_not_against_another_types():
    now = datetime.now(UTC).isoformat()
    event = make_event(EventType.ACTIVITY_SCHEDULED, region="33.16", service="activities", subject="a1", version=2,
                       data={"id": "a1", "version": 2, "created_at": now, "updated_at": now, "title": "Forum warga",
                             "kind": "sosialisasi", "election": "pilkada-2024", "region": "33.16",
                             "status": "scheduled", "starts_at": now})
    document = json.loads(event.to_wire())
    jsonschema.Draft202012Validator(_schema("sinergi.activity.scheduled"),
                                    format_checker=jsonschema.FormatChecker()).validate(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, _schema("sinergi.activity.held"))


def test_each_service_document_lists_what_it_publishes_and_what_its_queues_take():
    for service, published, consumed in [("partners", "sinergi.partner.registered", None),
                                         ("activities", "sinergi.activity.held", "PartnerRegistered")]:
        document = json.loads((ROOT / "docs" / "events" / "asyncapi" / f"{service}.json").read_text())
        assert document["asyncapi"] == "3.0.0"
        assert published in document["channels"]
        if consumed:
            payloads = json.dumps([m["payload"] for m in document["components"]["messages"].values()])
            assert f"#/components/schemas/{consumed}" in payloads


def test_each_asyncapi_document_is_valid_asyncapi_3():
    """Against the AsyncAPI Initiative's own schema (npm @asyncapi/specs, tests/ops_schemas/README.md)."""
    import gzip
    import hashlib

    raw = gzip.decompress((ROOT / "tests" / "ops_schemas" / "asyncapi-3.0.0.json.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == "abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f"
    validator = jsonschema.Draft7Validator(json.loads(raw))
    for path in sorted((ROOT / "docs" / "events" / "asyncapi").glob("*.json")):
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message[:300]}"
