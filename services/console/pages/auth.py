"""Signing in and out, the language switch, and accepting an invitation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.account_input import AccountRefused
from services.console.accounts import InvitationUnusable
from services.console.handlers import LoginRefused, TooManyAttempts
from services.console.texts import LANGUAGES
from services.console.web import (LOGIN_COOKIE, SESSION_COOKIE, Visit, csrf_checked, form_text, new_token, render,
                                  set_cookie, visit)
from shared.clock import now_ms

router = APIRouter(dependencies=[Depends(csrf_checked)])


def _login_page(request: Request, status_code: int = 200, **context: object) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or new_token()
    response = render(request, "login.html", status_code, login_csrf=token, **context)
    set_cookie(response, request, LOGIN_COOKIE, token, 3600)
    return response


def _safe_next(value: str) -> str:
    # Only a path of this console: never another site (an open redirect).
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


@router.get("/masuk")
async def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
    return _login_page(request, next=_safe_next(next))


@router.post("/masuk")
async def login(request: Request) -> Response:
    form = await request.form()
    email, password, target = form_text(form, "email"), str(form.get("password") or ""), form_text(form, "next")
    address = request.client.host if request.client else "unknown"
    state = request.app.state
    try:
        user = await state.accounts.sign_in(email, password, address)
    except TooManyAttempts:
        return _login_page(request, 429, error="too_many", email=email, next=_safe_next(target))
    except LoginRefused:
        return _login_page(request, 401, error="login_failed", email=email, next=_safe_next(target))
    secret, settings = new_token(), state.console_settings
    now = now_ms()
    language = request.cookies.get("sinergi_lang", "id")
    await state.sessions.open(secret, user.id, new_token(), language if language in LANGUAGES else "id", now,
                              now + timedelta(hours=settings.session_hours))
    response = RedirectResponse(_safe_next(target), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, secret, int(settings.session_hours * 3600))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/keluar")
async def logout(request: Request, v: Annotated[Visit, Depends(visit)]) -> Response:
    await request.app.state.sessions.close(v.secret)
    response = RedirectResponse("/masuk", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/keluar-semua")
async def logout_everywhere(request: Request, v: Annotated[Visit, Depends(visit)]) -> Response:
    await request.app.state.sessions.close_all(v.user.id)
    response = RedirectResponse("/masuk", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/bahasa")
async def language(request: Request) -> Response:
    """Switch the language: kept in the session when there is one, else in a cookie (login page)."""
    form = await request.form()
    chosen = form_text(form, "lang")
    chosen = chosen if chosen in LANGUAGES else "id"
    response = RedirectResponse(_safe_next(form_text(form, "next") or "/"), status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        v = await visit(request)
        await request.app.state.sessions.set_language(v.secret, chosen)
    set_cookie(response, request, "sinergi_lang", chosen, 365 * 86400)
    return response


@router.get("/undangan")
async def invitation_form(request: Request, token: str = "") -> Response:
    try:
        _, user = await request.app.state.accounts.invitation(token)
    except InvitationUnusable:
        return _invitation_page(request, 410, token=token, unusable=True)
    return _invitation_page(request, 200, token=token, invited=user)


def _invitation_page(request: Request, status_code: int, **context: object) -> Response:
    csrf = request.cookies.get(LOGIN_COOKIE) or new_token()
    response = render(request, "invitation.html", status_code, login_csrf=csrf, **context)
    set_cookie(response, request, LOGIN_COOKIE, csrf, 3600)
    return response


@router.post("/undangan")
async def accept_invitation(request: Request) -> Response:
    form = await request.form()
    token = form_text(form, "token")
    try:
        await request.app.state.accounts.accept(token, str(form.get("password") or ""))
    except InvitationUnusable:
        return _invitation_page(request, 410, token=token, unusable=True)
    except AccountRefused as exc:
        _, user = await request.app.state.accounts.invitation(token)
        language = request.cookies.get("sinergi_lang", "id")
        return _invitation_page(request, 422, token=token, invited=user,
                                errors=exc.shown("en" if language == "en" else "id"))
    return RedirectResponse("/masuk", status_code=303)
