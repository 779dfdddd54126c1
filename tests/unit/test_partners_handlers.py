"""Use cases of the registry against an in-memory fake of our own repository interface."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from itertools import count

import pytest

from pymongo.errors import OperationFailure

from services.partners.domain.duplicates import Directory
from services.partners import spreadsheet
from services.partners.domain import NameTaken, Partner, PartnerUpdated, Status
from services.partners.handlers import Registry
from services.partners.store import Filters, LoadedPartner
from shared.errors import Conflict, Invalid, Unavailable, VersionMismatch
from shared.outbox import StaleVersion

REGION = "32.73"
BUSY = "[collection.go:177 sqlite.(*collection).UpdateAll.func1] database is locked (5) (SQLITE_BUSY)"


class FakePartners:
    """Keeps copies, checks versions and names like the MongoDB store, counts writes."""

    def __init__(self) -> None:
        self.stored: dict[str, Partner] = {}
        self.names: dict[str, str] = {}
        self.events: list[object] = []
        self.writes = 0
        self.interfere: list[str] = []  # ids another writer changes right before our next save
        self.busy = 0  # saves the store refuses as busy before it takes one
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, partner_id):
        return self._locks.setdefault(partner_id, asyncio.Lock())

    async def get(self, partner_id):
        found = self.stored.get(partner_id)
        return dataclasses.replace(found) if found else None

    async def load(self, partner_id):
        found = await self.get(partner_id)
        return LoadedPartner(found, found.version, [], found.name_key) if found else None

    async def holders(self, keys):
        return {k: self.names[k] for k in keys if k in self.names}

    async def get_many(self, ids):
        return {i: await self.get(i) for i in ids if i in self.stored}

    async def add(self, partner):
        holder = self.names.get(partner.name_key)
        if holder and holder != partner.id:
            raise NameTaken(partner.name, partner.region, holder)
        self.names[partner.name_key] = partner.id
        self._keep(partner)

    async def add_many(self, partners):
        refused = {}
        for partner in partners:
            try:
                await self.add(partner)
            except NameTaken as exc:
                refused[partner.id] = exc
        return refused

    async def directory(self):
        return Directory.of(Directory.of_partner(p) for p in self.stored.values())

    def announce(self, partner_ids):
        self.announced = [*getattr(self, "announced", []), *partner_ids]

    async def save(self, loaded):
        partner = loaded.aggregate
        if self.busy:
            self.busy -= 1
            raise OperationFailure(BUSY, code=1)
        if partner.id in self.interfere:
            self.interfere.remove(partner.id)
            self.stored[partner.id].version += 1
        if self.stored[partner.id].version != loaded.version:
            raise StaleVersion(partner.id)
        holder = self.names.get(partner.name_key)
        if holder and holder != partner.id:
            raise NameTaken(partner.name, partner.region, holder)
        self.names.pop(loaded.name_key, None)
        self.names[partner.name_key] = partner.id
        self._keep(partner)

    async def find(self, filters, limit, cursor):
        return list(self.stored.values())[:limit], None

    async def every(self, filters):
        for partner in list(self.stored.values()):
            yield partner

    def _keep(self, partner):
        self.writes += 1
        self.events.extend(partner.events)
        partner.events.clear()
        self.stored[partner.id] = dataclasses.replace(partner)


@pytest.fixture
def fake():
    return FakePartners()


@pytest.fixture
def registry(fake):
    ids = count(1)
    return Registry(fake, REGION, clock=lambda: datetime(2024, 10, 17, tzinfo=UTC),
                    ids=lambda: (f"id{next(ids)}" for _ in iter(int, 1)))


SHEET = (
    "nama,jenis,segmen,kontak1_nama,kontak1_telepon,perjanjian1_jenis,perjanjian1_nomor,perjanjian1_mulai,"
    "perjanjian1_berakhir,status,alasan_status\n"
    "KIM Sekarbela,kim,pemilih_pemula,Lalu Ahmad,0819-0700-1122,mou,1/MoU/2024,2024-01-02,2024-12-31,,\n"
    "Karang Taruna Cicendo,ormas_komunitas,pemilih_muda,,,,,,,suspended,vakum\n"
    "Radio Cibiru,radio-station,umum,,,,,,,,\n"
    "kim  sekarbela,kim,,,,,,,,,\n"
    "SMAN 3 Bandung,sekolah,pelajar,Bu Rina,12,,,,,,\n"
).encode()


async def test_an_import_reports_each_bad_row_and_stores_the_good_ones(registry, fake):
    report = await registry.import_rows(spreadsheet.parse(SHEET).rows, "mitra.csv", "op")
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert [(e["row"], e["field"]) for e in report.errors] == [(4, "jenis"), (5, "nama"), (6, "kontak1_telepon")]
    assert "repeats the partner of row 2" in report.errors[1]["message"]
    assert sorted(fake.announced) == sorted(fake.stored)
    suspended = next(p for p in fake.stored.values() if p.name == "Karang Taruna Cicendo")
    assert suspended.status is Status.suspended and suspended.version == 2
    assert suspended.status_history[-1].reason == "vakum"


async def test_importing_the_same_file_again_writes_nothing(registry, fake):
    rows = spreadsheet.parse(SHEET).rows
    await registry.import_rows(rows, "mitra.csv", "op")
    writes, events = fake.writes, len(fake.events)
    report = await registry.import_rows(spreadsheet.parse(SHEET).rows, "mitra.csv", "op")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert (fake.writes, len(fake.events)) == (writes, events)


async def test_an_import_updates_changed_rows_and_refuses_an_archived_partner(registry, fake):
    await registry.import_rows(spreadsheet.parse(SHEET).rows, "mitra.csv", "op")
    kim = next(p for p in fake.stored.values() if p.name == "KIM Sekarbela")
    await registry.archive(kim.id, "bubar", None, "op")
    changed = SHEET.replace(b"Karang Taruna Cicendo,ormas_komunitas,pemilih_muda,,,,,,,suspended",
                            b"Karang Taruna Cicendo,ormas_komunitas,pemilih_muda,,,,,,,active")
    report = await registry.import_rows(spreadsheet.parse(changed).rows, "mitra.csv", "op")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    # Row 2 asks the archived KIM to be active with its agreement: refused, and named.
    assert (2, "status") in [(e["row"], e["field"]) for e in report.errors]
    assert "is 'archived'" in next(e["message"] for e in report.errors if e["row"] == 2)


async def test_a_stale_save_is_retried_without_if_match_and_refused_with_it(registry, fake):
    partner, _ = await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    fake.interfere.append(partner.id)
    revised = await registry.revise(partner.id, {"notes": "a"}, None)
    assert revised.version == 3 and revised.notes == "a"  # reloaded after the other writer's version 2
    fake.interfere.append(partner.id)
    with pytest.raises(VersionMismatch) as refused:
        await registry.revise(partner.id, {"notes": "b"}, 3)
    assert refused.value.facts == {"current_version": 4}
    assert fake.stored[partner.id].notes == "a"


async def test_if_match_on_an_old_version_changes_nothing(registry, fake):
    partner, _ = await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    await registry.revise(partner.id, {"notes": "a"}, 1)
    with pytest.raises(VersionMismatch, match="is at version 2, not 1"):
        await registry.suspend(partner.id, "x", 1, "op")
    assert fake.stored[partner.id].status is Status.active
    assert [type(e) for e in fake.events][-1] is PartnerUpdated


async def test_renaming_onto_a_taken_name_is_a_conflict(registry, fake):
    await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    await registry.register("p2", {"name": "KIM Arcamanik", "type": "kim"}, "op")
    with pytest.raises(Conflict, match="already registered") as taken:
        await registry.revise("p2", {"name": "kim antapani"}, None)
    assert taken.value.facts == {"existing_id": "p1"}
    with pytest.raises(Invalid):
        await registry.revise("p2", {"region": "33.16"}, None)
    assert [p.name for p in (await registry.find(Filters(), 10, None))[0]] == ["KIM Antapani", "KIM Arcamanik"]


async def test_a_refused_change_is_a_conflict_with_the_status_it_met(registry, fake):
    partner, _ = await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    with pytest.raises(Conflict, match="only a suspended partner can be reactivated") as refused:
        await registry.reactivate(partner.id, None, None, "op")
    assert refused.value.facts == {"current_status": "active"}
    with pytest.raises(Invalid) as invalid:
        await registry.suspend(partner.id, " ", None, "op")
    assert invalid.value.errors == [{"field": "reason", "message": "must not be empty"}]


async def test_a_write_the_store_refused_as_busy_is_tried_again(registry, fake):
    partner, _ = await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    fake.busy = 2
    revised = await registry.revise(partner.id, {"notes": "a"}, 1)
    assert revised.version == 2 and fake.stored[partner.id].notes == "a"


async def test_a_store_that_stays_busy_is_unavailable_and_nothing_changes(registry, fake):
    partner, _ = await registry.register("p1", {"name": "KIM Antapani", "type": "kim"}, "op")
    fake.busy = 100
    with pytest.raises(Unavailable, match="nothing was changed") as refused:
        await registry.suspend(partner.id, "vakum", None, "op")
    assert refused.value.retry_after >= 1  # the edge answers 503 with Retry-After
    assert fake.stored[partner.id].status is Status.active and fake.stored[partner.id].version == 1


async def test_an_agreement_lapses_by_the_offices_calendar_not_utcs(fake):
    # 00:30 WIB on 1 Jan 2025 is still 31 Dec 2024 in UTC: an MoU valid until 31 Dec 2024 has lapsed
    # for the office in Bandung, and is announced so.
    just_after_midnight = datetime(2024, 12, 31, 17, 30, tzinfo=UTC)
    registry = Registry(fake, REGION, clock=lambda: just_after_midnight)
    partner, _ = await registry.register("p1", {
        "name": "Diskominfo Kota Bandung", "type": "opd_diskominfo", "agreements": [
            {"doc_type": "mou", "number": "01/PP.06-NK/3273/2023", "valid_from": "2023-01-01",
             "valid_until": "2024-12-31"}]}, by="op")
    assert partner.agreements[0].lapsed_announced
