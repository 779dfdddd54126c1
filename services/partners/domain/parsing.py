"""Raw input (JSON or a spreadsheet row) checked once, for every way in, into the model's values.

:func:`details`, :func:`agreement`, :func:`agreements` and :func:`reason` turn plain values
into normalised ones or raise :class:`~shared.errors.Invalid` naming every bad field
(``contacts[0].email``). Text must be valid Unicode: JSON can carry a lone surrogate
(``"\\ud800"``) that no store or answer can encode, so it is refused here, by field name, and
never echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.partners.domain.model import (
    EDITABLE,
    MAX_AGREEMENTS,
    Agreement,
    Channel,
    Contact,
    fold,
)
from shared.errors import Invalid
from shared.vocabulary import ENUMS, ChannelKind, DocType, PartnerType, Segment, code

# Limits that keep one partner a reasonable document.
NAME_MAX = 200
TEXT_MAX = 200
NOTES_MAX = 5000
REASON_MAX = 1000
TAG_MAX = 60
MAX_ITEMS = {"categories": 30, "segments": len(Segment), "contacts": 20, "channels": 30}

KECAMATAN_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
LOOKS_LIKE_CODE = re.compile(r"^[\d.\s]+$")
# Spreadsheets separate list items with these, so a category cannot hold them.
SEPARATORS = re.compile(r"[,;\n]")
NOT_UNICODE = "holds a character that is not valid Unicode (a lone surrogate); send UTF-8 text"
# Control characters other than white space: no spreadsheet, e-mail or page can show them (an XLSX
# export could not even carry them), and a name with one is a typing or copying accident.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
HAS_CONTROL = "holds a control character (e.g. \\x01); remove it"


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, name: str, message: str) -> None:
        self.items.append((name, message))

    def raise_any(self) -> None:
        if self.items:
            raise Invalid(self.items)


def _unicode(value: Any, name: str, errors: _Errors) -> bool:
    """Whether ``value`` (if text) can be stored and shown; names the field when it cannot."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.add(name, NOT_UNICODE)
            return False
    return True


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
    if not _unicode(value, name, errors):
        return None
    if CONTROL.search(str(value)):
        errors.add(name, HAS_CONTROL)
        return None
    text = _squash(value)
    if len(text) > limit:
        errors.add(name, f"is {len(text)} characters long; at most {limit}")
        return None
    return text


_VOCABULARY = {enum: name for name, enum in ENUMS.items()}


def _choice(value: Any, kind: type[StrEnum], name: str, errors: _Errors) -> Any:
    if value is None:
        errors.add(name, f"is required: one of {', '.join(kind)}")
        return None
    try:  # a label or an office's word reads as its code, as in the importer (issue 12, point 9)
        return code(_VOCABULARY[kind], value) or kind(value)
    except ValueError:
        # repr escapes what is not printable, a lone surrogate included.
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
    """A kecamatan of the region, by code (``32.73.02``, ``327302``) or by name (``Coblong``), the name as
    typed: the use case places it in the gazetteer."""
    text = _text(value, name, errors, limit=100)
    if text is None:
        return None
    if LOOKS_LIKE_CODE.match(text):
        code = text.replace(" ", "")
        if code.isdigit() and len(code) == 6:  # 327302, as some spreadsheets carry it
            code = f"{code[:2]}.{code[2:4]}.{code[4:]}"
        if not KECAMATAN_CODE.match(code):
            errors.add(name, f"{text!r} is not a kecamatan code such as {region}.02")
            return None
        if not code.startswith(region + "."):
            errors.add(name, f"kecamatan {code} is not in region {region}")
            return None
        return code
    return text


def _checked(value: Any, name: str, errors: _Errors, check: Any) -> Any:
    """``check(value)`` for a phone or an e-mail, its ValueError as the field's error."""
    if value in (None, "") or not _unicode(value, name, errors):
        return None
    try:
        return check(value)
    except ValueError as exc:
        errors.add(name, str(exc))
        return None


def _contact(raw: Any, at: str, errors: _Errors) -> Contact | None:
    if not isinstance(raw, Mapping):
        errors.add(at, "must be an object with name, role, phone, email")
        return None
    before = len(errors.items)
    name = _text(raw.get("name"), f"{at}.name", errors, required=True)
    role = _text(raw.get("role"), f"{at}.role", errors)
    number = _checked(raw.get("phone"), f"{at}.phone", errors, phone)
    address = _checked(raw.get("email"), f"{at}.email", errors, email)
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
    if not _unicode(value, "notes", errors):
        return None
    if CONTROL.search(value):
        errors.add("notes", HAS_CONTROL)
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


def village(value: Any, name: str, errors: _Errors) -> str | None:
    """A desa/kelurahan by code (``32.73.02.1004``) or name (``Dago``, ``Kel. Dago``), as typed: the
    use case places it in the gazetteer, within the partner's kecamatan when it has one."""
    return _text(value, name, errors, limit=100)


_CHECKS: dict[str, Any] = {
    "name": lambda v, region, e: _text(v, "name", e, required=True, limit=NAME_MAX),
    "type": lambda v, region, e: _choice(v, PartnerType, "type", e),
    "district": lambda v, region, e: district(v, region, "district", e),
    "village": lambda v, region, e: village(v, "village", e),
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


def _agreement(raw: Mapping[str, Any], agreement_id: str, at: str, errors: _Errors) -> Agreement | None:
    before = len(errors.items)
    doc_type = _choice(raw.get("doc_type"), DocType, f"{at}doc_type", errors)
    number = _text(raw.get("number"), f"{at}number", errors, required=True)
    title = _text(raw.get("title"), f"{at}title", errors, limit=500)
    scope = _text(raw.get("scope"), f"{at}scope", errors, limit=2000)
    valid_from = _day(raw.get("valid_from"), f"{at}valid_from", errors)
    valid_until = _day(raw.get("valid_until"), f"{at}valid_until", errors)
    if valid_from and valid_until and valid_until <= valid_from:
        errors.add(f"{at}valid_until", f"{valid_until} must be after valid_from {valid_from}")
    if len(errors.items) > before:
        return None
    return Agreement(id=agreement_id, doc_type=doc_type, number=number,  # type: ignore[arg-type]
                     valid_from=valid_from, valid_until=valid_until,  # type: ignore[arg-type]
                     title=title, scope=scope)


def agreement(raw: Mapping[str, Any], agreement_id: str) -> Agreement:
    """Check an MoU or PKS."""
    errors = _Errors()
    found = _agreement(raw, agreement_id, "", errors)
    errors.raise_any()
    return found  # type: ignore[return-value]


def agreements(raw: Any, ids: Iterable[str]) -> list[Agreement]:
    """A list of agreements; every bad field of every entry is named (``agreements[0].number``)."""
    errors = _Errors()
    found: list[Agreement] = []
    for i, (item, agreement_id) in enumerate(zip(_listed(raw, "agreements", errors), ids, strict=False)):
        if not isinstance(item, Mapping):
            errors.add(f"agreements[{i}]", "must be an object")
        elif (checked := _agreement(item, agreement_id, f"agreements[{i}].", errors)) is not None:
            found.append(checked)
    keys: dict[tuple[str, str], int] = {}
    for i, item in enumerate(found):
        if item.key in keys:
            errors.add(f"agreements[{i}].number", f"repeats agreements[{keys[item.key]}] ({item.doc_type} {item.number})")
        keys.setdefault(item.key, i)
    errors.raise_any()
    return found


def reason(value: Any, *, required: bool) -> str | None:
    """The reason given for a status change."""
    errors = _Errors()
    text = _text(value, "reason", errors, required=required, limit=REASON_MAX)
    errors.raise_any()
    return text
