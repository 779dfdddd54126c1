"""The election catalogue the service ships (DOMAIN.md): voting days, national targets, stage windows.

Seed data, not configuration: an activity's ``election`` must name one of these. The data is
``elections.toml`` beside this file (where its sources are said); this module reads it once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StageWindow:
    stage: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class Election:
    id: str
    name: str
    voting_day: date
    national_target_pct: float
    turnout_pct: float | None
    turnout_note: str
    types: tuple[str, ...]
    stages: tuple[StageWindow, ...]
    source: str

    def window(self, stage: str) -> StageWindow | None:
        return next((w for w in self.stages if w.stage == stage), None)

    @property
    def quiet_period(self) -> StageWindow | None:
        return self.window("masa_tenang")

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "voting_day": self.voting_day.isoformat(),
            "national_target_pct": self.national_target_pct,
            "turnout_pct": self.turnout_pct,
            "turnout_note": self.turnout_note,
            "types": list(self.types),
            "stages": [
                {"stage": w.stage, "starts_on": w.starts_on.isoformat(), "ends_on": w.ends_on.isoformat()}
                for w in self.stages
            ],
            "source": self.source,
        }


def _election(entry: dict[str, Any]) -> Election:
    stages = tuple(StageWindow(w["stage"], w["starts_on"], w["ends_on"]) for w in entry.pop("stages"))
    return Election(**{**entry, "types": tuple(entry["types"]), "stages": stages})


def _catalogue(path: Path) -> dict[str, Election]:
    with path.open("rb") as file:
        entries = tomllib.load(file)["election"]
    return {election.id: election for election in map(_election, entries)}


ELECTIONS: dict[str, Election] = _catalogue(Path(__file__).with_name("elections.toml"))


def known_elections() -> str:
    return ", ".join(ELECTIONS)
