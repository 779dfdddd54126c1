"""Local chat providers for tests (there is no internet here): one real HTTP server of ours that
speaks each provider's documented requests and answers, errors included.

- WhatsApp Business Cloud API: ``POST /{version}/{phone-number-id}/messages``, ``Authorization:
  Bearer <token>``, a template message; answers ``{"messaging_product", "contacts", "messages":
  [{"id": "wamid..."}]}``, or ``{"error": {"message", "type", "code", "error_data":
  {"messaging_product", "details"}, "fbtrace_id"}}``: 190 for a wrong token (HTTP 401), 131026 for
  a number in ``unreachable`` (HTTP 400), 130429 when rate limited (HTTP 429).
- Telegram Bot API: ``POST /bot<token>/sendMessage`` ``{chat_id, text}``; ``{"ok": true, "result":
  {message_id, chat, date, text}}``, or ``{"ok": false, "error_code", "description", "parameters":
  {"retry_after"}}``: 401 Unauthorized, 400 chat not found (a chat not in ``chats``), 429 flood.
- A WhatsApp gateway like Fonnte (``POST /send``, the token in a header, a target and a message
  field, form or JSON, names as configured): ``{"status": true, "detail", "id": [...]}``, or
  ``{"status": false, "reason"}``.

Each provider can be told to refuse its next requests (``rate_limit`` / ``flood``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.conftest import free_port

WHATSAPP_TOKEN = "EAAtest-whatsapp-token"
PHONE_NUMBER_ID = "106540352242922"
TELEGRAM_TOKEN = "123456:ABC-test-bot-token"
GATEWAY_TOKEN = "gateway-test-token"


@dataclass
class Call:
    provider: str
    path: str
    headers: dict[str, str]
    body: Any  # the JSON or the form as a dict
    status: int
    at: float  # time.monotonic()


@dataclass
class Providers:
    """The three providers on one port; what each has received is in ``calls``."""

    port: int = field(default_factory=free_port)
    calls: list[Call] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)  # WhatsApp numbers (E.164) that cannot be reached
    chats: set[str] = field(default_factory=set)  # Telegram chats the bot knows (empty: every chat)
    rate_limits: int = 0  # WhatsApp requests still to refuse with 130429
    floods: list[int] = field(default_factory=list)  # Telegram requests still to refuse, each its retry_after
    gateway_token_header: str = "Authorization"
    gateway_target_field: str = "target"
    gateway_message_field: str = "message"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **overrides: str) -> dict[str, str]:
        """The service's environment for the providers here (``whatsapp="gateway"`` for the gateway)."""
        which = overrides.pop("whatsapp", "cloud")
        env = {"SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "SINERGI_NOTIFY_TELEGRAM_API_URL": self.url}
        if which == "cloud":
            env.update(SINERGI_NOTIFY_WHATSAPP_TOKEN=WHATSAPP_TOKEN,
                       SINERGI_NOTIFY_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
                       SINERGI_NOTIFY_WHATSAPP_API_URL=self.url)
        else:
            env.update(SINERGI_NOTIFY_WHATSAPP_GATEWAY_URL=f"{self.url}/send",
                       SINERGI_NOTIFY_WHATSAPP_GATEWAY_TOKEN=GATEWAY_TOKEN)
        env.update({f"SINERGI_NOTIFY_{key.upper()}": value for key, value in overrides.items()})
        return env

    def of(self, provider: str, status: int | None = None) -> list[Call]:
        return [c for c in list(self.calls) if c.provider == provider and (status is None or c.status == status)]

    def answer(self, provider: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if provider == "whatsapp":
                status, answer = self._whatsapp(path, headers, body)
            elif provider == "telegram":
                status, answer = self._telegram(path, body)
            else:
                status, answer = self._gateway(headers, body)
            self.calls.append(Call(provider, path, headers, body, status, time.monotonic()))
            return status, answer

    def _whatsapp(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        def error(status: int, code: int, message: str, details: str, kind: str = "OAuthException") -> tuple[int, dict]:
            return status, {"error": {"message": message, "type": kind, "code": code,
                                      "error_data": {"messaging_product": "whatsapp", "details": details},
                                      "fbtrace_id": "AbCdEf123"}}

        if headers.get("authorization") != f"Bearer {WHATSAPP_TOKEN}":
            return error(401, 190, "Error validating access token: Session has expired.",
                         "The access token has expired")
        if not path.endswith(f"/{PHONE_NUMBER_ID}/messages") or body.get("messaging_product") != "whatsapp":
            return error(400, 100, "(#100) Invalid parameter", "messaging_product is required")
        if self.rate_limits:
            self.rate_limits -= 1
            return error(429, 130429, "(#130429) Rate limit hit",
                         "Cloud API message throughput has been reached.")
        if body.get("type") != "template" or not body.get("template", {}).get("name"):
            return error(400, 131047, "(#131047) Re-engagement message",
                         "More than 24 hours have passed since the recipient last replied to the sender number.")
        if body["to"] in self.unreachable:
            return error(400, 131026, "(#131026) Message Undeliverable", "Message Undeliverable.")
        n = len(self.of("whatsapp")) + 1
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"],
                                                                    "wa_id": body["to"].lstrip("+")}],
                     "messages": [{"id": f"wamid.TEST{n:04d}"}]}

    def _telegram(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if path != f"/bot{TELEGRAM_TOKEN}/sendMessage":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if self.floods:
            wait = self.floods.pop(0)
            return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}",
                         "parameters": {"retry_after": wait}}
        chat = str(body.get("chat_id"))
        if self.chats and chat not in self.chats:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        n = len(self.of("telegram")) + 1
        return 200, {"ok": True, "result": {"message_id": n, "chat": {"id": chat, "type": "private"},
                                            "date": int(time.time()), "text": body.get("text")}}

    def _gateway(self, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        if headers.get(self.gateway_token_header.lower()) != GATEWAY_TOKEN:
            return 200, {"status": False, "reason": "invalid token"}
        target = body.get(self.gateway_target_field)
        if not target or not body.get(self.gateway_message_field):
            return 200, {"status": False, "reason": "target invalid"}
        return 200, {"status": True, "detail": "success! message in queue", "id": [str(len(self.calls) + 1)],
                     "process": "pending", "target": [target]}

    def __enter__(self) -> Providers:
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if "json" in headers.get("content-type", ""):
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                path = self.path.split("?")[0]
                provider = ("telegram" if path.startswith("/bot") else "gateway" if path == "/send" else "whatsapp")
                status, answer = providers.answer(provider, path, headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
