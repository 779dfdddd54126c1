"""Use cases of the partner registry: load, call the domain, save.

Every change to an existing partner goes through :meth:`Registry._change`: under the
partner's lock, load it, check ``If-Match``, let the domain change it, and save it only if
it is still at the version read. A stale save is a 412 when the client named a version and
is otherwise retried on a fresh copy. A change that changes nothing writes nothing: no new
version, no event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ulid import ULID

from services.partners import domain
from services.partners.domain import EDITABLE, Invalid, NotAllowed, Partner, Status, fold
from services.partners.spreadsheet import Row
from services.partners.store import AlreadyStored, DuplicateName, Filters, Loaded
from shared.outbox import StaleVersion
from shared.problems import Conflict, InvalidField, NotFound, PreconditionFailed

RETRIES = 5
# New partners of an import are stored this many at a time.
BATCH = 250


class Partners(Protocol):
    """What the use cases need from a repository (the MongoDB store, or a test's fake)."""

    def lock(self, partner_id: str) -> Any: ...
    async def get(self, partner_id: str) -> Partner | None: ...
    async def load(self, partner_id: str) -> Loaded | None: ...
    async def holders(self, keys: list[str]) -> dict[str, str]: ...
    async def get_many(self, partner_ids: list[str]) -> dict[str, Partner]: ...
    async def add(self, partner: Partner) -> None: ...
    async def add_many(self, partners: list[Partner]) -> dict[str, DuplicateName]: ...
    def announce(self, partner_ids: list[str]) -> None: ...
    async def save(self, loaded: Loaded) -> None: ...
    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]: ...
    def every(self, filters: Filters) -> AsyncIterator[Partner]: ...


def now_ms() -> datetime:
    """Now, to the millisecond: what the store keeps, so a reply and a later read agree."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_ids() -> Iterator[str]:
    """ULIDs in strictly increasing order, even within one millisecond: partners an import
    creates keep the order of the file's rows (lists are in id order)."""
    last = 0
    while True:
        last = max(int(ULID()), last + 1)
        yield str(ULID.from_int(last))


def invalid(exc: Invalid) -> InvalidField:
    return InvalidField([{"field": f, "message": m} for f, m in exc.errors])


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def fail(self, row: Row, name: str, message: str) -> None:
        self.errors.append({"row": row.number, "field": row.label(name), "message": message})


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
    agreements: list[domain.Agreement]
    status: Status | None
    reason: str | None


@dataclass
class Registry:
    store: Partners
    region: str
    clock: Callable[[], datetime] = now_ms
    ids: Callable[[], Iterator[str]] = new_ids

    # --- reading ---------------------------------------------------------------------------

    async def get(self, partner_id: str) -> Partner:
        partner = await self.store.get(partner_id)
        if partner is None:
            raise NotFound(f"no partner with id {partner_id} in region {self.region}")
        return partner

    async def find(self, filters: Filters, limit: int, cursor: str | None) -> tuple[list[Partner], str | None]:
        return await self.store.find(filters, limit, cursor)

    async def every(self, filters: Filters) -> list[Partner]:
        return [partner async for partner in self.store.every(filters)]

    # --- registering -----------------------------------------------------------------------

    async def register(self, partner_id: str, raw: dict[str, Any], by: str | None) -> Partner:
        region = raw.get("region") or self.region
        if region != self.region:
            raise InvalidField({"region": f"this instance serves region {self.region}, not {region}"})
        errors: list[tuple[str, str]] = []
        fields = _collect(errors, lambda: domain.details(raw, self.region))
        signed = _collect(errors, lambda: domain.agreements(raw.get("agreements"), self.ids()))
        if errors:
            raise invalid(Invalid(errors))
        partner = Partner.register(id=partner_id, region=self.region, now=self.clock(), by=by, fields=fields,
                                   agreements=signed)
        try:
            await self.store.add(partner)
        except DuplicateName as exc:
            raise _taken(partner, exc) from exc
        except AlreadyStored:  # a retried request that created it before it could answer
            return await self.get(partner_id)
        return partner

    # --- changing --------------------------------------------------------------------------

    async def revise(self, partner_id: str, raw: dict[str, Any], expected: int | None) -> Partner:
        if "region" in raw and raw["region"] != self.region:
            raise InvalidField({"region": "a partner stays in its region; register it in the other region instead"})
        changes = _checked(lambda: domain.details({k: v for k, v in raw.items() if k != "region"}, self.region,
                                                  partial=True))
        return await self._change(partner_id, expected, lambda partner, now: partner.revise(changes, now))

    async def sign(self, partner_id: str, agreement_id: str, raw: dict[str, Any], expected: int | None) -> Partner:
        agreement = _checked(lambda: domain.agreement(raw, agreement_id))
        return await self._change(partner_id, expected, lambda partner, now: partner.sign(agreement, now))

    async def suspend(self, partner_id: str, reason: Any, expected: int | None, by: str | None) -> Partner:
        text = _checked(lambda: domain.reason(reason, required=True))
        return await self._change(partner_id, expected, lambda partner, now: partner.suspend(text, now, by))

    async def reactivate(self, partner_id: str, reason: Any, expected: int | None, by: str | None) -> Partner:
        text = _checked(lambda: domain.reason(reason, required=False))
        return await self._change(partner_id, expected, lambda partner, now: partner.reactivate(text, now, by))

    async def archive(self, partner_id: str, reason: Any, expected: int | None, by: str | None) -> Partner:
        text = _checked(lambda: domain.reason(reason, required=True))
        return await self._change(partner_id, expected, lambda partner, now: partner.archive(text, now, by))

    async def _change(
        self, partner_id: str, expected: int | None, action: Callable[[Partner, datetime], object]
    ) -> Partner:
        async with self.store.lock(partner_id):
            for _ in range(RETRIES):
                loaded = await self.store.load(partner_id)
                if loaded is None:
                    raise NotFound(f"no partner with id {partner_id} in region {self.region}")
                if expected is not None and loaded.version != expected:
                    raise _stale(partner_id, expected, loaded.version)
                try:
                    action(loaded.partner, self.clock())
                except Invalid as exc:
                    raise invalid(exc) from exc
                except domain.DuplicateAgreement as exc:
                    raise Conflict(str(exc), existing_id=exc.existing_id) from exc
                except NotAllowed as exc:
                    raise Conflict(str(exc), current_status=loaded.partner.status.value) from exc
                if not loaded.partner.events:
                    return loaded.partner
                try:
                    await self.store.save(loaded)
                except StaleVersion:
                    # Another process wrote first. With If-Match the client decides; else try again.
                    if expected is not None:
                        current = await self.store.get(partner_id)
                        raise _stale(partner_id, expected, current.version if current else expected + 1) from None
                    continue
                except DuplicateName as exc:
                    raise _taken(loaded.partner, exc) from exc
                return loaded.partner
        raise Conflict(f"partner {partner_id} kept changing while this change was applied; send it again")

    # --- importing -------------------------------------------------------------------------

    async def import_rows(self, rows: list[Row], source: str, by: str | None) -> ImportReport:
        """Upsert each row by (region, name). A bad row is reported and skipped; the others go in.

        A row that would change nothing writes nothing, so importing the same file twice
        leaves every version and the event stream as they were.
        """
        report = ImportReport()
        plans = self._plan(rows, report)
        holders = await self.store.holders([plan.key for plan in plans])
        current = await self.store.get_many(sorted(set(holders.values())))
        ids = self.ids()
        fresh: list[tuple[_Plan, Partner]] = []
        created: list[str] = []
        for plan in plans:
            existing = current.get(holders.get(plan.key, ""))
            reason = plan.reason or f"imported from {source}, row {plan.row.number}"
            try:
                if existing is None:
                    fresh.append((plan, self._new(plan, next(ids), reason, by)))
                    if len(fresh) >= BATCH:
                        created += await self._add_batch(fresh, report)
                    continue
                # Try the row on the copy just read: most rows of a re-import change nothing.
                _apply(plan, existing, self.clock(), reason, by)
                if not existing.events:
                    report.unchanged += 1
                    continue
                await self._change(existing.id, None, lambda partner, now: _apply(plan, partner, now, reason, by))
                report.updated += 1
            except RowRefused as exc:
                report.fail(plan.row, exc.field, str(exc))
            except (Conflict, NotFound) as exc:
                report.fail(plan.row, "name", exc.detail)
            except InvalidField as exc:
                for error in exc.errors or []:
                    report.fail(plan.row, error["field"], error["message"])
        created += await self._add_batch(fresh, report)
        self.store.announce(created)
        report.errors.sort(key=lambda error: error["row"])
        return report

    async def _add_batch(self, fresh: list[tuple[_Plan, Partner]], report: ImportReport) -> list[str]:
        refused = await self.store.add_many([partner for _, partner in fresh])
        stored = []
        for plan, partner in fresh:
            if partner.id in refused:
                report.fail(plan.row, "name", _taken(partner, refused[partner.id]).detail)
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
            fields = _collect(errors, lambda: domain.details(
                {k: v for k, v in values.items() if k in EDITABLE}, self.region, partial=True))
            signed = _collect(errors, lambda: domain.agreements(values.get("agreements"), self.ids()))
            status = None
            if values.get("status"):
                try:
                    status = Status(values["status"])
                except ValueError:
                    errors.append(("status", f"{values['status']!r} is not one of: {', '.join(Status)}"))
            reason = _collect(errors, lambda: domain.reason(values.get("status_reason"), required=False))
            key = fold(fields["name"]) if fields and fields.get("name") else ""
            if not errors and key in first_row:
                errors.append(("name", f"repeats the partner of row {first_row[key]}; one row per partner"))
            if errors:
                for name, message in errors:
                    report.fail(row, name, message)
                continue
            first_row[key] = row.number
            plans.append(_Plan(row, key, fields, signed or [], status, reason))
        return plans

    def _new(self, plan: _Plan, partner_id: str, reason: str, by: str | None) -> Partner:
        if plan.fields.get("type") is None:
            raise RowRefused("type", "is required to register a new partner")
        now = self.clock()
        partner = Partner.register(id=partner_id, region=self.region, now=now, by=by, fields=plan.fields,
                                   agreements=plan.agreements)
        if plan.status is not None:
            partner.move_to(plan.status, reason, now, by)
        return partner


def _apply(plan: _Plan, partner: Partner, now: datetime, reason: str, by: str | None) -> None:
    """What one import row asks of an existing partner: edits, new agreements, a status."""
    try:
        partner.revise(plan.fields, now)
    except NotAllowed as exc:
        raise RowRefused("status", str(exc)) from exc
    for index, agreement in enumerate(plan.agreements):
        stored = next((a for a in partner.agreements if a.key == agreement.key), None)
        if stored is None:
            try:
                partner.sign(agreement, now)
            except NotAllowed as exc:
                raise RowRefused(f"agreements[{index}].number", str(exc)) from exc
        elif not stored.same_terms(agreement):
            raise RowRefused(
                f"agreements[{index}].number",
                f"{agreement.doc_type.value.upper()} {agreement.number} is already recorded with other terms "
                f"(agreement {stored.id}); a signed agreement is not changed by an import",
            )
    if plan.status is not None:
        try:
            partner.move_to(plan.status, reason, now, by)
        except NotAllowed as exc:
            raise RowRefused("status", str(exc)) from exc


def _collect(errors: list[tuple[str, str]], check: Callable[[], Any]) -> Any:
    try:
        return check()
    except Invalid as exc:
        errors.extend(exc.errors)
        return None


def _checked(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except Invalid as exc:
        raise invalid(exc) from exc


def _taken(partner: Partner, exc: DuplicateName) -> Conflict:
    return Conflict(f"a partner named {partner.name!r} is already registered in region {partner.region} "
                    f"(partner {exc.existing_id})", existing_id=exc.existing_id)


def _stale(partner_id: str, expected: int, current: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"partner {partner_id} is at version {current}, not {expected}: someone changed it since you read it. "
        "Read it again and reapply your change; nothing was changed",
        current_version=current,
    )
