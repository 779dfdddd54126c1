"""The ``Partner`` aggregate: the registry's rules, free of I/O and frameworks.

Methods check a rule, change state and record a past-tense event; the store turns the
recorded events into outbox entries in the same document write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


class Status(StrEnum):
    active = "active"
    suspended = "suspended"
    archived = "archived"


class PartnerError(Exception):
    """A rule of the registry was broken; the message speaks to the operator."""


@dataclass(frozen=True)
class PartnerRegistered:
    partner: Partner


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
    segments: list[str] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    agreements: list[dict[str, Any]] = field(default_factory=list)
    status: Status = Status.active
    notes: str | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def register(cls, *, id: str, name: str, type: PartnerType, region: str, now: datetime, **details: Any) -> Partner:
        name = " ".join(name.split())
        if not name:
            raise PartnerError("a partner needs a name")
        partner = cls(id=id, name=name, type=type, region=region, created_at=now, updated_at=now, **details)
        partner.events.append(PartnerRegistered(partner))
        return partner

    @property
    def name_key(self) -> str:
        """Names are unique per region, ignoring case and spacing."""
        return " ".join(self.name.casefold().split())
