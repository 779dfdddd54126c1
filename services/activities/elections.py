"""The election calendar (DOMAIN.md): elections with their voting days, targets, stage windows; no I/O.

An :class:`Election` is an aggregate: an admin creates or changes one (``PUT /elections/{id}``), an
operator records the turnout after voting day, and each change records one
:class:`ElectionUpdated` (``sinergi.election.updated``). The service ships a calendar
(``elections.toml``: the past elections and the standing programme ``berkelanjutan``); a stored
election wins over the shipped one of the same id (store.py ``ElectionStore``), so the shipped
entries are version 1 until first changed. An activity's ``election`` names one of the calendar.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from shared.errors import Conflict, Invalid
from shared.gazetteer import Unresolved, installed, refusal
from shared.regions import within
from shared.vocabulary import Stage

ELECTION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
DISTRICT_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
# What PUT /elections/{id} sets (a whole replacement); the turnout has its own command.
ELECTION_FIELDS = ("name", "kind", "voting_day", "stages", "participation_target_pct", "types", "source")


class ElectionKind(StrEnum):
    pemilu = "pemilu"
    pilkada = "pilkada"
    pemungutan_suara_ulang = "pemungutan_suara_ulang"
    pemungutan_suara_lanjutan = "pemungutan_suara_lanjutan"
    pemungutan_suara_susulan = "pemungutan_suara_susulan"
    berkelanjutan = "berkelanjutan"  # pendidikan pemilih berkelanjutan: no voting day, no stages


@dataclass(frozen=True)
class StageWindow:
    stage: str
    starts_on: date
    ends_on: date

    def holds(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class Turnout:
    """The region's actual turnout, recorded after voting day; per kecamatan when known."""

    turnout_pct: float
    districts: tuple[tuple[str, float], ...] = ()
    source: str | None = None
    recorded_at: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return {"turnout_pct": self.turnout_pct, "source": self.source,
                "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
                "districts": [{"district": d, "turnout_pct": p} for d, p in self.districts]}


@dataclass(frozen=True)
class ElectionUpdated:
    changed_fields: tuple[str, ...]


@dataclass
class Election:
    id: str
    name: str
    kind: str
    voting_day: date | None
    participation_target_pct: float | None
    stages: tuple[StageWindow, ...] = ()
    types: tuple[str, ...] = ()
    source: str | None = None
    turnout_pct: float | None = None  # the national figure the catalogue cites
    turnout_note: str | None = None
    turnout: Turnout | None = None  # this region's, recorded by the office
    created_at: datetime | None = None  # None: shipped, never stored
    updated_at: datetime | None = None
    version: int = 1
    events: list[object] = field(default_factory=list, repr=False, compare=False)

    @property
    def national_target_pct(self) -> float | None:
        """The name the catalogue used before the calendar became editable (kept in answers)."""
        return self.participation_target_pct

    def window(self, stage: str) -> StageWindow | None:
        return next((w for w in self.stages if w.stage == stage), None)

    @property
    def quiet_period(self) -> StageWindow | None:
        return self.window("masa_tenang")

    def stage_on(self, day: date) -> Stage | None:
        """The stage whose window holds ``day``; where windows overlap (voting day and the start of
        the recapitulation), the first one listed."""
        return next((Stage(w.stage) for w in self.stages if w.holds(day)), None)

    # -- commands -------------------------------------------------------------------------

    @classmethod
    def define(cls, election_id: str, now: datetime, values: dict[str, Any]) -> Election:
        if not ELECTION_ID.match(election_id):
            raise Invalid({"id": "lower-case letters, digits and '-', 2 to 40 characters (e.g. psu-2025)"})
        election = cls(id=election_id, created_at=now, updated_at=now, **election_values(values))
        election.events.append(ElectionUpdated(ELECTION_FIELDS))
        return election

    def change(self, now: datetime, values: dict[str, Any]) -> tuple[str, ...]:
        """Replace what an admin sets (PUT semantics); the turnout stays. Returns what changed."""
        cleaned = election_values(values)
        changed = tuple(name for name in ELECTION_FIELDS if cleaned[name] != getattr(self, name))
        if changed:
            for name in changed:
                setattr(self, name, cleaned[name])
            self._record(ElectionUpdated(changed), now)
        return changed

    def record_turnout(self, now: datetime, today: date, region: str, turnout_pct: float,
                       districts: list[dict[str, Any]], source: str | None) -> bool:
        """The region's actual turnout, from voting day on. False when it is already what was recorded."""
        if self.voting_day is None:
            raise Conflict(f"{self.id} has no voting day; there is no turnout to record", voting_day=None)
        if today < self.voting_day:
            raise Conflict(f"voting day of {self.id} is {self.voting_day.isoformat()}; turnout can be recorded "
                           "from that day on", voting_day=self.voting_day.isoformat())
        errors: dict[str, str] = {}
        if not 0 <= turnout_pct <= 100:
            errors["turnout_pct"] = "a percentage from 0 to 100"
        seen: dict[str, float] = {}
        unresolved: dict[str, Unresolved] = {}
        for i, entry in enumerate(districts):
            code, pct = str(entry.get("district", "")).strip(), entry.get("turnout_pct")
            if DISTRICT_CODE.match(code) and not within(code, region) or not code:
                errors[f"districts[{i}].district"] = f"a kecamatan code in region {region}, such as {region}.02"
            else:
                try:  # a kecamatan by name (Coblong, Kec. Coblong) or code, as an office writes it
                    code = installed(region).district(code)
                except Unresolved as exc:
                    unresolved[f"districts[{i}].district"] = exc
                else:
                    if code in seen:
                        errors[f"districts[{i}].district"] = f"kecamatan {code} is given twice"
            if not isinstance(pct, int | float) or not 0 <= pct <= 100:
                errors[f"districts[{i}].turnout_pct"] = "a percentage from 0 to 100"
            elif f"districts[{i}].district" not in {**errors, **unresolved}:
                seen[code] = float(pct)
        if errors or unresolved:
            raise refusal(unresolved, errors)
        source = " ".join((source or "").split()) or None
        wanted = Turnout(float(turnout_pct), tuple(sorted(seen.items())), source)
        if self.turnout is not None and replace(self.turnout, recorded_at=None) == wanted:
            return False
        self.turnout = replace(wanted, recorded_at=now)
        self._record(ElectionUpdated(("turnout",)), now)
        return True

    def _record(self, event: object, now: datetime) -> None:
        self.version += 1
        self.created_at = self.created_at or now  # a shipped election is stored on its first change
        self.updated_at = now
        self.events.append(event)

    # -- as data -------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The answer of ``GET /elections`` (and the data of its event)."""
        return {
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "kind": self.kind,
            "voting_day": self.voting_day.isoformat() if self.voting_day else None,
            "participation_target_pct": self.participation_target_pct,
            "national_target_pct": self.participation_target_pct,
            "turnout_pct": self.turnout_pct,
            "turnout_note": self.turnout_note,
            "types": list(self.types),
            "stages": [{"stage": w.stage, "from": w.starts_on.isoformat(), "to": w.ends_on.isoformat(),
                        "starts_on": w.starts_on.isoformat(), "ends_on": w.ends_on.isoformat()}
                       for w in self.stages],
            "source": self.source,
            "turnout": self.turnout.describe() if self.turnout else None,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def election_values(values: dict[str, Any]) -> dict[str, Any]:
    """What an admin sends, checked: every broken rule named at once (422)."""
    unknown = set(values) - set(ELECTION_FIELDS)
    errors: dict[str, str] = {name: "not a field of an election" for name in sorted(unknown)}
    name = " ".join(str(values.get("name") or "").split())
    if not name:
        errors["name"] = "an election needs a name"
    kind = values.get("kind")
    if kind not in ElectionKind.__members__:
        errors["kind"] = f"one of {', '.join(ElectionKind)}"
    voting_day = values.get("voting_day")
    standing = kind == ElectionKind.berkelanjutan
    if standing and voting_day is not None:
        errors["voting_day"] = "a standing programme (berkelanjutan) has no voting day"
    elif not standing and kind in ElectionKind.__members__ and voting_day is None:
        errors["voting_day"] = "required (only a standing programme, berkelanjutan, has none)"
    pct = values.get("participation_target_pct")
    if pct is not None and not 0 < pct <= 100:
        errors["participation_target_pct"] = "a percentage above 0 and at most 100"
    windows: list[StageWindow] = []
    for i, w in enumerate(values.get("stages") or []):
        stage, start, end = w.get("stage"), w.get("from"), w.get("to")
        if stage not in Stage.__members__:
            errors[f"stages[{i}].stage"] = f"one of {', '.join(Stage)}"
        elif any(x.stage == stage for x in windows):
            errors[f"stages[{i}].stage"] = f"{stage} is given twice"
        elif not isinstance(start, date) or not isinstance(end, date) or end < start:
            errors[f"stages[{i}].to"] = "from and to are dates, to not before from"
        else:
            windows.append(StageWindow(stage, start, end))
    if standing and values.get("stages"):
        errors["stages"] = "a standing programme (berkelanjutan) has no stages"
    if errors:
        raise Invalid(errors)
    return {
        "name": name,
        "kind": kind,
        "voting_day": voting_day,
        "stages": tuple(sorted(windows, key=lambda w: (w.starts_on, w.ends_on))),
        "participation_target_pct": None if pct is None else float(pct),
        "types": tuple(dict.fromkeys(" ".join(str(t).split()) for t in values.get("types") or [] if str(t).strip())),
        "source": " ".join(str(values.get("source") or "").split()) or None,
    }


# --- the calendar --------------------------------------------------------------------------------


class Calendar(Protocol):
    """Where the use cases and views look elections up (store.py ``ElectionStore``, or the shipped one)."""

    async def get(self, election_id: str) -> Election | None: ...

    async def all(self) -> dict[str, Election]: ...


def _shipped_election(entry: dict[str, Any]) -> Election:
    stages = tuple(StageWindow(w["stage"], w["starts_on"], w["ends_on"]) for w in entry.pop("stages"))
    entry.setdefault("voting_day", None)
    entry.setdefault("participation_target_pct", None)
    return Election(**{**entry, "types": tuple(entry["types"]), "stages": stages})


def _catalogue(path: Path) -> dict[str, Election]:
    with path.open("rb") as file:
        entries = tomllib.load(file)["election"]
    return {election.id: election for election in map(_shipped_election, entries)}


ELECTIONS: dict[str, Election] = _catalogue(Path(__file__).with_name("elections.toml"))


def shipped(election_id: str) -> Election | None:
    """A fresh copy of a shipped election (the module's copies are never changed)."""
    found = ELECTIONS.get(election_id)
    return replace(found, events=[]) if found else None


class ShippedCalendar:
    """The calendar as shipped, in memory (for use without a store: tests, tools)."""

    async def get(self, election_id: str) -> Election | None:
        return shipped(election_id)

    async def all(self) -> dict[str, Election]:
        return {k: replace(e, events=[]) for k, e in ELECTIONS.items()}


def in_order(elections: Mapping[str, Election]) -> list[Election]:
    """By voting day; standing programmes (no voting day) last."""
    return sorted(elections.values(), key=lambda e: (e.voting_day is None, e.voting_day or date.min, e.id))


def known_elections(calendar: Mapping[str, Election] | None = None) -> str:
    return ", ".join(calendar if calendar is not None else ELECTIONS)
