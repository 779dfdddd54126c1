"""HTTP edge of the partner registry (CONTRACT §3): parse, call a use case, answer.

Pydantic checks the shape of a body (types, enumerations, unknown fields); the domain
checks the rest (phones, e-mails, dates, kecamatan codes, limits). Both answer 422 naming
each bad field. Reads need the viewer role, writes the operator role.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.partners import spreadsheet
from services.partners.domain import Partner, Status
from services.partners.domain.parsing import details
from services.partners.handlers import MAYBE_SAME, SHOWN_ERRORS, ImportReport, Registry
from services.partners.store import Filters
from shared.auth import Operator, Viewer
from shared.errors import Invalid
from shared.gazetteer import installed
from shared.idempotency import resource_id
from shared.pagination import Cursor, Limit
from shared.regions import REGION_CODE
from shared.vocabulary import PartnerType, Segment
from shared.vocabulary_in import ChannelKindIn, DocTypeIn, PartnerTypeIn, SegmentIn
from shared.language import Language, say, say_all
from shared.web import Reader, also_check, expected_version, refusals, wired, with_etag

router = APIRouter(tags=["partners"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"




class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(_In):
    name: str
    role: str | None = None
    phone: str | None = Field(None, description="Indonesian number; stored as +62…", examples=["0812-2233-4455"])
    email: str | None = None


class ChannelIn(_In):
    kind: ChannelKindIn
    handle_or_url: str = Field(examples=["@kimcoblong", "https://kimcoblong.id"])
    audience_size: int | None = Field(None, ge=0, description="followers, listeners or members")


class AgreementIn(_In):
    doc_type: DocTypeIn
    number: str = Field(examples=["027/PP.08-NK/3273/2024"])
    title: str | None = None
    valid_from: date
    valid_until: date = Field(description="after valid_from")
    scope: str | None = None


class PartnerIn(_In):
    name: str = Field(examples=["KIM Coblong Berdaya"])
    type: PartnerTypeIn
    region: str | None = Field(None, pattern=REGION_CODE, description="defaults to this instance's region")
    district: str | None = Field(None, description="kecamatan of the region by code (32.73.02) or name (Coblong, "
                                                   "Kec. Coblong); stored as the code")
    village: str | None = Field(None, description="desa/kelurahan by code (32.73.02.1004) or name (Dago, Kel. Dago), "
                                                  "within the kecamatan when one is given; stored as the code")
    categories: list[str] = Field([], examples=[["kepemudaan", "seni"]])
    segments: list[SegmentIn] = []
    contacts: list[ContactIn] = []
    channels: list[ChannelIn] = []
    agreements: list[AgreementIn] = []
    notes: str | None = None


class PartnerPatch(_In):
    """Fields to change; absent ones stay, ``null`` clears an optional one, lists are replaced whole."""

    name: str | None = None
    type: PartnerTypeIn | None = None
    region: str | None = Field(None, pattern=REGION_CODE)
    district: str | None = None
    village: str | None = Field(None, description="by code or name; a name alone is looked up in the partner's "
                                                  "kecamatan")
    categories: list[str] | None = None
    segments: list[SegmentIn] | None = None
    contacts: list[ContactIn] | None = None
    channels: list[ChannelIn] | None = None
    notes: str | None = None


class ReasonIn(_In):
    reason: str = Field(examples=["tidak aktif sejak Agustus; menunggu kepengurusan baru"])


class OptionalReasonIn(_In):
    reason: str | None = None


class CorrectionIn(_In):
    status: Status = Field(description="the status the partner should have had")
    reason: str = Field(examples=["diarsipkan karena salah pilih mitra; mitra masih aktif"])


class ContactOut(BaseModel):
    name: str
    role: str | None
    phone: str | None
    email: str | None


class ChannelOut(BaseModel):
    kind: ChannelKindIn
    handle_or_url: str
    audience_size: int | None


class AgreementOut(BaseModel):
    id: str
    doc_type: DocTypeIn
    number: str
    title: str | None
    valid_from: date
    valid_until: date
    scope: str | None


class StatusChangeOut(BaseModel):
    status: Status
    previous: Status | None
    reason: str | None
    at: datetime
    by: str | None


class PartnerOut(BaseModel):
    id: str
    version: int
    created_at: datetime
    updated_at: datetime
    name: str
    type: PartnerType
    region: str
    district: str | None
    district_name: str | None = Field(None, description="the kecamatan's name in the Kemendagri gazetteer")
    village: str | None = Field(None, description="the desa/kelurahan's Kemendagri code")
    village_name: str | None = Field(None, description="the desa/kelurahan's name in the Kemendagri gazetteer")
    categories: list[str]
    segments: list[Segment]
    contacts: list[ContactOut]
    channels: list[ChannelOut]
    agreements: list[AgreementOut]
    status: Status
    notes: str | None
    status_history: list[StatusChangeOut]


class DuplicateOut(BaseModel):
    id: str
    name: str


class RegisteredOut(PartnerOut):
    possible_duplicates: list[DuplicateOut] | None = Field(
        None, description="partners with a similar name (present only when there are some); the partner "
                          "was registered. A partner that looks the same (phone, e-mail or name) is a 409")


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_cursor: str | None


class RowError(BaseModel):
    row: int = Field(description="the row number in the file (the header row included)")
    field: str = Field(description="the column, as headed in the file")
    message: str


class ImportWarning(BaseModel):
    row: int
    message: str
    possible_duplicates: list[DuplicateOut]


class ImportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    warnings: list[ImportWarning] = Field(
        [], description="rows imported that look like a partner registered already (or another row)")
    errors: list[RowError] = Field(description="the first row errors, by row (at most `max_errors`, 100 unless asked)")
    error_count: int = Field(description="every row error of the file, shown or not")
    ignored_columns: list[str] = Field(description="columns this service does not know; their cells were not read")


RegistryDep = Annotated[Registry, wired("registry_service")]


FiltersDep = Annotated[Filters, Query()]


def out(partner: Partner) -> dict:
    """The partner as the API shows it (CONTRACT §3), read from the aggregate's attributes."""
    shown = PartnerOut.model_validate(partner, from_attributes=True).model_dump(mode="json")
    names = installed(partner.region)
    return {**shown, "district_name": names.name_of(partner.district), "village_name": names.name_of(partner.village)}


def answer(partner: Partner, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return with_etag(out(partner), partner.version, status_code, headers)


async def _register_check(raw: dict[str, Any], request: Request, refused: set[str]) -> dict[str, str]:
    """What registering would refuse of the body besides its shape (one answer names every problem)."""
    return refusals(lambda: details(raw, request.app.state.settings.region))


async def _revise_check(raw: dict[str, Any], request: Request, refused: set[str]) -> dict[str, str]:
    return refusals(lambda: details({k: v for k, v in raw.items() if k != "region"},
                                    request.app.state.settings.region, partial=True))


@router.post("/partners", status_code=201, response_model=RegisteredOut, summary="Register a partner",
             description="A partner whose phone, e-mail or normalised name (case, spacing, punctuation, "
                         "abbreviations such as Diskominfo, Kab., Kec.) is a registered one's is a 409 with "
                         "`possible_duplicates`, unless `confirm=true`.")
@also_check(_register_check)
async def register(
    body: PartnerIn, request: Request, who: Operator, partners: RegistryDep,
    confirm: Annotated[bool, Query(description="register even if it looks like a registered partner")] = False,
) -> JSONResponse:
    partner, similar = await partners.register(resource_id(request), body.model_dump(exclude_unset=True), who.sub,
                                               confirm)
    response = answer(partner, 201, {"Location": f"/partners/{partner.id}"})
    if similar:
        response = with_etag({**out(partner), "possible_duplicates": similar}, partner.version, 201,
                             {"Location": f"/partners/{partner.id}"})
    return response


@router.get("/partners", response_model=PartnerPage, summary="List partners, filtered")
async def list_partners(
    _: Viewer, partners: RegistryDep, where: FiltersDep, limit: Limit = 50, cursor: Cursor = None
) -> JSONResponse:
    found, next_cursor = await partners.find(where, limit, cursor)
    return JSONResponse({"items": [out(p) for p in found], "next_cursor": next_cursor})


@router.get("/partners/export", summary="The registry as a spreadsheet (imports back unchanged)",
            response_class=Response, responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
async def export(
    request: Request,
    _: Viewer,
    partners: RegistryDep,
    where: FiltersDep,
    format: Literal["csv", "xlsx"] = "csv",
    lang: Annotated[Literal["id", "en"], Query(description="language of the column headers")] = "id",
) -> Response:
    found = await partners.every(where)
    region = request.app.state.settings.region
    if format == "xlsx":
        content = await asyncio.to_thread(spreadsheet.to_xlsx, found, lang, region)
        media = XLSX
    else:
        content = await asyncio.to_thread(spreadsheet.to_csv, found, lang)
        media = "text/csv; charset=utf-8"
    filename = f"mitra-{region}-{date.today().isoformat()}.{format}"
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def import_limits(request: Request) -> spreadsheet.Limits:  # async: no thread-pool hop
    """The bounds of one upload (SINERGI_IMPORT_MAX_ROWS, SINERGI_IMPORT_MAX_UNPACKED_MB), read by main.py."""
    return request.app.state.import_limits


@router.post("/partners/import", response_model=ImportOut, summary="Upsert partners from a CSV or XLSX file",
             description="At most SINERGI_IMPORT_MAX_ROWS rows (20,000 unless set) and, for XLSX, "
                         "SINERGI_IMPORT_MAX_UNPACKED_MB unpacked (64): over a bound, 413 naming it. "
                         "`sinergi partners import` sends larger files in chunks.")
async def import_file(
    who: Operator,
    partners: RegistryDep,
    file: Annotated[UploadFile, File(description="CSV or XLSX, one partner per row")],
    limits: Annotated[spreadsheet.Limits, Depends(import_limits)],
    reader: Reader,
    max_errors: Annotated[int, Query(ge=1, le=10_000, description="row errors to answer with, the first by row")]
    = SHOWN_ERRORS,
) -> JSONResponse:
    content = await file.read()
    if not content:
        raise Invalid({"file": "the file is empty"})
    try:
        # In a worker thread: reading 20,000 rows is seconds of Python, and /healthz must not wait.
        sheet = await asyncio.to_thread(spreadsheet.parse, content, limits)
    except spreadsheet.SheetTooLarge:
        raise  # 413, naming the limit
    except spreadsheet.Unreadable as exc:
        raise Invalid({"file": str(exc)}) from exc
    report = await partners.import_rows(sheet.rows, file.filename or "upload", who.sub, max_errors)
    report.ignored_columns = sheet.ignored_columns
    # In a worker thread too: each row error and warning is matched against the catalogue's
    # templates (1-3 ms for a warning naming several partners), and a file of numbered names
    # ("Karang Taruna RW 0001", ...) warns on every row: 3,000 of them held /healthz for 7 s.
    return JSONResponse(await asyncio.to_thread(_import_answer, report, reader))


def _import_answer(report: ImportReport, reader: Language) -> dict[str, Any]:
    """The import's report as JSON, its sentences in the reader's language."""
    answer = ImportOut.model_validate(report, from_attributes=True).model_dump(mode="json")
    answer["errors"], answer["warnings"] = say_all(answer["errors"], reader), _maybe_same(answer["warnings"], reader)
    return answer


_NAMES = "\x00names\x00"


def _maybe_same(warnings: list[dict[str, Any]], reader: Language) -> list[dict[str, Any]]:
    """Every warning is the sentence ``MAYBE_SAME`` with its own names: worded once, not once a row
    (say() on each of 3,000 took 4-8 s of CPU)."""
    sentence = say(MAYBE_SAME.format(names=_NAMES), reader)
    return [{**w, "message": sentence.replace(_NAMES, w["message"].removeprefix(MAYBE_SAME.format(names="")))}
            for w in warnings]


@router.get("/partners/{partner_id}", response_model=PartnerOut, summary="Read a partner")
async def read(partner_id: str, _: Viewer, partners: RegistryDep) -> JSONResponse:
    return answer(await partners.get(partner_id))


@router.patch("/partners/{partner_id}", response_model=PartnerOut,
              summary="Change a partner's details (If-Match honoured)")
@also_check(_revise_check)
async def revise(partner_id: str, body: PartnerPatch, request: Request, _: Operator,
                 partners: RegistryDep) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True)
    return answer(await partners.revise(partner_id, changes, expected_version(request)))


@router.post("/partners/{partner_id}/agreements", status_code=201, response_model=PartnerOut,
             summary="Add an MoU or PKS; answers with the partner")
async def sign(partner_id: str, body: AgreementIn, request: Request, _: Operator,
               partners: RegistryDep) -> JSONResponse:
    agreement_id = resource_id(request)
    partner = await partners.sign(partner_id, agreement_id, body.model_dump(), expected_version(request))
    return answer(partner, 201, {"Location": f"/partners/{partner_id}", "X-Agreement-Id": agreement_id})


@router.post("/partners/{partner_id}/suspend", response_model=PartnerOut, summary="Suspend an active partner")
async def suspend(partner_id: str, body: ReasonIn, request: Request, who: Operator,
                  partners: RegistryDep) -> JSONResponse:
    return answer(await partners.suspend(partner_id, body.reason, expected_version(request), who.sub))


@router.post("/partners/{partner_id}/reactivate", response_model=PartnerOut,
             summary="Reactivate a suspended partner")
async def reactivate(partner_id: str, request: Request, who: Operator, partners: RegistryDep,
                     body: OptionalReasonIn | None = None) -> JSONResponse:
    reason = body.reason if body else None
    return answer(await partners.reactivate(partner_id, reason, expected_version(request), who.sub))


@router.post("/partners/{partner_id}/archive", response_model=PartnerOut,
             summary="Archive a partner for good (no further changes)")
async def archive(partner_id: str, body: ReasonIn, request: Request, who: Operator,
                  partners: RegistryDep) -> JSONResponse:
    return answer(await partners.archive(partner_id, body.reason, expected_version(request), who.sub))


@router.post("/partners/{partner_id}/status/correct", response_model=PartnerOut,
             summary="Correct a mistaken status change (an archive included), with a reason")
async def correct_status(partner_id: str, body: CorrectionIn, request: Request, who: Operator,
                         partners: RegistryDep) -> JSONResponse:
    return answer(await partners.correct_status(partner_id, body.status, body.reason, expected_version(request),
                                                who.sub))
