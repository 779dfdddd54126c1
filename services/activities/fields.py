"""The values an activity is made of and what each field accepts: parsing and field rules, no I/O.

Raw input (the API's dicts, stored values) becomes values here — trimmed text, the enumerations of
``shared.vocabulary``, value objects — and is checked field by field. Every broken rule is named at
once in one :class:`InvalidActivity` (422 at the edge), worded for the operator who reads it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from datetime import MAXYEAR, MINYEAR, datetime
from typing import Any

from collections.abc import Mapping

from services.activities.elections import ELECTIONS, Election, known_elections
from shared.clock import utc_ms
from shared.errors import Invalid, ServiceError
from shared.gazetteer import Places, Unresolved, installed
from shared.regions import within
from shared.vocabulary import (
    DIRECT_FORMATS, ENUMS, MEDIA_FORMATS, Format, Kind, Method, PartnerRole, Segment, Stage, Topic, code,
)

DISTRICT_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
VILLAGE_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
WEB_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# A time must stay a time after a day's shift and any UTC offset (local dates, periods, months):
# the first and last years Python's datetime holds are left out.
FIRST_YEAR, LAST_YEAR = MINYEAR + 1, MAXYEAR - 1
# What POST /activities and PATCH may set; the life-cycle fields change only by transitions.
DETAILS = ("title", "description", "kind", "election", "stage", "topics", "method", "format", "segments",
           "partners", "speakers", "location", "starts_at", "ends_at", "planned_reach", "programme")
PROGRAMME_LENGTH = 120

# --- errors ----------------------------------------------------------------------------------


class ActivityError(ServiceError):
    """A rule of outreach tracking was broken; the message speaks to the operator."""


class InvalidActivity(ActivityError, Invalid):
    """One or more fields are wrong (422), each named: ``InvalidActivity({"title": "..."})``."""

    def __init__(self, errors: dict[str, str], **facts: Any) -> None:
        Invalid.__init__(self, errors, **facts)

    @property
    def by_field(self) -> dict[str, str]:
        return {e["field"]: e["message"] for e in self.errors}


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerRef:
    partner_id: str
    role: PartnerRole


@dataclass(frozen=True)
class Speaker:
    name: str
    affiliation: str | None = None


@dataclass(frozen=True)
class Location:
    district: str | None = None  # kecamatan code, e.g. 32.73.02
    village: str | None = None  # desa/kelurahan code, e.g. 32.73.02.1004
    venue: str | None = None
    online_url: str | None = None


@dataclass(frozen=True)
class Outcome:
    attendance_total: int
    attendance_by_segment: dict[str, int]
    women: int
    disabled: int
    reach: int
    documentation_urls: tuple[str, ...]
    notes: str | None
    reported_at: datetime


def election_of(election_id: str, calendar: Mapping[str, Election] | None = None) -> Election:
    """The election of the calendar (the shipped one unless the stored ``calendar`` is given)."""
    calendar = ELECTIONS if calendar is None else calendar
    election = calendar.get(election_id)
    if election is None:
        raise InvalidActivity({"election": f"unknown election {election_id!r}; one of {known_elections(calendar)}"})
    return election


# --- parsing ---------------------------------------------------------------------------------


def text(value: str | None, multiline: bool = False) -> str | None:
    """Trimmed text (one line unless ``multiline``), ``None`` when nothing is left."""
    if value is None:
        return None
    cleaned = value.strip() if multiline else " ".join(value.split())
    return cleaned or None


def clean_location(location: Location) -> Location | None:
    cleaned = Location(*(text(getattr(location, f.name)) for f in fields(Location)))
    return cleaned if any(getattr(cleaned, f.name) for f in fields(Location)) else None


def utc(value: Any) -> Any:
    """An aware time in UTC to the millisecond (what BSON keeps); anything else is left for the
    field rules to name (:func:`time_errors`), where converting it would overflow or mean nothing."""
    if isinstance(value, datetime) and value.tzinfo is not None and FIRST_YEAR <= value.year <= LAST_YEAR:
        return utc_ms(value)
    return value


def partner_ref(value: PartnerRef | dict[str, Any]) -> PartnerRef:
    if isinstance(value, PartnerRef):
        return value
    return PartnerRef(value["partner_id"], _enum(PartnerRole, value["role"]))


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


_VOCABULARY = {enum: name for name, enum in ENUMS.items()}


def _enum(kind: type, value: Any) -> Any:
    # a label or an office's word reads as its code, as in the API's bodies (issue 12, point 9)
    return kind(code(_VOCABULARY[kind], value) or value) if value is not None else None


def clean(values: dict[str, Any]) -> dict[str, Any]:
    """Normalise the details: trimmed text, enums, duplicates dropped, empty location as ``None``."""
    out = {name: values.get(name) for name in DETAILS}
    out["title"] = text(out["title"]) or ""
    out["description"] = text(out["description"], multiline=True)
    out["programme"] = text(out["programme"])
    out["kind"], out["method"] = _enum(Kind, out["kind"]), _enum(Method, out["method"])
    out["format"], out["stage"] = _enum(Format, out["format"]), _enum(Stage, out["stage"])
    out["topics"] = _unique([_enum(Topic, t) for t in out["topics"] or []])
    out["segments"] = _unique([_enum(Segment, s) for s in out["segments"] or []])
    out["partners"] = _unique([partner_ref(p) for p in out["partners"] or []])
    out["speakers"] = [replace(s, name=text(s.name) or "", affiliation=text(s.affiliation))
                       for s in (x if isinstance(x, Speaker) else Speaker(**x) for x in out["speakers"] or [])]
    location = out["location"]
    if isinstance(location, dict):
        location = Location(**location)
    out["location"] = clean_location(location) if location is not None else None
    return out


# --- rules on fields ---------------------------------------------------------------------------


def refuse(errors: dict[str, str], unresolved: Mapping[str, Unresolved] | None = None) -> None:
    """Raise every error at once; a place not found adds its ``suggestions`` (and ``candidates``)."""
    unresolved = unresolved or {}
    if errors or unresolved:
        facts: dict[str, Any] = {}
        if suggestions := {f: u.suggestions for f, u in unresolved.items() if u.suggestions}:
            facts["suggestions"] = suggestions
        if candidates := {f: u.candidates for f, u in unresolved.items() if u.candidates}:
            facts["candidates"] = candidates
        raise InvalidActivity({**{f: u.message for f, u in unresolved.items()}, **errors}, **facts)


# --- places (the Kemendagri gazetteer) ---------------------------------------------------------


def places(region: str) -> Places:
    """The region's kecamatan and desa/kelurahan: what main.py read from ``Settings.gazetteer_dir``
    at start (``shared.gazetteer.installed`` keeps the directory it was given)."""
    return installed(region)


def named(region: str, location: Location | None) -> dict[str, Any] | None:
    """A location as answers and events show it: its codes with the gazetteer's names beside them."""
    if location is None:
        return None
    names = places(region)
    return {**asdict(location), "district_name": names.name_of(location.district),
            "village_name": names.name_of(location.village)}


def place(region: str, location: Location | None) -> tuple[Location | None, dict[str, Unresolved]]:
    """The location with its kecamatan and desa/kelurahan as codes, whether typed as codes or names
    (``Kec. Coblong``, ``Dago``); what cannot be placed is returned by field, left as typed."""
    if location is None:
        return None, {}
    unresolved: dict[str, Unresolved] = {}
    district, village = location.district, location.village
    # A code outside the region (or its kecamatan) keeps the checks of location_errors; one inside
    # is looked up too, so a code the gazetteer does not list is refused like an unknown name.
    if district is not None and not (DISTRICT_CODE.match(district) and not within(district, region)):
        try:
            district = places(region).district(district)
        except Unresolved as exc:
            unresolved["location.district"] = exc
    inside = district if district and DISTRICT_CODE.match(district) and within(district, region) else None
    if village is not None and not (VILLAGE_CODE.match(village) and not within(village, inside or region)):
        try:
            village = places(region).village(village, inside)
        except Unresolved as exc:
            unresolved["location.village"] = exc
    return replace(location, district=district, village=village), unresolved


def detail_errors(region: str, v: dict[str, Any], calendar: Mapping[str, Election] | None = None) -> dict[str, str]:
    """What is wrong with cleaned details (:func:`clean`), field by field; ``election`` must be in the
    calendar (the shipped one unless the stored ``calendar`` is given)."""
    calendar = ELECTIONS if calendar is None else calendar
    errors: dict[str, str] = {}
    if not v["title"]:
        errors["title"] = "an activity needs a title"
    for name in ("kind", "method", "format"):
        if v[name] is None:
            errors[name] = "required"
    if v["election"] not in calendar:
        errors["election"] = f"unknown election {v['election']!r}; one of {known_elections(calendar)}"
    if v["programme"] is not None and len(v["programme"]) > PROGRAMME_LENGTH:
        errors["programme"] = f"a programme's name is at most {PROGRAMME_LENGTH} characters"
    if v["method"] is Method.langsung and v["format"] in MEDIA_FORMATS:
        errors["format"] = (f"{v['format'].value!r} is a media format; it goes with method 'tidak_langsung', "
                            "not 'langsung'")
    if v["method"] is Method.tidak_langsung and v["format"] in DIRECT_FORMATS:
        errors["format"] = (f"{v['format'].value!r} is a face-to-face format; it goes with method 'langsung', "
                            "not 'tidak_langsung'")
    if not v["segments"]:
        errors["segments"] = "name at least one targeted segment (use 'umum' for the general public)"
    for i, speaker in enumerate(v["speakers"]):
        if not speaker.name:
            errors[f"speakers[{i}].name"] = "a speaker needs a name"
    if v["planned_reach"] is not None and v["planned_reach"] < 0:
        errors["planned_reach"] = "cannot be negative"
    if v["location"] is not None:
        errors.update(location_errors(region, v["location"]))
    errors.update(time_errors(v["starts_at"], v["ends_at"]))
    return errors


def time_errors(starts_at: datetime | None, ends_at: datetime | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.tzinfo is None:
            errors[name] = "give a UTC offset, e.g. 2024-10-12T09:00:00+07:00"
        elif value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            errors[name] = f"a time between the years {FIRST_YEAR} and {LAST_YEAR}"
    if errors:
        return errors
    if ends_at is not None and starts_at is None:
        errors["starts_at"] = "required when ends_at is given"
    elif starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = f"must be after starts_at ({starts_at.isoformat()})"
    return errors


def location_errors(region: str, location: Location) -> dict[str, str]:
    """What is wrong with a location; a kecamatan or desa/kelurahan named (not coded) is fine when
    the gazetteer places it (:func:`place` turns it into its code)."""
    location, unresolved = place(region, location)  # type: ignore[assignment]
    errors: dict[str, str] = {f: u.message for f, u in unresolved.items()}
    if errors:
        return errors
    if location.district is not None:
        if not DISTRICT_CODE.match(location.district):
            errors["location.district"] = "a kecamatan code such as 32.73.02"
        elif not within(location.district, region):
            errors["location.district"] = f"{location.district} is not in region {region}"
    if location.village is not None:
        if not VILLAGE_CODE.match(location.village):
            errors["location.village"] = "a desa/kelurahan code such as 32.73.02.1004"
        elif location.district and not within(location.village, location.district):
            errors["location.village"] = f"{location.village} is not in kecamatan {location.district}"
        elif not within(location.village, region):
            errors["location.village"] = f"{location.village} is not in region {region}"
    if location.online_url is not None and not WEB_URL.match(location.online_url):
        errors["location.online_url"] = "an http(s) address"
    return errors


def outcome_errors(outcome: Outcome) -> dict[str, str]:
    errors: dict[str, str] = {}
    total = outcome.attendance_total
    for name in ("attendance_total", "women", "disabled", "reach"):
        if getattr(outcome, name) < 0:
            errors[name] = "cannot be negative"
    for name in ("women", "disabled"):
        if getattr(outcome, name) > total >= 0:
            errors[name] = f"{getattr(outcome, name)} is more than the {total} who attended"
    for segment, count in outcome.attendance_by_segment.items():
        key = f"attendance_by_segment.{segment}"
        if segment not in Segment.__members__:
            errors[key] = "not a segment"
        elif count < 0:
            errors[key] = "cannot be negative"
        elif count > total:
            errors[key] = f"{count} is more than the {total} who attended"
    for i, url in enumerate(outcome.documentation_urls):
        if not WEB_URL.match(url):
            errors[f"documentation_urls[{i}]"] = "an http(s) address"
    return errors


# --- targets ---------------------------------------------------------------------------------

TARGET_FIELDS = ("participation_target_pct", "voting_day", "segment_targets", "district_targets",
                 "reach_target", "source")


def target_values(region: str, election: Election, values: dict[str, Any]) -> dict[str, Any]:
    """An election's targets from raw values, the catalogue's defaults filled in; checked."""
    unknown = set(values) - set(TARGET_FIELDS)
    refuse({name: "not a field of targets" for name in sorted(unknown)})
    pct = values.get("participation_target_pct")
    pct = election.participation_target_pct if pct is None else pct
    if pct is None:  # a standing programme has no target of its own
        refuse({"participation_target_pct": f"required: {election.id} has no participation target of its own"})
    out = {
        "participation_target_pct": float(pct),
        "voting_day": values.get("voting_day") or election.voting_day,
        "segment_targets": {str(k): int(v) for k, v in (values.get("segment_targets") or {}).items()},
        "district_targets": {str(k): int(v) for k, v in (values.get("district_targets") or {}).items()},
        "reach_target": values.get("reach_target"),
        "source": text(values.get("source")),
    }
    errors: dict[str, str] = {}
    if not 0 < out["participation_target_pct"] <= 100:
        errors["participation_target_pct"] = "a percentage above 0 and at most 100"
    for segment, count in out["segment_targets"].items():
        if segment not in Segment.__members__:
            errors[f"segment_targets.{segment}"] = "not a segment"
        elif count < 0:
            errors[f"segment_targets.{segment}"] = "cannot be negative"
    # A kecamatan may be named (Coblong) or coded (32.73.02); the targets keep the code.
    unresolved: dict[str, Unresolved] = {}
    coded: dict[str, int] = {}
    for district, count in out["district_targets"].items():
        try:
            code = district if DISTRICT_CODE.match(district) and not within(district, region) \
                else places(region).district(district)
        except Unresolved as exc:
            unresolved[f"district_targets.{district}"] = exc
            continue
        if not within(code, region):
            errors[f"district_targets.{district}"] = f"a kecamatan code in region {region}, such as {region}.02"
        elif count < 0:
            errors[f"district_targets.{district}"] = "cannot be negative"
        elif code in coded:
            errors[f"district_targets.{district}"] = f"kecamatan {code} is given twice"
        coded[code] = count
    out["district_targets"] = coded
    if out["reach_target"] is not None and out["reach_target"] < 0:
        errors["reach_target"] = "cannot be negative"
    refuse(errors, unresolved)
    return out
