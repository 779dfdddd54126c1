"""The ways out: e-mail over SMTP (aiosmtplib) and signed webhooks (httpx); chat is in ``chat.py``.

A send either returns (the server took the message: SMTP 250, HTTP 2xx) or raises
:class:`DeliveryFailed` with a reason an operator can act on (:class:`DeliveryRefused` when
trying again cannot help: a webhook target that is not a public address, see ``egress.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import parse_qs, unquote, urlparse

import aiosmtplib
import httpx

from services.notifications.domain import CONTROL_CHARACTERS
from services.notifications.egress import TargetRefused, TargetUnresolved

SIGNATURE_HEADER = "X-Sinergi-Signature"
DELIVERY_HEADER = "X-Sinergi-Delivery"
USER_AGENT = "Sinergi-Notifications/1"


ANSWER_READ = 64 * 1024  # of a 2xx answer's body, read (and dropped) so its connection can serve again


class DeliveryFailed(Exception):
    """The receiving server did not take the message. ``retry_after``: seconds it asked us to wait
    before trying again (a rate limit), which the next attempt respects."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryRefused(DeliveryFailed):
    """The target is not one to send to (a webhook to a private address, a number WhatsApp does not
    know, an expired token): trying again would not help until an admin changes it."""


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body>``, as receivers verify it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """``smtp://[user:password@]host[:port][?starttls=true|false]`` or ``smtps://`` (implicit TLS)."""
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname:
            raise ValueError(f"SINERGI_SMTP_URL must look like smtp://host:port, not {url!r}")
        query = parse_qs(parsed.query)
        starttls = query.get("starttls", [None])[0]
        return cls(
            hostname=parsed.hostname,
            port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
            use_tls=parsed.scheme == "smtps",
            start_tls=None if starttls is None else starttls.lower() in {"1", "true", "yes"},
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
        )


@dataclass(frozen=True)
class Email:
    delivery_id: str
    to: str
    to_name: str | None
    subject: str
    body: str
    language: str
    rule: str


def one_line(text: str) -> str:
    """``text`` fit for a header: control characters become a space. Names come from other services'
    events (a partner's contact) or were stored before they were refused, and a header with a
    line break in it is refused by ``email``, which made every attempt fail."""
    return CONTROL_CHARACTERS.sub(" ", text).strip()


class Mailer:
    def __init__(self, server: SmtpServer, sender: str, timeout: float, domain: str,
                 reply_to: str | None = None) -> None:
        self.server = server
        self.sender = sender
        self.reply_to = reply_to  # the office's address: where a person's reply lands
        self.timeout = timeout
        self.domain = domain

    def message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["To"] = formataddr((one_line(email.to_name or ""), email.to))
        message["Subject"] = one_line(email.subject)
        message["Date"] = format_datetime(datetime.now(UTC))
        # The same delivery always carries the same Message-ID, so mail systems can spot a repeat.
        message["Message-ID"] = f"<{email.delivery_id}@{self.domain}>"
        message["Content-Language"] = email.language
        message[DELIVERY_HEADER] = email.delivery_id
        message["X-Sinergi-Rule"] = email.rule
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.body)
        return message

    async def send(self, email: Email) -> None:
        message = self.message(email)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.server.hostname,
                port=self.server.port,
                use_tls=self.server.use_tls,
                start_tls=self.server.start_tls,
                username=self.server.username,
                password=self.server.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"the SMTP server refused {email.to}: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {self.server.hostname}:{self.server.port}: {exc}") from exc


class WebhookSender:
    """Signed POSTs through a client whose transport checks each target (``egress.PinnedTransport``)."""

    def __init__(self, client: httpx.AsyncClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def send(self, url: str, secret: str, body: bytes, delivery_id: str, rule: str, attempt: int) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, body),
            DELIVERY_HEADER: delivery_id,
            "X-Sinergi-Rule": rule,
            "X-Sinergi-Attempt": str(attempt),
        }
        try:
            # The timeout bounds each step; this bounds the whole exchange (a receiver that trickles).
            async with asyncio.timeout(2 * self.timeout):
                async with self.client.stream("POST", url, content=body, headers=headers,
                                              timeout=self.timeout) as response:
                    if 200 <= response.status_code < 300:
                        await _drop(response)
        except TargetRefused as exc:
            raise DeliveryRefused(str(exc)) from exc
        except TargetUnresolved as exc:
            raise DeliveryFailed(f"could not reach {url}: {exc}") from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise DeliveryFailed(f"no answer from {url} within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"could not reach {url}: {exc!r}") from exc
        if not 200 <= response.status_code < 300:
            # The status and its standard reason only: what a receiver answers is not read, so an
            # internal service's answer never reaches last_error, the log or an event.
            raise DeliveryFailed(f"{url} answered HTTP {response.status_code} "
                                 f"{httpx.codes.get_reason_phrase(response.status_code)}".rstrip())


async def _drop(response: httpx.Response) -> None:
    """Read a little of a successful answer (then its connection can be used again) and keep none."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > ANSWER_READ:
            return
