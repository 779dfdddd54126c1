"""The election catalogue the service ships (DOMAIN.md): voting days, national targets, stage windows.

Seed data, not configuration: an activity's ``election`` must name one of these. Windows are
inclusive local dates. The quiet period (*masa tenang*) and voting days are the official
ones; where DOMAIN.md is silent, earlier windows follow the KPU regulation named in
``source`` and are given to the day as far as they are settled there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class StageWindow:
    stage: str
    starts_on: date
    ends_on: date

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


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

    def stage_on(self, day: date) -> str | None:
        """The stage under way on ``day``; the latest-starting one when windows overlap."""
        current = [w for w in self.stages if w.covers(day)]
        return max(current, key=lambda w: w.starts_on).stage if current else None

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


def _w(stage: str, start: str, end: str) -> StageWindow:
    return StageWindow(stage, date.fromisoformat(start), date.fromisoformat(end))


_PILEG_PILPRES = ("pilpres", "pileg_dpr", "pileg_dpd", "pileg_dprd_prov", "pileg_dprd_kabkota")
_PILKADA = ("pilgub", "pilbup", "pilwalkot")

ELECTIONS: dict[str, Election] = {
    e.id: e
    for e in (
        Election(
            id="pemilu-2019",
            name="Pemilu 2019",
            voting_day=date(2019, 4, 17),
            national_target_pct=77.5,
            turnout_pct=81.97,
            turnout_note="pilpres",
            types=_PILEG_PILPRES,
            stages=(
                _w("pendaftaran_peserta", "2017-10-03", "2018-02-17"),
                _w("pemutakhiran_data_pemilih", "2018-04-17", "2018-09-05"),
                _w("pencalonan", "2018-07-04", "2018-09-20"),
                _w("kampanye", "2018-09-23", "2019-04-13"),
                _w("masa_tenang", "2019-04-14", "2019-04-16"),
                _w("pemungutan_penghitungan", "2019-04-17", "2019-04-18"),
                _w("rekapitulasi", "2019-04-18", "2019-05-22"),
            ),
            source="PKPU 7/2017 (tahapan, program dan jadwal Pemilu 2019) as amended",
        ),
        Election(
            id="pilkada-2020",
            name="Pemilihan Serentak 2020 (270 daerah)",
            voting_day=date(2020, 12, 9),
            national_target_pct=77.5,
            turnout_pct=76.09,
            turnout_note="national average",
            types=_PILKADA,
            stages=(
                _w("pemutakhiran_data_pemilih", "2020-07-15", "2020-10-15"),
                _w("pencalonan", "2020-09-04", "2020-09-23"),
                _w("kampanye", "2020-09-26", "2020-12-05"),
                _w("masa_tenang", "2020-12-06", "2020-12-08"),
                _w("pemungutan_penghitungan", "2020-12-09", "2020-12-09"),
                _w("rekapitulasi", "2020-12-10", "2020-12-26"),
            ),
            source="PKPU 5/2020 (tahapan, program dan jadwal Pemilihan Serentak Lanjutan 2020)",
        ),
        Election(
            id="pemilu-2024",
            name="Pemilu 2024 (pilpres dan pileg)",
            voting_day=date(2024, 2, 14),
            national_target_pct=79.5,
            turnout_pct=81.78,
            turnout_note="pilpres",
            types=_PILEG_PILPRES,
            stages=(
                _w("perencanaan", "2022-06-14", "2022-07-28"),
                _w("pendaftaran_peserta", "2022-07-29", "2022-12-14"),
                _w("pemutakhiran_data_pemilih", "2022-10-14", "2023-06-21"),
                _w("pencalonan", "2023-04-24", "2023-11-25"),
                _w("kampanye", "2023-11-28", "2024-02-10"),
                _w("masa_tenang", "2024-02-11", "2024-02-13"),
                _w("pemungutan_penghitungan", "2024-02-14", "2024-02-15"),
                _w("rekapitulasi", "2024-02-15", "2024-03-20"),
            ),
            source="PKPU 3/2022 (tahapan dan jadwal Pemilu 2024)",
        ),
        Election(
            id="pilkada-2024",
            name="Pilkada 2024 (pilgub, pilbup, pilwalkot)",
            voting_day=date(2024, 11, 27),
            national_target_pct=82.0,
            turnout_pct=71.0,
            turnout_note="about; national average",
            types=_PILKADA,
            stages=(
                _w("pemutakhiran_data_pemilih", "2024-05-31", "2024-09-20"),
                _w("pencalonan", "2024-08-27", "2024-09-22"),
                _w("kampanye", "2024-09-25", "2024-11-23"),
                _w("masa_tenang", "2024-11-24", "2024-11-26"),
                _w("pemungutan_penghitungan", "2024-11-27", "2024-11-27"),
                _w("rekapitulasi", "2024-11-27", "2024-12-16"),
            ),
            source="PKPU 2/2024 (tahapan dan jadwal Pemilihan 2024)",
        ),
    )
}


def known_elections() -> str:
    return ", ".join(ELECTIONS)
