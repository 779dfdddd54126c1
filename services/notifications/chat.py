"""Chat: WhatsApp (the Business Cloud API, or an office's WhatsApp gateway) and Telegram (Bot API).

Each sender posts one message and either returns the provider's message id or raises
``channels.DeliveryFailed`` (tried again later; ``retry_after`` when the provider said how long to
wait) or ``channels.DeliveryRefused`` (dead at once: a number WhatsApp cannot reach, a chat the bot
does not know, a token that expired; trying again cannot help until an admin fixes it). The reason
names the provider's code and what to do. The answers read are the providers' documented ones:

- WhatsApp Cloud: ``POST {url}/{version}/{phone-number-id}/messages`` with ``Authorization:
  Bearer``; a ``template`` message (outside a 24-hour window the API takes nothing else); errors
  ``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``: 130429 and
  HTTP 429 rate limits, 131026/131030 a number that cannot be reached, 190 an expired token.
- Telegram: ``POST {url}/bot<token>/sendMessage`` ``{chat_id, text}``; ``{"ok": false, "error_code",
  "description", "parameters": {"retry_after"}}``: 429 flood control, 400 chat not found, 401/404 a
  wrong token, 403 the bot was blocked.
- A gateway (Fonnte, Wablas, ...): a POST of a target and a message field (names, format, token
  header configurable); ``{"status": false, "reason"}`` in a 2xx answer is a failure.

No provider has an idempotency or signature header for messages sent to it: a message is sent
again when an attempt's outcome was lost, as a webhook is. The delivery id rides along where the
provider keeps it (WhatsApp's ``biz_opaque_callback_data``; a gateway gets ``X-Sinergi-Delivery``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import phonenumbers

from services.notifications.channels import USER_AGENT, DeliveryFailed, DeliveryRefused, DELIVERY_HEADER
from services.notifications.config import NotifySettings

ANSWER_LIMIT = 64 * 1024  # of a provider's answer, read
TELEGRAM_LIMIT = 4096  # characters of a Telegram message
TEMPLATE_PARAMETER_LIMIT = 1000  # a template's body text is at most 1024 characters in all
WHITESPACE = re.compile(r"\s+")
# WhatsApp Cloud codes: rate limits (tried again), and those trying again cannot help.
WHATSAPP_RATE_LIMITS = {4, 80007, 130429, 131048, 131056}
WHATSAPP_UNREACHABLE = {131026: "the number cannot receive WhatsApp messages",
                        131030: "the number is not on the test number's allowed list"}
WHATSAPP_NOT_RETRIED = {190: "the WhatsApp access token expired or is invalid: renew SINERGI_NOTIFY_WHATSAPP_TOKEN",
                        10: "the app lacks the permission to send: check the token's whatsapp_business_messaging",
                        132000: "the template's parameters do not match it",
                        132001: "the template does not exist in this language: check SINERGI_NOTIFY_WHATSAPP_TEMPLATE",
                        100: "the request was refused as invalid"}


@dataclass(frozen=True)
class ChatMessage:
    delivery_id: str
    to: str  # E.164 for WhatsApp, a chat id for Telegram
    subject: str
    body: str
    language: str

    @property
    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}".strip()


class Sender(Protocol):
    channel: str
    provider: str

    async def send(self, message: ChatMessage) -> str | None: ...


async def _answer(client: httpx.AsyncClient, what: str, timeout: float, **request: Any) -> tuple[int, Any, httpx.Headers]:
    """POST and read at most ``ANSWER_LIMIT`` of the answer as JSON (None if it is not JSON)."""
    try:
        async with client.stream("POST", timeout=timeout, **request) as response:
            raw = b""
            async for chunk in response.aiter_raw():
                raw += chunk
                if len(raw) > ANSWER_LIMIT:
                    break
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(f"no answer from {what} within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"could not reach {what}: {exc!r}") from exc
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return response.status_code, body, response.headers


def _retry_after(headers: httpx.Headers, given: Any = None) -> float | None:
    for value in (given, headers.get("retry-after")):
        try:
            if value is not None and float(value) >= 0:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


def _status(code: int) -> str:
    return f"HTTP {code} {httpx.codes.get_reason_phrase(code)}".rstrip()


def one_line(text: str, limit: int) -> str:
    """Template parameters may hold no line break, tab or run of spaces: one line, cut to ``limit``."""
    flat = WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


class WhatsAppCloud:
    channel = "whatsapp"
    provider = "WhatsApp Cloud API"

    def __init__(self, client: httpx.AsyncClient, config: NotifySettings) -> None:
        self.client = client
        self.config = config
        self.url = (f"{config.whatsapp_api_url.rstrip('/')}/{config.whatsapp_api_version}/"
                    f"{config.whatsapp_phone_number_id}/messages")

    def body(self, message: ChatMessage) -> dict[str, Any]:
        parameters = [one_line(message.subject, 200), one_line(message.body, TEMPLATE_PARAMETER_LIMIT - 200)]
        return {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to, "type": "template",
            "template": {"name": self.config.whatsapp_template,
                         "language": {"code": self.config.template_language(message.language)},
                         "components": [{"type": "body",
                                         "parameters": [{"type": "text", "text": p} for p in parameters]}]},
            "biz_opaque_callback_data": message.delivery_id,
        }

    async def send(self, message: ChatMessage) -> str | None:
        headers = {"Authorization": f"Bearer {self.config.whatsapp_token}", "User-Agent": USER_AGENT}
        status, answer, answer_headers = await _answer(self.client, self.provider, self.config.chat_timeout_seconds,
                                                       url=self.url, json=self.body(message), headers=headers)
        if 200 <= status < 300:
            messages = (answer or {}).get("messages") if isinstance(answer, dict) else None
            return str(messages[0].get("id")) if messages and isinstance(messages[0], dict) else None
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code")
        said = (error.get("error_data") or {}).get("details") or error.get("message") or ""
        where = f"{self.provider} answered {_status(status)}" + (f", code {code}" if code is not None else "")
        if status == 429 or code in WHATSAPP_RATE_LIMITS:
            raise DeliveryFailed(f"{where}: rate limit hit, tried again later", _retry_after(answer_headers))
        if code in WHATSAPP_UNREACHABLE:
            raise DeliveryRefused(f"{where}: {WHATSAPP_UNREACHABLE[code]} ({message.to}); {said}".rstrip("; "))
        if code in WHATSAPP_NOT_RETRIED or status in (401, 403):
            reason = WHATSAPP_NOT_RETRIED.get(code, "the token is not accepted: check SINERGI_NOTIFY_WHATSAPP_TOKEN")
            raise DeliveryRefused(f"{where}: {reason}; {said}".rstrip("; "))
        raise DeliveryFailed(f"{where}: {said}".rstrip(": "))


class WhatsAppGateway:
    """An office's WhatsApp gateway: field names, format, token header and number style from settings."""

    channel = "whatsapp"
    provider = "the WhatsApp gateway"

    def __init__(self, client: httpx.AsyncClient, config: NotifySettings) -> None:
        self.client = client
        self.config = config

    def target(self, number: str) -> str:
        style = self.config.whatsapp_gateway_target_style
        if style == "e164":
            return number
        if style == "digits":
            return number.lstrip("+")
        parsed = phonenumbers.parse(number)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL).replace(" ", "").replace("-", "")

    async def send(self, message: ChatMessage) -> str | None:
        config = self.config
        fields = {config.whatsapp_gateway_target_field: self.target(message.to),
                  config.whatsapp_gateway_message_field: message.text}
        headers = {config.whatsapp_gateway_token_header: f"{config.whatsapp_gateway_token_prefix}"
                                                         f"{config.whatsapp_gateway_token or ''}",
                   "User-Agent": USER_AGENT, DELIVERY_HEADER: message.delivery_id}
        body = {"json": fields} if config.whatsapp_gateway_format == "json" else {"data": fields}
        status, answer, answer_headers = await _answer(self.client, self.provider, config.chat_timeout_seconds,
                                                       url=config.whatsapp_gateway_url, headers=headers, **body)
        where = f"{self.provider} answered {_status(status)}"
        reason = answer.get("reason") or answer.get("message") or "" if isinstance(answer, dict) else ""
        if status in (401, 403):
            raise DeliveryRefused(f"{where}: the token is not accepted, check SINERGI_NOTIFY_WHATSAPP_GATEWAY_TOKEN")
        if status == 429:
            raise DeliveryFailed(f"{where}: rate limit hit, tried again later", _retry_after(answer_headers))
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{where}: {reason}".rstrip(": "))
        if isinstance(answer, dict) and answer.get("status") is False:
            raise DeliveryFailed(f"{self.provider} did not take the message: {reason or 'no reason given'}")
        found = answer.get("id") if isinstance(answer, dict) else None
        return str(found[0] if isinstance(found, list) and found else found) if found else None


class TelegramBot:
    channel = "telegram"
    provider = "Telegram"

    def __init__(self, client: httpx.AsyncClient, config: NotifySettings) -> None:
        self.client = client
        self.config = config
        self.url = f"{config.telegram_api_url.rstrip('/')}/bot{config.telegram_bot_token}/sendMessage"

    async def send(self, message: ChatMessage) -> str | None:
        text = message.text if len(message.text) <= TELEGRAM_LIMIT else message.text[:TELEGRAM_LIMIT - 1] + "…"
        status, answer, answer_headers = await _answer(
            self.client, self.provider, self.config.chat_timeout_seconds, url=self.url,
            json={"chat_id": message.to, "text": text, "disable_web_page_preview": True},
            headers={"User-Agent": USER_AGENT})
        answer = answer if isinstance(answer, dict) else {}
        if 200 <= status < 300 and answer.get("ok") is True:
            result = answer.get("result") or {}
            return str(result.get("message_id")) if isinstance(result, dict) and "message_id" in result else None
        code = answer.get("error_code") or status
        said = str(answer.get("description") or _status(status))
        where = f"Telegram answered {code}: {said}"
        if code == 429:
            parameters = answer.get("parameters") or {}
            raise DeliveryFailed(where, _retry_after(answer_headers, parameters.get("retry_after")))
        if code in (401, 404):
            raise DeliveryRefused(f"{where}; the bot token is not accepted: check SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN")
        if code in (400, 403):
            raise DeliveryRefused(f"{where} (chat {message.to}); change the recipient's telegram_chat_id, or have "
                                  "them start the bot")
        raise DeliveryFailed(where)


class ChatSenders:
    """The chat senders this instance has credentials for, by channel."""

    def __init__(self, config: NotifySettings, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self.senders: dict[str, Sender] = {}
        if config.whatsapp_token and config.whatsapp_phone_number_id:
            self.senders["whatsapp"] = WhatsAppCloud(self.client, config)
        elif config.whatsapp_gateway_url:
            self.senders["whatsapp"] = WhatsAppGateway(self.client, config)
        if config.telegram_bot_token:
            self.senders["telegram"] = TelegramBot(self.client, config)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self.senders)

    async def send(self, channel: str, message: ChatMessage) -> str | None:
        sender = self.senders.get(channel)
        if sender is None:
            raise DeliveryRefused(f"this instance has no {channel} provider configured now "
                                  "(docs/notifications.md, Chat channels)")
        return await sender.send(message)

    async def aclose(self) -> None:
        await self.client.aclose()


def configured(config: NotifySettings) -> frozenset[str]:
    """The chat channels this instance has a provider for (as :class:`ChatSenders` will)."""
    found = set()
    if (config.whatsapp_token and config.whatsapp_phone_number_id) or config.whatsapp_gateway_url:
        found.add("whatsapp")
    if config.telegram_bot_token:
        found.add("telegram")
    return frozenset(found)
