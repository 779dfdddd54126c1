"""What every page shares: the visit (session + user), CSRF, language, rendering.

A session is a random id in an HttpOnly, SameSite=Lax cookie (Secure when the console is served
over https); its document holds the user id, a CSRF token and the chosen language. Every POST
must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``, which htmx
sends); the login form, before any session, uses a double-submitted cookie instead. The user is
read on every request, so a disabled account is refused at once, whatever session it holds.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console import texts
from services.console.accounts import User
from services.console.backend import Calls
from shared.clock import now_ms
from shared.vocabulary import label

SESSION_COOKIE = "sinergi_session"
LOGIN_COOKIE = "sinergi_login"  # the login form's double-submitted CSRF token
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


class LoginNeeded(Exception):
    pass


class NotAllowed(Exception):
    pass


class CsrfRefused(Exception):
    pass


@dataclass
class Visit:
    user: User
    secret: str
    csrf: str
    language: str
    calls: Calls


async def visit(request: Request) -> Visit:
    """The signed-in visit, or :class:`LoginNeeded` (answered by a redirect to the login page)."""
    found = getattr(request.state, "visit", None)
    if found is not None:
        return found
    state = request.app.state
    secret = request.cookies.get(SESSION_COOKIE, "")
    session = await state.sessions.find(secret) if secret else None
    if session is None or session["expires_at"] < now_ms():
        raise LoginNeeded
    user = await state.accounts.users.get(session["user_id"])
    if user is None or not user.active:
        await state.sessions.close(secret)
        raise LoginNeeded
    language = _language(request, session.get("language"))
    found = Visit(user, secret, session["csrf"], language, state.services.as_user(user, language))
    request.state.visit = found
    return found


async def admin(request: Request) -> Visit:
    found = await visit(request)
    if not found.user.is_admin:
        raise NotAllowed
    return found


def _language(request: Request, stored: str | None) -> str:
    asked = request.query_params.get("lang")
    return asked if asked in texts.LANGUAGES else stored if stored in texts.LANGUAGES else "id"


async def csrf_checked(request: Request) -> None:
    """Router dependency: a POST without the session's CSRF token is refused (403)."""
    if request.method != "POST":
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else ""
    if request.url.path in ("/masuk", "/undangan"):
        expected = request.cookies.get(LOGIN_COOKIE, "")
    else:
        try:
            expected = (await visit(request)).csrf
        except LoginNeeded:
            raise CsrfRefused from None
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused


def new_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", path="/",
                        secure=request.app.state.console_settings.secure_cookies)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    v: Visit | None = getattr(request.state, "visit", None)
    language = v.language if v else _language(request, request.cookies.get("sinergi_lang"))
    settings = request.app.state.settings
    zone = settings.zone

    def t(key: str) -> str:
        return texts.say(key, language)

    def when(value: Any, with_time: bool = True) -> str:
        moment = _instant(value)
        if moment is None:
            return ""
        local = moment.astimezone(zone)
        return local.strftime("%d-%m-%Y %H:%M" if with_time else "%d-%m-%Y")

    def words(value: Any, kind: str) -> str:
        if isinstance(value, list):
            return ", ".join(label(v, kind, language) for v in value)
        return label(value, kind, language)

    context.update(request=request, visit=v, t=t, lang=language, when=when, words=words,
                   message=lambda m: texts.message(m, language), region=settings.region,
                   region_name=settings.region_name, zone=settings.timezone, path=request.url.path)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def back_to_login(request: Request) -> Response:
    target = "/masuk?next=" + quote(request.url.path)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_int(form: Any, name: str) -> int | str | None:
    """A number field as an int; what is not a number goes on as it was typed, so the service names it."""
    value = form_text(form, name)
    if value == "":
        return None
    return int(value) if value.lstrip("-").isdigit() else value
