"""The page a partner's contact opens from an invitation to answer it: Bahasa Indonesia, made for a
phone, no account and no token (the link's signature is the authority, ``invitations.py``).

``GET /invitations/{link}`` shows the activity and the form; ``POST`` the same address records the
answer and says thank you. Plain HTML with a few lines of inline CSS: it must load on a cheap phone
over a weak connection, so no script and nothing fetched from elsewhere.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.notifications.invitations import ANSWERS, Answers, Invitation, LinkRefused, Signer, answer_of
from services.notifications.readmodels import Activity
from services.notifications.store import Snapshots
from services.notifications.texts import Texts
from shared.errors import Conflict, Invalid
from shared.web import wired

router = APIRouter(tags=["invitations"])

SignerDep = Annotated[Signer, wired("invitation_links")]
AnswersDep = Annotated[Answers, wired("invitation_answers")]
ActivitiesDep = Annotated[Snapshots[Activity], wired("activity_models")]
TextsDep = Annotated[Texts, wired("texts")]
FORM_LIMIT = 8 << 10

# The page's own texts: every reason invitations.py refuses with, as the contact reads it. The page
# is in Bahasa Indonesia only (partners' contacts always get Indonesian), so these are not in the
# catalogue of shared/bahasa.toml, which words the services' English refusals.
SAID = {
    # links (LinkRefused)
    "expired": "Undangan ini sudah tidak dapat dijawab karena kegiatannya sudah dimulai.",
    "forged": "Tautan ini tidak sah atau sudah diubah.",
    "incomplete": "Tautan ini tidak lengkap; bukalah dari pesan undangan.",
    "unreadable": "Tautan ini tidak dapat dibaca; bukalah dari pesan undangan.",
    # the form (Invalid, by field)
    "no_answer": "pilih hadir, tidak hadir, atau diwakilkan",
    "no_representative": "tulis nama yang mewakili",
    # the answer (Conflict)
    "activity_cancelled": "Kegiatan ini sudah dibatalkan.",
    "activity_held": "Kegiatan ini sudah berlangsung.",
    "answered_meanwhile": "Jawaban untuk undangan ini sedang dicatat dari tempat lain; cobalah sekali lagi.",
}


def worded(reason: str) -> str:
    """A refusal's reason as the page says it (a reason it does not know: that the answer was not taken)."""
    return SAID.get(reason, "Jawaban tidak dapat dicatat; cobalah sekali lagi.")

STYLE = ("body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem;color:#1a1a1a;"
         "line-height:1.45}h1{font-size:1.25rem;margin:.2rem 0 .8rem}p{margin:.4rem 0}"
         "fieldset{border:0;padding:0;margin:1rem 0}label{display:block;padding:.55rem 0;font-size:1.05rem}"
         "input[type=text]{width:100%;box-sizing:border-box;font-size:1rem;padding:.55rem;border:1px solid #888;"
         "border-radius:.3rem}button{font-size:1.05rem;padding:.7rem 1.2rem;border:0;border-radius:.3rem;"
         "background:#8b0000;color:#fff;width:100%;margin-top:1rem}.err{color:#a00000;font-weight:600}"
         ".muted{color:#555;font-size:.9rem}")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="id"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f'<body><main><h1>{escape(title)}</h1>{body}</main></body></html>')
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})


def _refused(exc: LinkRefused) -> HTMLResponse:
    return _page("Tautan tidak berlaku",
                 f"<p>{escape(worded(exc.detail))}</p><p class=muted>Hubungi KPU bila ada pertanyaan.</p>", status=403)


def _about(activity: Activity | None, texts: Texts) -> str:
    if activity is None:
        return ""
    env = texts._environments["id"]  # the texts' own date formats, in the region's zone
    when = ""
    if activity.starts_at:
        when = (f"{env.filters['long_date'](activity.starts_at)} pukul {env.filters['clock'](activity.starts_at)} "
                f"{env.globals['zone']}")
    where = activity.location.venue if activity.location and activity.location.venue else ""
    lines = [f"<p><strong>{escape(activity.title)}</strong></p>"]
    if when:
        lines.append(f"<p>{escape(when)}</p>")
    if where:
        lines.append(f"<p>{escape(where)}</p>")
    return "".join(lines)


def _form(invitation: Invitation, activity: Activity | None, texts: Texts, current: dict[str, Any] | None,
          values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> str:
    values = values or {}
    chosen = values.get("answer") or (current or {}).get("answer") or ""
    name = values.get("name") or (current or {}).get("name") or invitation.name
    note = values.get("note") or (current or {}).get("note") or ""
    error = "".join(f'<p class=err role=alert>{escape(m)}</p>' for m in (errors or {}).values())
    options = "".join(
        f'<label><input type=radio name=answer value="{key}"{" checked" if key == chosen else ""} required> '
        f"{escape(text)}</label>" for key, text in ANSWERS.items())
    already = (f"<p class=muted>Jawaban Anda sebelumnya: {escape(ANSWERS[current['answer']])} "
               f"({escape(current['name'])}). Anda dapat mengubahnya.</p>") if current else ""
    return (f"<p>Yth. {escape(invitation.name)},</p>{_about(activity, texts)}{already}{error}"
            f'<form method=post><fieldset><legend>Konfirmasi kehadiran</legend>{options}</fieldset>'
            f'<label for=name>Nama yang hadir (isi nama wakil bila diwakilkan)</label>'
            f'<input type=text id=name name=name maxlength=200 value="{escape(name)}">'
            f'<label for=note>Catatan (tidak wajib)</label>'
            f'<input type=text id=note name=note maxlength=500 value="{escape(note)}">'
            f"<button type=submit>Kirim jawaban</button></form>")


@router.get("/invitations/{link}", response_class=HTMLResponse, summary="The answer page of an invitation (no token: "
            "the link's signature is the authority)")
async def answer_page(link: str, signer: SignerDep, answers: AnswersDep, activities: ActivitiesDep,
                      texts: TextsDep) -> HTMLResponse:
    from shared.clock import now_ms

    try:
        invitation = signer.read(link, now_ms())
    except LinkRefused as exc:
        return _refused(exc)
    activity = await activities.get(invitation.activity_id)
    if activity is not None and activity.status == "cancelled":
        return _page("Kegiatan dibatalkan", f"{_about(activity, texts)}<p>Kegiatan ini dibatalkan.</p>")
    return _page("Undangan kegiatan KPU", _form(invitation, activity, texts, await answers.get(invitation)))


@router.post("/invitations/{link}", response_class=HTMLResponse, summary="Answer an invitation (a form from its page)")
async def answer(link: str, request: Request, signer: SignerDep, answers: AnswersDep, activities: ActivitiesDep,
                 texts: TextsDep) -> HTMLResponse:
    from shared.clock import now_ms

    try:
        invitation = signer.read(link, now_ms())
    except LinkRefused as exc:
        return _refused(exc)
    raw = (await request.body())[:FORM_LIMIT].decode("utf-8", errors="replace")
    values = {k: v[0] for k, v in parse_qs(raw).items() if v}
    activity = await activities.get(invitation.activity_id)
    try:
        choice, name, note = answer_of(values, invitation)
        await answers.answer(invitation, activity, choice, name, note)
    except Invalid as exc:
        errors = {e["field"]: worded(e["message"]) for e in exc.errors}
        return _page("Undangan kegiatan KPU", _form(invitation, activity, texts, await answers.get(invitation),
                                                     values, errors), status=422)
    except Conflict as exc:
        return _page("Jawaban tidak dapat dicatat", f"{_about(activity, texts)}<p>{escape(worded(exc.detail))}</p>",
                     status=409)
    said = {"hadir": f"{name} akan hadir", "tidak_hadir": "Anda tidak dapat hadir",
            "diwakilkan": f"Anda diwakili oleh {name}"}[choice]
    return _page("Terima kasih", f"{_about(activity, texts)}<p>Jawaban Anda tercatat: {escape(said)}.</p>"
                                 f"<p class=muted>Anda dapat mengubahnya dengan membuka tautan ini lagi.</p>")
