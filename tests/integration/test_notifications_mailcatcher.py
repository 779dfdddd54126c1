"""The local SMTP catcher of `make up`: a real process that keeps each e-mail and lists them."""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage

import aiosmtplib
import httpx

from tests.conftest import ROOT, free_port
from tests.notifications_support import soon, value


async def test_the_mailcatcher_keeps_every_email_as_a_file_and_lists_them(tmp_path):
    smtp_port, http_port = free_port(), free_port()
    maildir = tmp_path / "mail"
    catcher = subprocess.Popen([sys.executable, "-m", "sinergi_cli.mailcatcher", "--host", "127.0.0.1",
                                "--port", str(smtp_port), "--maildir", str(maildir), "--http-port", str(http_port)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
            async def up():
                try:
                    return (await client.get("/")).status_code == 200
                except httpx.HTTPError:
                    return False
            await soon(up)
            for subject in ("Undangan: Forum Warga Coblong", "Pengingat: kegiatan <besok>"):
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = "sinergi@localhost", "sari@kimdago.id", subject
                message["X-Sinergi-Rule"] = "activity.scheduled"
                message.set_content("Yth. Ibu Sari,\n\nKPU Kota Bandung mengundang …")
                await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port)

            files = await soon(lambda: value(len(list(maildir.glob("*.eml"))) == 2 and list(maildir.glob("*.eml"))))
            assert all(b"Subject:" in f.read_bytes() for f in files)
            listed = (await client.get("/messages.json")).json()
            assert [m["subject"] for m in listed] == ["Pengingat: kegiatan <besok>", "Undangan: Forum Warga Coblong"]
            page = (await client.get("/")).text
            assert "2 messages" in page and "Pengingat: kegiatan &lt;besok&gt;" in page
            shown = await client.get(f"/mail/{listed[1]['file']}")
            assert shown.status_code == 200 and "KPU Kota Bandung mengundang" in shown.text
            assert (await client.get("/mail/../../etc/passwd")).status_code == 404
    finally:
        catcher.terminate()
        output = catcher.communicate(timeout=10)[0].decode()
    assert f"SMTP on 127.0.0.1:{smtp_port}" in output and catcher.returncode == 0
