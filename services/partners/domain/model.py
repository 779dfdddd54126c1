"""The ``Partner`` aggregate: the registry's rules, free of I/O and frameworks.

Input arrives as plain values (from JSON or a spreadsheet row) and is checked here, once,
for every way in: :func:`details` and :func:`agreement` turn raw values into normalised
ones or raise :class:`Invalid` naming each bad field. :class:`Partner` methods check a
rule, change state, bump the version and record a past-tense event carrying the state
after the change; the store turns recorded events into outbox entries in the same write.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class PartnerType(StrEnum):
    opd_diskominfo = "opd_diskominfo"
    opd_lain = "opd_lain"
    kim = "kim"
    ormas_komunitas = "ormas_komunitas"
    media = "media"
    perguruan_tinggi = "perguruan_tinggi"
    sekolah = "sekolah"
    keagamaan = "keagamaan"
    badan_adhoc = "badan_adhoc"
    desa_kelurahan = "desa_kelurahan"
    relawan = "relawan"
    lainnya = "lainnya"


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


class ChannelKind(StrEnum):
    radio = "radio"
    televisi = "televisi"
    media_cetak = "media_cetak"
    media_online = "media_online"
    website = "website"
    instagram = "instagram"
    facebook = "facebook"
    tiktok = "tiktok"
    x = "x"
    youtube = "youtube"
    whatsapp_group = "whatsapp_group"
    jaringan_komunitas = "jaringan_komunitas"
    lainnya = "lainnya"


class DocType(StrEnum):
    mou = "mou"
    pks = "pks"


class Status(StrEnum):
    active = "active"
    suspended = "suspended"
    archived = "archived"


# Limits that keep one partner a reasonable document.
NAME_MAX = 200
TEXT_MAX = 200
NOTES_MAX = 5000
REASON_MAX = 1000
TAG_MAX = 60
MAX_ITEMS = {"categories": 30, "segments": len(Segment), "contacts": 20, "channels": 30}
MAX_AGREEMENTS = 200

# What an operator edits; the rest (region, status, agreements) changes through its own door.
EDITABLE = ("name", "type", "district", "categories", "segments", "contacts", "channels", "notes")

KECAMATAN_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
LOOKS_LIKE_CODE = re.compile(r"^[\d.\s]+$")
# Spreadsheets separate list items with these, so a category cannot hold them.
SEPARATORS = re.compile(r"[,;\n]")


# --- errors --------------------------------------------------------------------------------


class Invalid(Exception):
    """Input that breaks a rule; ``errors`` names each bad field (``contacts[0].email``)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


class NotAllowed(Exception):
    """A change the partner's current state refuses (409): the message says why."""


class DuplicateAgreement(NotAllowed):
    def __init__(self, message: str, existing_id: str) -> None:
        super().__init__(message)
        self.existing_id = existing_id


# --- value objects -------------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    handle_or_url: str
    audience_size: int | None = None


@dataclass(frozen=True)
class Agreement:
    id: str
    doc_type: DocType
    number: str
    valid_from: date
    valid_until: date
    title: str | None = None
    scope: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """An agreement is one document: its type and number (case and spaces aside)."""
        return self.doc_type.value, " ".join(self.number.casefold().split())

    def same_terms(self, other: Agreement) -> bool:
        return dataclasses.replace(other, id=self.id) == self


@dataclass(frozen=True)
class StatusChange:
    """One entry of a partner's status history."""

    status: Status
    previous: Status | None
    reason: str | None
    at: datetime
    by: str | None


# --- checking raw input --------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, name: str, message: str) -> None:
        self.items.append((name, message))

    def raise_any(self) -> None:
        if self.items:
            raise Invalid(self.items)


def fold(text: str) -> str:
    """Text compared ignoring case and spacing: ``KIM  coblong`` = ``Kim Coblong``."""
    return " ".join(text.casefold().split())


def _squash(value: Any) -> str:
    return " ".join(str(value).split())


def _text(value: Any, name: str, errors: _Errors, *, required: bool = False, limit: int = TEXT_MAX) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(name, "must not be empty")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        errors.add(name, "must be text")
        return None
    text = _squash(value)
    if len(text) > limit:
        errors.add(name, f"is {len(text)} characters long; at most {limit}")
        return None
    return text


def _choice(value: Any, kind: type[StrEnum], name: str, errors: _Errors) -> Any:
    if value is None:
        errors.add(name, f"is required: one of {', '.join(kind)}")
        return None
    try:
        return kind(value)
    except ValueError:
        errors.add(name, f"{value!r} is not one of: {', '.join(kind)}")
        return None


def _listed(value: Any, name: str, errors: _Errors) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        errors.add(name, "must be a list")
        return []
    if len(value) > MAX_ITEMS.get(name, MAX_AGREEMENTS):
        errors.add(name, f"has {len(value)} entries; at most {MAX_ITEMS.get(name, MAX_AGREEMENTS)}")
        return []
    return list(value)


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def phone(value: str) -> str:
    """An Indonesian number in E.164 (``0812-3456-7890`` → ``+6281234567890``); ValueError otherwise."""
    text = str(value).strip()
    try:
        parsed = phonenumbers.parse(text, "ID")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{text!r} is not a phone number") from exc
    if parsed.country_code != 62 or not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text!r} is not a valid Indonesian phone number (e.g. 0812-3456-7890 or 022-4230000)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email(value: str) -> str:
    try:
        return validate_email(str(value).strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{str(value).strip()!r} is not an e-mail address: {exc}") from exc


def district(value: Any, region: str, name: str, errors: _Errors) -> str | None:
    """A kecamatan of the region, by code (``32.73.02``) or by name (``Coblong``)."""
    text = _text(value, name, errors, limit=100)
    if text is None:
        return None
    if LOOKS_LIKE_CODE.match(text):
        code = text.replace(" ", "")
        if not KECAMATAN_CODE.match(code):
            errors.add(name, f"{text!r} is not a kecamatan code such as {region}.02")
            return None
        if not code.startswith(region + "."):
            errors.add(name, f"kecamatan {code} is not in region {region}")
            return None
        return code
    return text


def _contact(raw: Any, at: str, errors: _Errors) -> Contact | None:
    if not isinstance(raw, Mapping):
        errors.add(at, "must be an object with name, role, phone, email")
        return None
    before = len(errors.items)
    name = _text(raw.get("name"), f"{at}.name", errors, required=True)
    role = _text(raw.get("role"), f"{at}.role", errors)
    number = address = None
    if raw.get("phone") not in (None, ""):
        try:
            number = phone(raw["phone"])
        except ValueError as exc:
            errors.add(f"{at}.phone", str(exc))
    if raw.get("email") not in (None, ""):
        try:
            address = email(raw["email"])
        except ValueError as exc:
            errors.add(f"{at}.email", str(exc))
    if len(errors.items) > before or name is None:
        return None
    return Contact(name=name, role=role, phone=number, email=address)


def _channel(raw: Any, at: str, errors: _Errors) -> Channel | None:
    if not isinstance(raw, Mapping):
        errors.add(at, "must be an object with kind, handle_or_url, audience_size")
        return None
    before = len(errors.items)
    kind = _choice(raw.get("kind"), ChannelKind, f"{at}.kind", errors)
    handle = _text(raw.get("handle_or_url"), f"{at}.handle_or_url", errors, required=True, limit=500)
    audience = raw.get("audience_size")
    if audience is not None and (isinstance(audience, bool) or not isinstance(audience, int) or audience < 0):
        errors.add(f"{at}.audience_size", "must be a whole number, 0 or more")
    if len(errors.items) > before:
        return None
    return Channel(kind=kind, handle_or_url=handle, audience_size=audience)  # type: ignore[arg-type]


def _notes(value: Any, errors: _Errors) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        errors.add("notes", "must be text")
        return None
    # Notes keep their line breaks; only the ends are trimmed.
    text = value.strip()
    if len(text) > NOTES_MAX:
        errors.add("notes", f"is {len(text)} characters long; at most {NOTES_MAX}")
        return None
    return text


def _segments(value: Any, errors: _Errors) -> list[Segment]:
    return _unique(_choice(v, Segment, f"segments[{i}]", errors) for i, v in enumerate(_listed(value, "segments", errors)))


def _categories(value: Any, errors: _Errors) -> list[str]:
    tags = []
    for i, item in enumerate(_listed(value, "categories", errors)):
        tag = _text(item, f"categories[{i}]", errors, required=True, limit=TAG_MAX)
        if tag and SEPARATORS.search(tag):
            errors.add(f"categories[{i}]", f"{tag!r} holds a comma or semicolon; send each category on its own")
        elif tag:
            tags.append(fold(tag))
    return _unique(tags)


_CHECKS: dict[str, Any] = {
    "name": lambda v, region, e: _text(v, "name", e, required=True, limit=NAME_MAX),
    "type": lambda v, region, e: _choice(v, PartnerType, "type", e),
    "district": lambda v, region, e: district(v, region, "district", e),
    "categories": lambda v, region, e: _categories(v, e),
    "segments": lambda v, region, e: _segments(v, e),
    "contacts": lambda v, region, e: [_contact(c, f"contacts[{i}]", e) for i, c in enumerate(_listed(v, "contacts", e))],
    "channels": lambda v, region, e: [_channel(c, f"channels[{i}]", e) for i, c in enumerate(_listed(v, "channels", e))],
    "notes": lambda v, region, e: _notes(v, e),
}


def details(raw: Mapping[str, Any], region: str, *, partial: bool = False) -> dict[str, Any]:
    """Check and normalise the editable fields present in ``raw``.

    ``partial`` (a PATCH) checks only what is there; otherwise ``name`` and ``type`` are
    required. Returns the normalised values; raises :class:`Invalid` naming every bad field.
    """
    errors = _Errors()
    if not partial:
        for required in ("name", "type"):
            if required not in raw:
                errors.add(required, "is required")
    out = {key: _CHECKS[key](raw[key], region, errors) for key in EDITABLE if key in raw}
    errors.raise_any()
    return out


def _day(value: Any, name: str, errors: _Errors) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            errors.add(name, f"{value!r} is not a date such as 2024-11-27")
            return None
    errors.add(name, "is required (a date such as 2024-11-27)")
    return None


def agreement(raw: Mapping[str, Any], agreement_id: str, at: str = "") -> Agreement:
    """Check an MoU or PKS; ``at`` prefixes field names (``agreements[0].``)."""
    errors = _Errors()
    doc_type = _choice(raw.get("doc_type"), DocType, f"{at}doc_type", errors)
    number = _text(raw.get("number"), f"{at}number", errors, required=True)
    title = _text(raw.get("title"), f"{at}title", errors, limit=500)
    scope = _text(raw.get("scope"), f"{at}scope", errors, limit=2000)
    valid_from = _day(raw.get("valid_from"), f"{at}valid_from", errors)
    valid_until = _day(raw.get("valid_until"), f"{at}valid_until", errors)
    if valid_from and valid_until and valid_until <= valid_from:
        errors.add(f"{at}valid_until", f"{valid_until} must be after valid_from {valid_from}")
    errors.raise_any()
    return Agreement(id=agreement_id, doc_type=doc_type, number=number,  # type: ignore[arg-type]
                     valid_from=valid_from, valid_until=valid_until,  # type: ignore[arg-type]
                     title=title, scope=scope)


def agreements(raw: Any, ids: Iterable[str]) -> list[Agreement]:
    """A list of agreements; every bad field of every entry is named."""
    errors = _Errors()
    found: list[Agreement] = []
    for i, (item, agreement_id) in enumerate(zip(_listed(raw, "agreements", errors), ids, strict=False)):
        if not isinstance(item, Mapping):
            errors.add(f"agreements[{i}]", "must be an object")
            continue
        try:
            found.append(agreement(item, agreement_id, f"agreements[{i}]."))
        except Invalid as exc:
            errors.items.extend(exc.errors)
    keys: dict[tuple[str, str], int] = {}
    for i, item in enumerate(found):
        if item.key in keys:
            errors.add(f"agreements[{i}].number", f"repeats agreements[{keys[item.key]}] ({item.doc_type} {item.number})")
        keys.setdefault(item.key, i)
    errors.raise_any()
    return found


def reason(value: Any, *, required: bool) -> str | None:
    errors = _Errors()
    text = _text(value, "reason", errors, required=required, limit=REASON_MAX)
    errors.raise_any()
    return text


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerEvent:
    """Something that happened to a partner; ``partner`` is its state right after."""

    partner: Partner


@dataclass(frozen=True)
class PartnerRegistered(PartnerEvent):
    pass


@dataclass(frozen=True)
class PartnerUpdated(PartnerEvent):
    changed_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusChanged(PartnerEvent):
    reason: str | None = None


class PartnerSuspended(StatusChanged):
    pass


class PartnerReactivated(StatusChanged):
    pass


class PartnerArchived(StatusChanged):
    pass


@dataclass(frozen=True)
class AgreementSigned(PartnerEvent):
    agreement: Agreement | None = None


# --- the aggregate -------------------------------------------------------------------------


@dataclass
class Partner:
    id: str
    name: str
    type: PartnerType
    region: str
    created_at: datetime
    updated_at: datetime
    district: str | None = None
    categories: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    status: Status = Status.active
    notes: str | None = None
    status_history: list[StatusChange] = field(default_factory=list)
    version: int = 1
    events: list[PartnerEvent] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def register(
        cls,
        *,
        id: str,
        region: str,
        now: datetime,
        by: str | None,
        fields: Mapping[str, Any],
        agreements: Iterable[Agreement] = (),
    ) -> Partner:
        """A new, active partner from checked ``fields`` (see :func:`details`)."""
        partner = cls(id=id, region=region, created_at=now, updated_at=now, **fields)
        partner.agreements = list(agreements)
        partner.status_history = [StatusChange(Status.active, None, "registered", now, by)]
        partner.events.append(PartnerRegistered(partner._copy()))
        return partner

    @property
    def name_key(self) -> str:
        """Names are unique per region ignoring case and spacing."""
        return fold(self.name)

    def revise(self, changes: Mapping[str, Any], now: datetime) -> list[str]:
        """Apply checked edits (see :func:`details`); returns the fields that really changed."""
        self._refuse_when_archived("changed")
        changed = [key for key in EDITABLE if key in changes and changes[key] != getattr(self, key)]
        if not changed:
            return []
        for key in changed:
            setattr(self, key, changes[key])
        self._record(now, PartnerUpdated, changed_fields=tuple(changed))
        return changed

    def sign(self, agreement: Agreement, now: datetime) -> None:
        self._refuse_when_archived("given an agreement")
        for existing in self.agreements:
            if existing.key == agreement.key:
                raise DuplicateAgreement(
                    f"partner {self.id} already has {agreement.doc_type.value.upper()} {agreement.number} "
                    f"(agreement {existing.id})", existing.id)
        if len(self.agreements) >= MAX_AGREEMENTS:
            raise NotAllowed(f"partner {self.id} already has {MAX_AGREEMENTS} agreements")
        self.agreements = [*self.agreements, agreement]
        self._record(now, AgreementSigned, agreement=agreement)

    def suspend(self, reason: str, now: datetime, by: str | None) -> None:
        if self.status is not Status.active:
            raise NotAllowed(f"partner {self.id} is '{self.status}'; only an active partner can be suspended")
        self._change_status(Status.suspended, reason, now, by, PartnerSuspended)

    def reactivate(self, reason: str | None, now: datetime, by: str | None) -> None:
        if self.status is not Status.suspended:
            raise NotAllowed(f"partner {self.id} is '{self.status}'; only a suspended partner can be reactivated")
        self._change_status(Status.active, reason, now, by, PartnerReactivated)

    def archive(self, reason: str, now: datetime, by: str | None) -> None:
        self._refuse_when_archived("archived again")
        self._change_status(Status.archived, reason, now, by, PartnerArchived)

    def move_to(self, status: Status, reason: str | None, now: datetime, by: str | None) -> None:
        """Reach ``status`` by the allowed change (an import names the status it wants)."""
        if status is self.status:
            return
        if status is Status.archived:
            self.archive(reason or "archived", now, by)
        elif status is Status.suspended:
            self.suspend(reason or "suspended", now, by)
        else:
            self.reactivate(reason, now, by)

    def _refuse_when_archived(self, what: str) -> None:
        if self.status is Status.archived:
            raise NotAllowed(f"partner {self.id} is 'archived'; it cannot be {what}")

    def _change_status(
        self, status: Status, reason: str | None, now: datetime, by: str | None, event: type[PartnerEvent]
    ) -> None:
        previous, self.status = self.status, status
        self.status_history = [*self.status_history, StatusChange(status, previous, reason, now, by)]
        self._record(now, event, reason=reason)

    def _record(self, now: datetime, event: type[PartnerEvent], **details: Any) -> None:
        self.version += 1
        self.updated_at = now
        self.events.append(event(self._copy(), **details))

    def _copy(self) -> Partner:
        # Lists are replaced, never mutated in place, so a shallow copy is a true snapshot.
        return dataclasses.replace(self, events=[])
