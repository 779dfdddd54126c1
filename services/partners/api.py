"""HTTP edge of the partner registry (CONTRACT §3): parse, call a use case, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.partners.domain import PartnerType
from services.partners.handlers import Registry
from services.partners.store import snapshot
from shared.auth import Operator, Viewer
from shared.idempotency import resource_id
from shared.regions import REGION_CODE
from shared.web import with_etag

router = APIRouter(tags=["partners"])


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: PartnerType
    region: str = Field(pattern=REGION_CODE)
    district: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)


class PartnerOut(BaseModel):
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    name: str
    type: PartnerType
    region: str
    district: str | None
    status: str
    notes: str | None


def registry(request: Request) -> Registry:
    return request.app.state.registry_service


RegistryDep = Annotated[Registry, Depends(registry)]


@router.post("/partners", status_code=201, response_model=PartnerOut, summary="Register a partner")
async def register(body: PartnerIn, request: Request, _: Operator, partners: RegistryDep) -> JSONResponse:
    partner = await partners.register(resource_id(request), **body.model_dump())
    out = PartnerOut.model_validate(snapshot(partner)).model_dump(mode="json")
    return with_etag(out, partner.version, 201, {"Location": f"/partners/{partner.id}"})


@router.get("/partners/{partner_id}", response_model=PartnerOut, summary="Read a partner")
async def read(partner_id: str, _: Viewer, partners: RegistryDep) -> JSONResponse:
    partner = await partners.get(partner_id)
    return with_etag(PartnerOut.model_validate(snapshot(partner)).model_dump(mode="json"), partner.version)
