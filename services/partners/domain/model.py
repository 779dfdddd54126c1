"""The ``Partner`` aggregate: the registry's rules and the events it records, free of I/O.

Its methods take values already checked (:mod:`.parsing`), check a rule, change state, bump
the version and record a past-tense event carrying the state after the change; the store
turns recorded events into outbox entries in the same write. A refusal is one of
:mod:`shared.errors`' types with the facts a client can act on (``current_status``,
``existing_id``), so the use cases pass it on untranslated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn

from shared.errors import Conflict, Invalid
from shared.vocabulary import ChannelKind, DocType, PartnerType, Segment


class Status(StrEnum):
    active = "active"
    suspended = "suspended"
    archived = "archived"


MAX_AGREEMENTS = 200
# An agreement is announced as expiring this long before its last valid day (issue 12, point 8).
EXPIRY_NOTICE = timedelta(days=30)

# What an operator edits; the rest (region, status, agreements) changes through its own door.
EDITABLE = ("name", "type", "district", "village", "categories", "segments", "contacts", "channels", "notes")


def fold(text: str) -> str:
    """Text compared ignoring case and spacing: ``KIM  coblong`` = ``Kim Coblong``."""
    return " ".join(text.casefold().split())


# --- refusals ------------------------------------------------------------------------------


def _refuse_misplaced(district: str | None, village: str | None) -> None:
    """A desa/kelurahan lies in the partner's kecamatan (codes: ``32.73.02.1004`` in ``32.73.02``)."""
    if district and village and not village.startswith(district + "."):
        raise Invalid({"village": f"{village} is not in kecamatan {district}"})


class NotAllowed(Conflict):
    """A change the partner's current state refuses; ``current_status`` says what it is."""


class DuplicateAgreement(NotAllowed):
    """The partner has this document (type and number) already; ``existing_id`` names it."""

    def __init__(self, detail: str, existing_id: str) -> None:
        super().__init__(detail, existing_id=existing_id)
        self.existing_id = existing_id


class NameTaken(Conflict):
    """Names are unique per region (ignoring case and spacing); ``existing_id`` holds this one."""

    def __init__(self, name: str, region: str, existing_id: str) -> None:
        super().__init__(f"a partner named {name!r} is already registered in region {region} "
                         f"(partner {existing_id})", existing_id=existing_id)
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
    # Facts already announced, so each is announced once: data, not a guess from the clock.
    expiring_announced: bool = False
    lapsed_announced: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """An agreement is one document: its type and number (case and spaces aside)."""
        return self.doc_type.value, " ".join(self.number.casefold().split())

    def same_terms(self, other: Agreement) -> bool:
        return self._terms() == other._terms()

    def _terms(self) -> tuple[Any, ...]:
        return self.doc_type, self.number, self.valid_from, self.valid_until, self.title, self.scope

    def lapsed_on(self, today: date) -> bool:
        """``valid_until`` is the last valid day: the agreement has lapsed the day after."""
        return today > self.valid_until

    def expiring_on(self, today: date) -> bool:
        return today >= self.valid_until - EXPIRY_NOTICE

    def due(self, today: date) -> bool:
        """Has a fact about this agreement to announce on ``today``."""
        if self.lapsed_on(today):
            return not self.lapsed_announced
        return self.expiring_on(today) and not self.expiring_announced


@dataclass(frozen=True)
class StatusChange:
    """One entry of a partner's status history."""

    status: Status
    previous: Status | None
    reason: str | None
    at: datetime
    by: str | None


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
    # The partner right before the change: what each changed field was (audit, subscribers).
    before: Partner | None = None


@dataclass(frozen=True)
class StatusChanged(PartnerEvent):
    reason: str | None = None


class PartnerSuspended(StatusChanged):
    pass


class PartnerReactivated(StatusChanged):
    pass


class PartnerArchived(StatusChanged):
    pass


class PartnerStatusCorrected(StatusChanged):
    """A mistaken status change set right (any status to any other), with the reason why."""


@dataclass(frozen=True)
class AgreementSigned(PartnerEvent):
    agreement: Agreement | None = None


class AgreementExpiring(AgreementSigned):
    """An agreement's last valid day is :data:`EXPIRY_NOTICE` away or nearer."""


class AgreementLapsed(AgreementSigned):
    """An agreement's last valid day has passed."""


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
    village: str | None = None  # the desa/kelurahan's Kemendagri code (32.73.02.1004), within the district
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
        today: date | None = None,
    ) -> Partner:
        """A new, active partner from checked ``fields`` (see :func:`.parsing.details`); ``today`` is the
        office's date (an agreement's dates are), UTC's when not given."""
        _refuse_misplaced(fields.get("district"), fields.get("village"))
        partner = cls(id=id, region=region, created_at=now, updated_at=now, **fields)
        partner.agreements = list(agreements)
        partner.status_history = [StatusChange(Status.active, None, "registered", now, by)]
        partner.events.append(PartnerRegistered(partner._copy()))
        # An agreement recorded already lapsed (or near its end) is announced in the same write.
        partner.announce_agreements(today or now.date(), now)
        return partner

    @property
    def name_key(self) -> str:
        """Names are unique per region ignoring case and spacing."""
        return fold(self.name)

    def revise(self, changes: Mapping[str, Any], now: datetime) -> list[str]:
        """Apply checked edits (see :func:`.parsing.details`); returns the fields that really changed."""
        self._refuse_when_archived("changed")
        changed = [key for key in EDITABLE if key in changes and changes[key] != getattr(self, key)]
        if not changed:
            return []
        if {"district", "village"} & set(changed):
            _refuse_misplaced(changes.get("district", self.district), changes.get("village", self.village))
        before = self._copy()
        for key in changed:
            setattr(self, key, changes[key])
        self._record(now, PartnerUpdated, changed_fields=tuple(changed), before=before)
        return changed

    def sign(self, agreement: Agreement, now: datetime, today: date | None = None) -> None:
        self._refuse_when_archived("given an agreement")
        for existing in self.agreements:
            if existing.key == agreement.key:
                raise DuplicateAgreement(
                    f"partner {self.id} already has {agreement.doc_type.value.upper()} {agreement.number} "
                    f"(agreement {existing.id})", existing.id)
        if len(self.agreements) >= MAX_AGREEMENTS:
            self._refuse(f"partner {self.id} already has {MAX_AGREEMENTS} agreements")
        self.agreements = [*self.agreements, agreement]
        self._record(now, AgreementSigned, agreement=agreement)
        self.announce_agreements(today or now.date(), now)

    def announce_agreements(self, today: date, now: datetime) -> None:
        """Record each agreement's fact due on ``today`` that was not announced yet: lapsed
        (its last valid day passed) or else expiring (that day is 30 days away or nearer).
        An agreement that lapsed before it was announced as expiring is only announced lapsed.
        An archived partner's agreements are no longer followed."""
        if self.status is Status.archived:
            return
        for index, agreement in enumerate(self.agreements):
            if not agreement.due(today):
                continue
            if agreement.lapsed_on(today):
                marked = dataclasses.replace(agreement, expiring_announced=True, lapsed_announced=True)
                event: type[PartnerEvent] = AgreementLapsed
            else:
                marked = dataclasses.replace(agreement, expiring_announced=True)
                event = AgreementExpiring
            self.agreements = [*self.agreements[:index], marked, *self.agreements[index + 1:]]
            self._record(now, event, agreement=marked)

    def agreements_due(self, today: date) -> bool:
        return self.status is not Status.archived and any(a.due(today) for a in self.agreements)

    def suspend(self, reason: str, now: datetime, by: str | None) -> None:
        if self.status is not Status.active:
            self._refuse(f"partner {self.id} is '{self.status}'; only an active partner can be suspended")
        self._change_status(Status.suspended, reason, now, by, PartnerSuspended)

    def reactivate(self, reason: str | None, now: datetime, by: str | None) -> None:
        if self.status is not Status.suspended:
            self._refuse(f"partner {self.id} is '{self.status}'; only a suspended partner can be reactivated")
        self._change_status(Status.active, reason, now, by, PartnerReactivated)

    def archive(self, reason: str, now: datetime, by: str | None) -> None:
        self._refuse_when_archived("archived again")
        self._change_status(Status.archived, reason, now, by, PartnerArchived)

    def correct_status(self, status: Status, reason: str, now: datetime, by: str | None) -> None:
        """Set right a mistaken status change (an archive included): any status to another one,
        always with a reason, kept in the history like every change."""
        if status is self.status:
            self._refuse(f"partner {self.id} is '{self.status}' already; there is nothing to correct")
        self._change_status(status, reason, now, by, PartnerStatusCorrected)

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
            self._refuse(f"partner {self.id} is 'archived'; it cannot be {what}")

    def _refuse(self, detail: str) -> NoReturn:
        raise NotAllowed(detail, current_status=self.status.value)

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
