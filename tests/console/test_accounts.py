"""Accounts of the console: sign in, throttle, sessions, CSRF, roles, disabling, invitations."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

from aiosmtpd.controller import Controller

from services.console.config import ConsoleSettings
from services.console.mail import Mailer
from sinergi_cli.mailcatcher import MaildirHandler, messages
from tests.conftest import auth, eventually, free_port
from tests.console.conftest import PASSWORD, Console, csrf_of, login, post_form


async def test_a_user_signs_in_and_sees_their_name_and_a_wrong_password_is_refused(console: Console):
    await console.user("sari@kpu.example", name="Sari Wulandari")
    client = console.browser()
    assert (await client.get("/")).headers["location"].startswith("/masuk")
    refused = await login(client, "sari@kpu.example", "not the password")
    assert refused.status_code == 401
    assert "Surel atau kata sandi salah" in refused.text
    answer = await login(client, "Sari@KPU.example", PASSWORD)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = await client.get("/")
    assert home.status_code == 200 and "Sari Wulandari" in home.text


async def test_failed_logins_are_throttled_per_account(console: Console):
    await console.user("budi@kpu.example")
    client = console.browser()
    for _ in range(3):
        assert (await login(client, "budi@kpu.example", "wrong password")).status_code == 401
    # the right password no longer helps until the window has passed
    assert (await login(client, "budi@kpu.example", PASSWORD)).status_code == 429


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console: Console):
    await console.user("op@kpu.example")
    client = await console.signed_in("op@kpu.example")
    refused = await client.post("/mitra/baru", data={"name": "KIM Tanpa Token", "type": "kim"})
    assert refused.status_code == 403
    wrong = await client.post("/mitra/baru", data={"name": "KIM Tanpa Token", "type": "kim", "csrf": "guess"})
    assert wrong.status_code == 403
    listed = await console.services["partners"].get("/partners", params={"q": "Tanpa Token"}, headers=auth("viewer"))
    assert listed.json()["items"] == []


async def test_an_operator_is_refused_the_admin_pages(console: Console):
    await console.user("op2@kpu.example")
    client = await console.signed_in("op2@kpu.example")
    assert (await client.get("/pengaturan")).status_code == 403
    page = await client.get("/")
    assert 'href="/pengaturan"' not in page.text


async def test_disabling_a_user_ends_their_sessions_and_logout_everywhere_ends_all(console: Console):
    await console.user("admin@kpu.example", role="admin")
    operator = await console.user("dewi@kpu.example")
    first, second = await console.signed_in("dewi@kpu.example"), await console.signed_in("dewi@kpu.example")
    await post_form(first, "/", "/keluar-semua", {})
    for client in (first, second):
        assert (await client.get("/")).status_code == 303
    third = await console.signed_in("dewi@kpu.example")
    admin = await console.signed_in("admin@kpu.example")
    disabled = await post_form(admin, "/pengaturan", f"/pengaturan/pengguna/{operator.id}/disable", {})
    assert disabled.status_code == 303
    assert (await third.get("/")).status_code == 303
    assert (await login(console.browser(), "dewi@kpu.example", PASSWORD)).status_code == 401


async def test_a_user_gets_a_staff_recipient_linked_to_them(console: Console):
    user = await console.user("rina@kpu.example", name="Rina")
    assert user.recipient_id
    found = await console.services["notifications"].get(f"/recipients/{user.recipient_id}", headers=auth("admin"))
    assert found.json()["user_id"] == user.id and found.json()["kind"] == "staff"


async def test_an_invitation_is_mailed_and_its_link_sets_a_password_once(console: Console, tmp_path: Path):
    port = free_port()
    controller = Controller(MaildirHandler(tmp_path), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        console.app.state.mailer = Mailer(f"smtp://127.0.0.1:{port}", ConsoleSettings().mail_from)
        await console.user("kepala@kpu.example", role="admin")
        admin = await console.signed_in("kepala@kpu.example")
        sent = await post_form(admin, "/pengaturan", "/pengaturan/pengguna",
                               {"email": "baru@kpu.example", "name": "Staf Baru", "role": "viewer",
                                "regions": "32.73", "password": ""})
        assert sent.status_code == 201, sent.text[:800]
        mails = await eventually(lambda: asyncio.sleep(0, messages(tmp_path)))
        assert mails[0]["to"] == "baru@kpu.example"
        message = email.message_from_bytes((tmp_path / mails[0]["file"]).read_bytes(), policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        link = next(line for line in text.splitlines() if "/undangan?token=" in line).strip()
        path = link[link.index("/undangan"):]
        invited = console.browser()
        form = await invited.get(path)
        assert form.status_code == 200 and "Staf Baru" in form.text
        token = path.split("token=")[1]
        short = await invited.post("/undangan", data={"csrf": csrf_of(form.text), "token": token, "password": "short"})
        assert short.status_code == 422
        accepted = await invited.post("/undangan", data={"csrf": csrf_of(form.text), "token": token,
                                                          "password": "sandi-baru-yang-kuat"})
        assert accepted.status_code == 303
        again = await invited.get(path)
        assert again.status_code == 410
        assert (await login(console.browser(), "baru@kpu.example", "sandi-baru-yang-kuat")).status_code == 303
    finally:
        controller.stop()
