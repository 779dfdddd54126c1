"""Use cases of the partner registry: check the input, let the domain decide, store the result.

(Over 400 lines: registering, changing and importing share the checks and the unit of work.)

Every change to a stored partner is one call to the unit of work (shared/unit_of_work.py):
under the partner's lock, load it, check ``If-Match``, apply the domain's change and save it
with its events, retrying a stale or busy write. Refusals are :mod:`shared.errors` types,
the domain's own included (``NotAllowed``, ``DuplicateAgreement``, ``NameTaken`` are
``Conflict``\\ s with their facts), so nothing here speaks HTTP; the app maps them at its edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo
from typing import Any, Protocol

from ulid import ULID

from services.partners.domain import (
    EDITABLE,
    Agreement,
    Invalid,
    NameTaken,
    NotAllowed,
    Partner,
    Status,
    agreement,
    agreements,
    details,
    fold,
    reason,
)
from services.partners.domain.duplicates import Directory, Found, PossibleDuplicate
from services.partners.spreadsheet import Row
from services.partners.store import Filters
from shared.clock import Clock, now_ms
from shared.errors import Conflict, NotFound
from shared.gazetteer import DISTRICT_CODE, Places, Unresolved, installed, refusal
from shared.logging import batch, in_batch
from shared.unit_of_work import Repository, UnitOfWork

# New partners of an import are stored this many at a time.
BATCH = 250
# An import lets other requests run after this many rows: checking a row's phones and e-mails
# is about a millisecond of Python, and /healthz waited 25 s behind a large file (issue 11).
ROWS_BETWEEN_TURNS = 50
# Row errors an import answers with (the first ones, by row); all of them are counted.
SHOWN_ERRORS = 100
# The one sentence of an import's warnings (shared/bahasa.toml words it in English too).
MAYBE_SAME = "mungkin sama dengan mitra yang sudah terdaftar: {names}"


class Partners(Repository[Partner], Protocol):
    """What the use cases need from a repository (the MongoDB store, or a test's fake)."""

    async def get(self, partner_id: str) -> Partner | None: ...
    async def holders(self, keys: list[str]) -> dict[str, str]: ...
    async def get_many(self, partner_ids: list[str]) -> dict[str, Partner]: ...
    async def add_many(self, partners: list[Partner]) -> dict[str, NameTaken]: ...
    async def directory(self) -> Directory: ...
    def announce(self, partner_ids: list[str]) -> None: ...
    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]: ...
    def every(self, filters: Filters) -> AsyncIterator[Partner]: ...


def new_ids() -> Iterator[str]:
    """ULIDs in strictly increasing order, even within one millisecond: partners an import
    creates keep the order of the file's rows (lists are in id order)."""
    last = 0
    while True:
        last = max(int(ULID()), last + 1)
        yield str(ULID.from_int(last))


@dataclass
class ImportReport:
    """What an import did. ``errors`` holds the first ``shown`` row errors by row (a file of
    a million bad rows answered with 20 MB of them, issue 11); ``error_count`` counts them all."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    # Rows imported although they look like a partner registered already (issue 12, point 10).
    warnings: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    shown: int = SHOWN_ERRORS

    def fail(self, row: Row, name: str, message: str) -> None:
        self.error_count += 1
        self.errors.append({"row": row.number, "field": row.label(name), "message": message})
        if len(self.errors) > 2 * self.shown:
            self.keep_first()

    def warn(self, row: Row, found: Found) -> None:
        duplicates = Found.listed(found.same + found.similar)
        names = ", ".join(d["name"] for d in duplicates)
        self.warnings.append({"row": row.number, "message": MAYBE_SAME.format(names=names),
                              "possible_duplicates": duplicates})

    def keep_first(self) -> None:
        # A stable sort: errors of one row keep the order they were found in.
        self.errors.sort(key=lambda error: error["row"])
        del self.errors[self.shown:]


class RowRefused(Exception):
    """An import row the partner's state refuses; ``field`` says which column to look at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class _Plan:
    """A checked import row: what it asks of the partner with its name."""

    row: Row
    key: str
    fields: dict[str, Any]
    agreements: list[Agreement]
    status: Status | None
    reason: str | None


@dataclass
class Registry:
    store: Partners
    region: str
    clock: Clock = now_ms
    ids: Callable[[], Iterator[str]] = new_ids
    # The office's zone: an agreement's valid_until is a date of its calendar, not UTC's.
    zone: ZoneInfo = ZoneInfo("Asia/Jakarta")
    unit: UnitOfWork[Partner] = field(init=False)
    # The region's kecamatan by name and code; read at start, so a missing gazetteer stops the
    # service at once with the command that installs it.
    places: Places | None = None

    def __post_init__(self) -> None:
        self.unit = UnitOfWork(self.store, kind="partner", where=f" in region {self.region}")
        if self.places is None:
            self.places = installed(self.region)

    def place(self, fields: dict[str, Any] | None, unresolved: dict[str, Unresolved],
              district: str | None = None) -> None:
        """The kecamatan and desa/kelurahan of checked ``fields`` as codes: a name (``Kec. Coblong``,
        ``Kel. Dago``) is looked up in the gazetteer, a desa/kelurahan within the kecamatan given
        (or ``district``, the partner's own when a PATCH names only the village); one it cannot
        place is added to ``unresolved`` with the closest names."""
        if not fields:
            return
        if fields.get("district"):
            try:
                fields["district"] = self.gazetteer.district(fields["district"])
            except Unresolved as exc:
                unresolved["district"] = exc
        if fields.get("village") and "district" not in unresolved:
            inside = fields["district"] if "district" in fields else district
            inside = inside if inside and DISTRICT_CODE.match(inside) else None  # free text from before
            try:
                fields["village"] = self.gazetteer.village(fields["village"], inside)
            except Unresolved as exc:
                unresolved["village"] = exc
            else:
                if "district" not in fields and not district:  # a desa/kelurahan names its kecamatan
                    fields["district"] = fields["village"].rsplit(".", 1)[0]

    @property
    def gazetteer(self) -> Places:
        assert self.places is not None  # set in __post_init__
        return self.places

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    # --- reading ---------------------------------------------------------------------------

    async def get(self, partner_id: str) -> Partner:
        partner = await self.store.get(partner_id)
        if partner is None:
            raise NotFound(f"no partner with id {partner_id} in region {self.region}")
        return partner

    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]:
        return await self.store.find(self._placed(filters), limit, cursor)

    async def every(self, filters: Filters) -> list[Partner]:
        return [partner async for partner in self.store.every(self._placed(filters))]

    def _placed(self, filters: Filters) -> Filters:
        """``?district=`` by name or code, as a body names it; a name not placed is a 422 with suggestions."""
        if not filters.district:
            return filters
        try:
            return filters.model_copy(update={"district": self.gazetteer.district(filters.district)})
        except Unresolved as exc:
            raise refusal({"district": exc}) from None

    # --- registering -----------------------------------------------------------------------

    async def register(self, partner_id: str, raw: dict[str, Any], by: str | None,
                       confirm: bool = False) -> tuple[Partner, list[dict[str, str]]]:
        """Register a partner; answers it with the partners it is merely similar to. One that
        looks the same as a registered one (phone, e-mail, normalised name) is refused with
        :class:`PossibleDuplicate` unless ``confirm``."""
        region = raw.get("region") or self.region
        if region != self.region:
            raise Invalid({"region": f"this instance serves region {self.region}, not {region}"})
        errors: list[tuple[str, str]] = []
        unresolved: dict[str, Unresolved] = {}
        fields = _collect(errors, lambda: details(raw, self.region))
        self.place(fields, unresolved)
        signed = _collect(errors, lambda: agreements(raw.get("agreements"), self.ids()))
        if errors or unresolved:
            raise refusal(unresolved, errors)
        partner = Partner.register(id=partner_id, region=self.region, now=self.clock(), today=self.today(), by=by,
                                   fields=fields,
                                   agreements=signed)
        found = (await self.store.directory()).look(Directory.of_partner(partner))
        if found.same and not confirm:
            raise PossibleDuplicate(partner.name, found.same)
        if not await self.unit.add(partner):  # a retried request that created it before it could answer
            return await self.get(partner_id), []
        return partner, Found.listed(found.same + found.similar)

    # --- changing --------------------------------------------------------------------------

    async def revise(self, partner_id: str, raw: dict[str, Any], expected: int | None) -> Partner:
        if "region" in raw and raw["region"] != self.region:
            raise Invalid({"region": "a partner stays in its region; register it in the other region instead"})
        changes = details({k: v for k, v in raw.items() if k != "region"}, self.region, partial=True)
        unresolved: dict[str, Unresolved] = {}
        # A village alone is looked up in the partner's kecamatan.
        current = (await self.get(partner_id)).district if changes.get("village") and "district" not in changes \
            else None
        self.place(changes, unresolved, current)
        if unresolved:
            raise refusal(unresolved)
        return await self.unit.change(partner_id, expected, lambda partner: partner.revise(changes, self.clock()))

    async def sign(self, partner_id: str, agreement_id: str, raw: dict[str, Any], expected: int | None) -> Partner:
        signed = agreement(raw, agreement_id)
        return await self.unit.change(partner_id, expected,
                                      lambda partner: partner.sign(signed, self.clock(), self.today()))

    async def suspend(self, partner_id: str, why: Any, expected: int | None, by: str | None) -> Partner:
        text = reason(why, required=True)
        return await self.unit.change(partner_id, expected, lambda partner: partner.suspend(text, self.clock(), by))

    async def reactivate(self, partner_id: str, why: Any, expected: int | None, by: str | None) -> Partner:
        text = reason(why, required=False)
        return await self.unit.change(partner_id, expected,
                                      lambda partner: partner.reactivate(text, self.clock(), by))

    async def archive(self, partner_id: str, why: Any, expected: int | None, by: str | None) -> Partner:
        text = reason(why, required=True)
        return await self.unit.change(partner_id, expected, lambda partner: partner.archive(text, self.clock(), by))

    async def correct_status(self, partner_id: str, status: Status, why: Any, expected: int | None,
                             by: str | None) -> Partner:
        text = reason(why, required=True)
        return await self.unit.change(partner_id, expected,
                                      lambda partner: partner.correct_status(status, text, self.clock(), by))

    # --- facts that come with time -----------------------------------------------------------

    async def announce_agreements(self) -> int:
        """Announce every agreement that reached 30 days before its end or passed it, once per
        fact (the agreement remembers what was announced; a second look, or two overlapping,
        find nothing left under the partner's lock). Returns how many partners had news."""
        today = self.today()
        due = [partner.id async for partner in self.store.every(Filters()) if partner.agreements_due(today)]
        for partner_id in due:
            try:
                await self.unit.change(partner_id, None,
                                       lambda partner: partner.announce_agreements(today, self.clock()))
            except NotFound:  # gone meanwhile
                continue
        return len(due)

    # --- importing -------------------------------------------------------------------------

    async def import_rows(self, rows: list[Row], source: str, by: str | None,
                          shown_errors: int = SHOWN_ERRORS) -> ImportReport:
        """The events of one import share a batch id (CloudEvents ``batchid``, the file name as
        ``batchlabel``), so notifications sums them up in one message; an import made inside a
        batch already (the demo load, ``X-Sinergi-Batch``) keeps that one."""
        current = batch.get()
        with in_batch(current[0] if current else str(ULID()), (current[1] if current else None) or source):
            return await self._import_rows(rows, source, by, shown_errors)

    async def _import_rows(self, rows: list[Row], source: str, by: str | None,
                           shown_errors: int = SHOWN_ERRORS) -> ImportReport:
        """Upsert each row by (region, name). A bad row is reported and skipped; the others go in.

        A row that would change nothing writes nothing, so importing the same file twice
        leaves every version and the event stream as they were.
        """
        report = ImportReport(shown=shown_errors)
        # Checking the rows is pure Python, a millisecond a row: in a worker thread, so the
        # service answers other requests meanwhile.
        plans = await asyncio.to_thread(self._plan, rows, report)
        holders = await self.store.holders([plan.key for plan in plans])
        current = await self.store.get_many(sorted(set(holders.values())))
        # The import's rows are compared with the region's partners and with each other, in a layer
        # of its own: the store's copy gains only the rows it stores.
        directory = (await self.store.directory()).layer()
        ids = self.ids()
        fresh: list[tuple[_Plan, Partner]] = []
        created: list[str] = []
        try:
            for index, plan in enumerate(plans, start=1):
                if index % ROWS_BETWEEN_TURNS == 0:
                    await asyncio.sleep(0)
                existing = current.get(holders.get(plan.key, ""))
                why = plan.reason or f"imported from {source}, row {plan.row.number}"
                try:
                    if existing is None:
                        partner = self._new(plan, next(ids), why, by)
                        fresh.append((plan, partner))
                        # Imported either way; a possible duplicate is a warning on its row.
                        candidate = Directory.of_partner(partner)
                        found = directory.look(candidate)
                        if found.same or found.similar:
                            report.warn(plan.row, found)
                        directory.add(candidate)
                        if len(fresh) >= BATCH:
                            created += await self._add_batch(fresh, report)
                        continue
                    # Try the row on the copy just read: most rows of a re-import change nothing.
                    _apply(plan, existing, self.clock(), self.today(), why, by)
                    if not existing.events:
                        report.unchanged += 1
                        continue
                    await self.unit.change(existing.id, None,
                                           lambda partner: _apply(plan, partner, self.clock(), self.today(), why, by))
                    report.updated += 1
                except RowRefused as exc:
                    report.fail(plan.row, exc.field, str(exc))
                except Invalid as exc:
                    for error in exc.errors:
                        report.fail(plan.row, error["field"], error["message"])
                except NameTaken as exc:
                    report.fail(plan.row, "name", exc.detail)
                except (Conflict, NotFound) as exc:  # the partner changed or went meanwhile: the whole row
                    report.fail(plan.row, "row", exc.detail)
            created += await self._add_batch(fresh, report)
        finally:
            # Stored batches are announced also when a later row stopped the import (the store
            # away): the relay sweeps only after its own failures (shared/outbox.py).
            self.store.announce(created)
        report.keep_first()
        return report

    async def _add_batch(self, fresh: list[tuple[_Plan, Partner]], report: ImportReport) -> list[str]:
        refused = await self.store.add_many([partner for _, partner in fresh])
        stored = []
        for plan, partner in fresh:
            if partner.id in refused:
                report.fail(plan.row, "name", refused[partner.id].detail)
            else:
                stored.append(partner.id)
        report.created += len(stored)
        fresh.clear()
        return stored

    def _plan(self, rows: list[Row], report: ImportReport) -> list[_Plan]:
        plans: list[_Plan] = []
        first_row: dict[str, int] = {}
        for row in rows:
            errors = list(row.errors)
            values = row.values
            if values.get("region") not in (None, "", self.region):
                errors.append(("region", f"this instance serves region {self.region}, not {values['region']}"))
            fields = _collect(errors, lambda: details(
                {k: v for k, v in values.items() if k in EDITABLE}, self.region, partial=True))
            unresolved: dict[str, Unresolved] = {}
            self.place(fields, unresolved)  # a kecamatan by name, per row; not placed: a row error
            errors += [(name, u.message) for name, u in unresolved.items()]
            signed = _collect(errors, lambda: agreements(values.get("agreements"), self.ids()))
            status = None
            if values.get("status"):
                try:
                    status = Status(values["status"])
                except ValueError:
                    errors.append(("status", f"{values['status']!r} is not one of: {', '.join(Status)}"))
            why = _collect(errors, lambda: reason(values.get("status_reason"), required=False))
            key = fold(fields["name"]) if fields and fields.get("name") else ""
            if not errors and key in first_row:
                errors.append(("name", f"repeats the partner of row {first_row[key]}; one row per partner"))
            if errors:
                for name, message in errors:
                    report.fail(row, name, message)
                continue
            first_row[key] = row.number
            plans.append(_Plan(row, key, fields, signed or [], status, why))
        return plans

    def _new(self, plan: _Plan, partner_id: str, why: str, by: str | None) -> Partner:
        if plan.fields.get("type") is None:
            raise RowRefused("type", "is required to register a new partner")
        now = self.clock()
        partner = Partner.register(id=partner_id, region=self.region, now=now, today=self.today(), by=by,
                                   fields=plan.fields,
                                   agreements=plan.agreements)
        if plan.status is not None:
            partner.move_to(plan.status, why, now, by)
        return partner


def _apply(plan: _Plan, partner: Partner, now: datetime, today: date, why: str, by: str | None) -> None:
    """What one import row asks of an existing partner: edits, new agreements, a status."""
    try:
        partner.revise(plan.fields, now)
    except NotAllowed as exc:
        raise RowRefused("status", exc.detail) from exc
    for index, signed in enumerate(plan.agreements):
        stored = next((a for a in partner.agreements if a.key == signed.key), None)
        if stored is None:
            try:
                partner.sign(signed, now, today)
            except NotAllowed as exc:
                raise RowRefused(f"agreements[{index}].number", exc.detail) from exc
        elif not stored.same_terms(signed):
            raise RowRefused(
                f"agreements[{index}].number",
                f"{signed.doc_type.value.upper()} {signed.number} is already recorded with other terms "
                f"(agreement {stored.id}); a signed agreement is not changed by an import",
            )
    if plan.status is not None:
        try:
            partner.move_to(plan.status, why, now, by)
        except NotAllowed as exc:
            raise RowRefused("status", exc.detail) from exc


def _collect(errors: list[tuple[str, str]], check: Callable[[], Any]) -> Any:
    """``check()``, its field errors added to ``errors`` (one report names every bad field)."""
    try:
        return check()
    except Invalid as exc:
        errors.extend((error["field"], error["message"]) for error in exc.errors)
        return None
