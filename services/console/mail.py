"""Invitation e-mails, through the instance's SMTP server (``SINERGI_SMTP_URL``; the dev runner's
mail catcher locally)."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlparse

import aiosmtplib


class Mailer:
    def __init__(self, smtp_url: str, sender: str) -> None:
        parsed = urlparse(smtp_url)
        if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname:
            raise ValueError(f"SINERGI_SMTP_URL must look like smtp://host:port, not {smtp_url!r}")
        self.options = {
            "hostname": parsed.hostname,
            "port": parsed.port or (465 if parsed.scheme == "smtps" else 25),
            "use_tls": parsed.scheme == "smtps",
            "username": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
            "timeout": 10,
        }
        if parsed.scheme == "smtp" and "starttls=false" not in parsed.query:
            self.options["start_tls"] = None  # if the server offers it
        self.sender = sender

    async def __call__(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(text)
        await aiosmtplib.send(message, **self.options)
