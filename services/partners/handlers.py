"""Use cases of the partner registry: load, call the domain, save."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.partners.domain import Partner, PartnerError, PartnerType
from services.partners.store import DuplicateName, PartnerStore
from shared.problems import Conflict, InvalidField, NotFound


@dataclass
class Registry:
    store: PartnerStore
    region: str

    async def register(self, partner_id: str, name: str, type: PartnerType, region: str, **details: Any) -> Partner:
        if region != self.region:
            raise InvalidField({"region": f"this instance serves region {self.region}, not {region}"})
        existing = await self.store.get(partner_id)
        if existing is not None:  # a retried request that already created it
            return existing
        try:
            partner = Partner.register(
                id=partner_id, name=name, type=type, region=region, now=datetime.now(UTC), **details
            )
        except PartnerError as exc:
            raise InvalidField({"name": str(exc)}) from exc
        try:
            await self.store.add(partner)
        except DuplicateName as exc:
            raise Conflict(
                f"a partner named {partner.name!r} is already registered in region {region}",
                existing_id=exc.existing_id,
            ) from exc
        return partner

    async def get(self, partner_id: str) -> Partner:
        partner = await self.store.get(partner_id)
        if partner is None:
            raise NotFound(f"no partner with id {partner_id}")
        return partner
