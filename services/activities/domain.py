"""The ``Activity`` aggregate and the election ``Targets``: the rules of outreach, no I/O.

Life cycle (CONTRACT §4)::

    planned ──schedule──▶ scheduled ──hold──▶ held ──report──▶ reported
       │                   │  ▲ schedule again = reschedule
       └──cancel──▶ cancelled ◀──cancel──┘

Every method checks its rule, changes state, bumps ``version`` by one and records exactly one
past-tense event; a call that changes nothing records nothing. A broken rule raises
:class:`TransitionRefused` (the current state forbids it: 409) or :class:`InvalidActivity`
(a field is wrong: 422), each worded for the operator who reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from services.activities.elections import ELECTIONS, Election, known_elections
from shared.regions import within

# --- the words of DOMAIN.md --------------------------------------------------------------------


class Status(StrEnum):
    planned = "planned"
    scheduled = "scheduled"
    held = "held"
    reported = "reported"
    cancelled = "cancelled"


class Kind(StrEnum):
    sosialisasi = "sosialisasi"
    pendidikan_pemilih = "pendidikan_pemilih"


class Method(StrEnum):
    langsung = "langsung"
    tidak_langsung = "tidak_langsung"


class Format(StrEnum):
    # direct (face to face)
    tatap_muka = "tatap_muka"
    forum_warga = "forum_warga"
    diskusi = "diskusi"
    seminar = "seminar"
    talkshow = "talkshow"
    simulasi_pemungutan = "simulasi_pemungutan"
    door_to_door = "door_to_door"
    goes_to_school = "goes_to_school"
    goes_to_campus = "goes_to_campus"
    pentas_seni = "pentas_seni"
    budaya_lokal = "budaya_lokal"
    rapat_koordinasi = "rapat_koordinasi"
    kunjungan_rpp = "kunjungan_rpp"
    # indirect (media)
    media_cetak = "media_cetak"
    radio = "radio"
    televisi = "televisi"
    media_online = "media_online"
    media_sosial = "media_sosial"
    luar_ruang = "luar_ruang"
    bahan_sosialisasi = "bahan_sosialisasi"
    konten_kreatif = "konten_kreatif"
    # either
    lainnya = "lainnya"


MEDIA_FORMATS = frozenset({
    Format.media_cetak, Format.radio, Format.televisi, Format.media_online, Format.media_sosial,
    Format.luar_ruang, Format.bahan_sosialisasi, Format.konten_kreatif,
})
DIRECT_FORMATS = frozenset(set(Format) - MEDIA_FORMATS - {Format.lainnya})


class Segment(StrEnum):
    keluarga = "keluarga"
    pemilih_pemula = "pemilih_pemula"
    pemilih_muda = "pemilih_muda"
    perempuan = "perempuan"
    disabilitas = "disabilitas"
    berkebutuhan_khusus = "berkebutuhan_khusus"
    marjinal = "marjinal"
    komunitas = "komunitas"
    keagamaan = "keagamaan"
    warga_internet = "warga_internet"
    masyarakat_adat = "masyarakat_adat"
    pelajar = "pelajar"
    lansia = "lansia"
    umum = "umum"


class Topic(StrEnum):
    tahapan = "tahapan"
    tata_cara_memilih = "tata_cara_memilih"
    jadwal_pemungutan = "jadwal_pemungutan"
    daftar_pemilih = "daftar_pemilih"
    hak_pilih = "hak_pilih"
    surat_suara_sah = "surat_suara_sah"
    anti_politik_uang = "anti_politik_uang"
    netralitas_asn = "netralitas_asn"
    bijak_media_sosial = "bijak_media_sosial"
    anti_hoaks = "anti_hoaks"
    profil_calon = "profil_calon"
    partisipasi = "partisipasi"
    lainnya = "lainnya"


class Stage(StrEnum):
    perencanaan = "perencanaan"
    pembentukan_adhoc = "pembentukan_adhoc"
    pemutakhiran_data_pemilih = "pemutakhiran_data_pemilih"
    pendaftaran_peserta = "pendaftaran_peserta"
    pencalonan = "pencalonan"
    kampanye = "kampanye"
    masa_tenang = "masa_tenang"
    pemungutan_penghitungan = "pemungutan_penghitungan"
    rekapitulasi = "rekapitulasi"
    penetapan_hasil = "penetapan_hasil"
    pasca_tahapan = "pasca_tahapan"


class PartnerRole(StrEnum):
    penyelenggara = "penyelenggara"
    mitra = "mitra"
    narasumber = "narasumber"
    tempat = "tempat"
    media = "media"


DISTRICT_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
VILLAGE_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
WEB_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

# --- errors ----------------------------------------------------------------------------------


class ActivityError(Exception):
    """A rule of outreach tracking was broken; the message speaks to the operator."""


class InvalidActivity(ActivityError):
    """One or more fields are wrong (422): ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class TransitionRefused(ActivityError):
    """The activity's current state forbids the change (409)."""

    def __init__(self, message: str, status: Status) -> None:
        super().__init__(message)
        self.status = status


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


# --- events (past tense, recorded by the aggregate) ----------------------------------------------


@dataclass(frozen=True)
class ActivityPlanned:
    pass


@dataclass(frozen=True)
class ActivityUpdated:
    changed_fields: tuple[str, ...]


@dataclass(frozen=True)
class ActivityScheduled:
    pass


@dataclass(frozen=True)
class ActivityRescheduled:
    previous_starts_at: datetime | None
    previous_ends_at: datetime | None


@dataclass(frozen=True)
class ActivityHeld:
    pass


@dataclass(frozen=True)
class ActivityReported:
    pass


@dataclass(frozen=True)
class ActivityCancelled:
    reason: str


@dataclass(frozen=True)
class TargetsSet:
    changed_fields: tuple[str, ...]


# --- the aggregate ---------------------------------------------------------------------------

# What POST /activities and PATCH may set; the life-cycle fields change only by transitions.
DETAILS = ("title", "description", "kind", "election", "stage", "topics", "method", "format", "segments",
           "partners", "speakers", "location", "starts_at", "ends_at", "planned_reach")
EDITABLE_STATUSES = frozenset({Status.planned, Status.scheduled})
TOOK_PLACE = frozenset({Status.held, Status.reported})


@dataclass
class Activity:
    id: str
    region: str
    title: str
    kind: Kind
    election: str
    method: Method
    format: Format
    segments: list[Segment]
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    stage: Stage | None = None
    topics: list[Topic] = field(default_factory=list)
    partners: list[PartnerRef] = field(default_factory=list)
    speakers: list[Speaker] = field(default_factory=list)
    location: Location | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    planned_reach: int | None = None
    status: Status = Status.planned
    outcome: Outcome | None = None
    scheduled_at: datetime | None = None
    held_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    # -- creation and edits ---------------------------------------------------------------

    @classmethod
    def plan(cls, *, id: str, region: str, now: datetime, **details: Any) -> Activity:
        """A new activity, ``planned``; ``starts_at`` may already be known."""
        unknown = set(details) - set(DETAILS)
        if unknown:
            raise InvalidActivity({name: "not a field of an activity" for name in sorted(unknown)})
        values = _clean(details)
        _check(region, values)
        activity = cls(id=id, region=region, created_at=now, updated_at=now, **values)
        activity.events.append(ActivityPlanned())
        return activity

    def edit(self, changes: dict[str, Any], now: datetime) -> tuple[str, ...]:
        """Change details while ``planned`` or ``scheduled``; returns the fields that changed."""
        self._require(EDITABLE_STATUSES, "edited", "only planned or scheduled activities can be edited")
        unknown = set(changes) - set(DETAILS)
        if unknown:
            raise InvalidActivity({name: "cannot be edited" for name in sorted(unknown)})
        if self.status is Status.scheduled and {"starts_at", "ends_at"} & set(changes):
            moved = "starts_at" if "starts_at" in changes else "ends_at"
            raise InvalidActivity({moved: f"activity {self.id} is scheduled; move it with "
                                          f"POST /activities/{self.id}/schedule"})
        merged = _clean({**self.details(), **changes})
        _check(self.region, merged)
        changed = tuple(name for name in DETAILS if merged[name] != getattr(self, name))
        if not changed:
            return ()
        for name in changed:
            setattr(self, name, merged[name])
        self._record(ActivityUpdated(changed), now)
        return changed

    def details(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DETAILS}

    # -- the life cycle -----------------------------------------------------------------------

    def schedule(self, starts_at: datetime, ends_at: datetime, location: Location | None, now: datetime) -> bool:
        """Give a planned activity its date (``scheduled``), or move a scheduled one (rescheduled).

        A date in the past is fine: offices often record an activity after it took place.
        Returns False when a scheduled activity is asked to stay exactly where it is.
        """
        self._require(EDITABLE_STATUSES, "scheduled")
        _check_times(starts_at, ends_at)
        place = self.location if location is None else _clean_location(location)
        if place is not None:
            _check_location(self.region, place)
        if (self.status is Status.scheduled and (starts_at, ends_at, place)
                == (self.starts_at, self.ends_at, self.location)):
            return False
        previous = (self.starts_at, self.ends_at)
        was = self.status
        self.starts_at, self.ends_at, self.location = starts_at, ends_at, place
        if was is Status.planned:
            self.status = Status.scheduled
            self.scheduled_at = now
            self._record(ActivityScheduled(), now)
        else:
            self._record(ActivityRescheduled(*previous), now)
        return True

    def hold(self, now: datetime) -> None:
        """It took place. Refused before ``starts_at``."""
        if self.status is Status.planned:
            raise TransitionRefused(
                f"activity {self.id} is 'planned'; schedule it (POST /activities/{self.id}/schedule) "
                "before marking it held", self.status)
        self._require({Status.scheduled}, "marked held")
        assert self.starts_at is not None  # every scheduled activity has its date
        if now < self.starts_at:
            raise TransitionRefused(
                f"activity {self.id} starts at {self.starts_at.isoformat()}; it cannot be marked held "
                "before it starts", self.status)
        self.status = Status.held
        self.held_at = now
        self._record(ActivityHeld(), now)

    def report(
        self,
        *,
        attendance_total: int,
        now: datetime,
        attendance_by_segment: dict[str, int] | None = None,
        women: int = 0,
        disabled: int = 0,
        reach: int | None = None,
        documentation_urls: list[str] | tuple[str, ...] = (),
        notes: str | None = None,
    ) -> None:
        """Record what a held activity reached (``reported``)."""
        if self.status in EDITABLE_STATUSES:
            raise TransitionRefused(
                f"activity {self.id} is '{self.status}'; mark it held (POST /activities/{self.id}/hold) "
                "before reporting its outcome", self.status)
        self._require({Status.held}, "reported")
        by_segment = {str(k): v for k, v in (attendance_by_segment or {}).items()}
        outcome = Outcome(
            attendance_total=attendance_total,
            attendance_by_segment=by_segment,
            women=women,
            disabled=disabled,
            reach=attendance_total if reach is None else reach,
            documentation_urls=tuple(documentation_urls),
            notes=_text(notes, multiline=True),
            reported_at=now,
        )
        _check_outcome(outcome)
        self.outcome = outcome
        self.status = Status.reported
        self._record(ActivityReported(), now)

    def cancel(self, reason: str, now: datetime) -> None:
        self._require(EDITABLE_STATUSES, "cancelled")
        reason = _text(reason, multiline=True) or ""
        if not reason:
            raise InvalidActivity({"reason": "say why the activity is cancelled"})
        self.status = Status.cancelled
        self.cancelled_at = now
        self.cancel_reason = reason
        self._record(ActivityCancelled(reason), now)

    # -- what the office should know ----------------------------------------------------------

    def quiet_period_warning(self, zone: ZoneInfo) -> str | None:
        """A sentence when the activity falls inside its election's *masa tenang*."""
        election = ELECTIONS.get(self.election)
        quiet = election.quiet_period if election else None
        if quiet is None or self.starts_at is None or self.status is Status.cancelled:
            return None
        first = self.starts_at.astimezone(zone).date()
        last = (self.ends_at or self.starts_at).astimezone(zone).date()
        if last < quiet.starts_on or first > quiet.ends_on:
            return None
        return (f"{first.isoformat()} is inside the quiet period (masa tenang) of {self.election}, "
                f"{quiet.starts_on.isoformat()} to {quiet.ends_on.isoformat()}: no campaigning, and "
                "outreach must not favour any candidate")

    @property
    def took_place(self) -> bool:
        return self.status in TOOK_PLACE

    # -- internals --------------------------------------------------------------------------

    def _require(self, allowed: set[Status] | frozenset[Status], verb: str, hint: str = "") -> None:
        if self.status not in allowed:
            message = f"activity {self.id} is '{self.status}'; it cannot be {verb}"
            raise TransitionRefused(f"{message} ({hint})" if hint else message, self.status)

    def _record(self, event: object, now: datetime) -> None:
        self.version += 1
        self.updated_at = now
        self.events.append(event)


def election_of(election_id: str) -> Election:
    election = ELECTIONS.get(election_id)
    if election is None:
        raise InvalidActivity({"election": f"unknown election {election_id!r}; one of {known_elections()}"})
    return election


# --- rules on fields ---------------------------------------------------------------------------


def _text(value: str | None, multiline: bool = False) -> str | None:
    """Trimmed text (one line unless ``multiline``), ``None`` when nothing is left."""
    if value is None:
        return None
    cleaned = value.strip() if multiline else " ".join(value.split())
    return cleaned or None


def _clean_location(location: Location) -> Location | None:
    cleaned = Location(*(_text(getattr(location, f.name)) for f in fields(Location)))
    return cleaned if any(getattr(cleaned, f.name) for f in fields(Location)) else None


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Normalise: trimmed text, enums, duplicates dropped, empty location as ``None``."""
    out = {name: values.get(name) for name in DETAILS}
    out["title"] = _text(out["title"]) or ""
    out["description"] = _text(out["description"], multiline=True)
    out["kind"] = Kind(out["kind"]) if out["kind"] is not None else None
    out["method"] = Method(out["method"]) if out["method"] is not None else None
    out["format"] = Format(out["format"]) if out["format"] is not None else None
    out["stage"] = Stage(out["stage"]) if out["stage"] is not None else None
    out["topics"] = _unique([Topic(t) for t in out["topics"] or []])
    out["segments"] = _unique([Segment(s) for s in out["segments"] or []])
    out["partners"] = _unique([p if isinstance(p, PartnerRef) else PartnerRef(p["partner_id"], PartnerRole(p["role"]))
                               for p in out["partners"] or []])
    out["speakers"] = [replace(s, name=_text(s.name) or "", affiliation=_text(s.affiliation))
                       for s in (x if isinstance(x, Speaker) else Speaker(**x) for x in out["speakers"] or [])]
    location = out["location"]
    if isinstance(location, dict):
        location = Location(**location)
    out["location"] = _clean_location(location) if location is not None else None
    return out


def _check(region: str, v: dict[str, Any]) -> None:
    errors: dict[str, str] = {}
    if not v["title"]:
        errors["title"] = "an activity needs a title"
    for name in ("kind", "method", "format"):
        if v[name] is None:
            errors[name] = "required"
    if v["election"] not in ELECTIONS:
        errors["election"] = f"unknown election {v['election']!r}; one of {known_elections()}"
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
        errors.update(_location_errors(region, v["location"]))
    errors.update(_time_errors(v["starts_at"], v["ends_at"]))
    if errors:
        raise InvalidActivity(errors)


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    errors = _time_errors(starts_at, ends_at)
    if errors:
        raise InvalidActivity(errors)


def _time_errors(starts_at: datetime | None, ends_at: datetime | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.tzinfo is None:
            errors[name] = "give a UTC offset, e.g. 2024-10-12T09:00:00+07:00"
    if errors:
        return errors
    if ends_at is not None and starts_at is None:
        errors["starts_at"] = "required when ends_at is given"
    elif starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = f"must be after starts_at ({starts_at.isoformat()})"
    return errors


def _check_location(region: str, location: Location) -> None:
    errors = _location_errors(region, location)
    if errors:
        raise InvalidActivity(errors)


def _location_errors(region: str, location: Location) -> dict[str, str]:
    errors: dict[str, str] = {}
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


def _check_outcome(outcome: Outcome) -> None:
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
    if errors:
        raise InvalidActivity(errors)


# --- targets ---------------------------------------------------------------------------------

TARGET_FIELDS = ("participation_target_pct", "voting_day", "segment_targets", "district_targets",
                 "reach_target", "source")


@dataclass
class Targets:
    """What a region aims for in one election; one per election (its id is the election id)."""

    election: str
    region: str
    participation_target_pct: float
    voting_day: date
    created_at: datetime
    updated_at: datetime
    segment_targets: dict[str, int] = field(default_factory=dict)
    district_targets: dict[str, int] = field(default_factory=dict)
    reach_target: int | None = None
    source: str | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.election

    @classmethod
    def set_for(cls, *, election: str, region: str, now: datetime, **values: Any) -> Targets:
        catalogue = election_of(election)
        values = _target_values(region, catalogue, values)
        targets = cls(election=election, region=region, created_at=now, updated_at=now, **values)
        targets.events.append(TargetsSet(TARGET_FIELDS))
        return targets

    def change(self, now: datetime, **values: Any) -> tuple[str, ...]:
        """Replace the targets (PUT semantics); returns what changed, recording an event if anything did."""
        values = _target_values(self.region, election_of(self.election), values)
        changed = tuple(name for name in TARGET_FIELDS if values[name] != getattr(self, name))
        if changed:
            for name in changed:
                setattr(self, name, values[name])
            self.version += 1
            self.updated_at = now
            self.events.append(TargetsSet(changed))
        return changed


def _target_values(region: str, election: Election, values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(TARGET_FIELDS)
    if unknown:
        raise InvalidActivity({name: "not a field of targets" for name in sorted(unknown)})
    pct = values.get("participation_target_pct")
    out = {
        "participation_target_pct": election.national_target_pct if pct is None else float(pct),
        "voting_day": values.get("voting_day") or election.voting_day,
        "segment_targets": {str(k): int(v) for k, v in (values.get("segment_targets") or {}).items()},
        "district_targets": {str(k): int(v) for k, v in (values.get("district_targets") or {}).items()},
        "reach_target": values.get("reach_target"),
        "source": _text(values.get("source")),
    }
    errors: dict[str, str] = {}
    if not 0 < out["participation_target_pct"] <= 100:
        errors["participation_target_pct"] = "a percentage above 0 and at most 100"
    for segment, count in out["segment_targets"].items():
        if segment not in Segment.__members__:
            errors[f"segment_targets.{segment}"] = "not a segment"
        elif count < 0:
            errors[f"segment_targets.{segment}"] = "cannot be negative"
    for district, count in out["district_targets"].items():
        if not DISTRICT_CODE.match(district) or not within(district, region):
            errors[f"district_targets.{district}"] = f"a kecamatan code in region {region}, such as {region}.02"
        elif count < 0:
            errors[f"district_targets.{district}"] = "cannot be negative"
    if out["reach_target"] is not None and out["reach_target"] < 0:
        errors["reach_target"] = "cannot be negative"
    if errors:
        raise InvalidActivity(errors)
    return out
