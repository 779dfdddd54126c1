"""`make up` as a person meets it: the demo staff get their e-mails in the local mail catcher."""

from __future__ import annotations

import subprocess
import sys

import httpx
from rich.console import Console

from shared.events import EventType
from sinergi_cli.demo import notifications as demo_notifications
from sinergi_cli.mailcatcher import messages
from tests.conftest import ROOT, auth, free_port
from tests.notifications_support import FAST, event, partner, publish, soon, value


async def test_demo_staff_receive_their_emails_in_the_mail_catcher(processes, settings, tmp_path):
    smtp_port, maildir = free_port(), tmp_path / "mail"
    catcher = subprocess.Popen([sys.executable, "-m", "sinergi_cli.mailcatcher", "--port", str(smtp_port),
                                "--maildir", str(maildir)], cwd=ROOT)
    try:
        service = processes("notifications", **FAST, SINERGI_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}")
        console = Console(file=open(tmp_path / "console.txt", "w"))  # noqa: SIM115
        with httpx.Client(base_url=service.url, headers=auth("admin")) as client:
            demo_notifications.load(console, client)
            demo_notifications.load(console, client)  # twice: nothing doubles
            staff = client.get("/recipients", params={"kind": "staff"}).json()["items"]
        assert len(staff) == len(demo_notifications.DEMO_RECIPIENTS)
        assert {r["language"] for r in staff} == {"id", "en"}

        await publish(settings, event(EventType.PARTNER_REGISTERED, partner("P-1", "Komunitas Seni Braga")))
        caught = await soon(lambda: value(len(messages(maildir)) == 3 and messages(maildir)))
        assert sorted(m["subject"] for m in caught) == ["Mitra baru: Komunitas Seni Braga"] * 2 + [
            "New partner: Komunitas Seni Braga"]
        assert all(m["to"].endswith("@kpu-kotabandung.example>") for m in caught)
    finally:
        catcher.terminate()
        catcher.wait(10)
