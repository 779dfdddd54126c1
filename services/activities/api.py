"""HTTP edge of activity tracking (CONTRACT §4)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.activities.replica import PartnerReplica
from shared.auth import Viewer
from shared.problems import NotFound

router = APIRouter()


@router.get("/replica/partners/{partner_id}", tags=["replica"], summary="This service's copy of a partner")
async def known_partner(partner_id: str, request: Request, _: Viewer) -> dict[str, object]:
    replica: PartnerReplica = request.app.state.replica
    partner = await replica.get(partner_id)
    if partner is None:
        raise NotFound(f"partner {partner_id} is not known to the activities service (yet)")
    return {"id": partner.id, "name": partner.name, "status": partner.status, "version": partner.version,
            "segments": partner.segments, "district": partner.district}
