"""A local chat sink, so a person trying Sinergi sees the WhatsApp and Telegram messages it sends.

    python -m sinergi_cli.chatsink --host 127.0.0.1 --port 8026 --dir .sinergi/chat

It answers as the providers do on success (nothing goes anywhere): Telegram's
``POST /bot<token>/sendMessage`` and the WhatsApp Cloud API's ``POST /<version>/<phone number
id>/messages``. Each message is kept as one JSON file in the directory; ``/`` lists them, newest
first, and ``/messages.json`` gives them as JSON. Point the service at it with
``SINERGI_NOTIFY_TELEGRAM_API_URL`` / ``SINERGI_NOTIFY_WHATSAPP_API_URL`` = ``http://127.0.0.1:8026``
and any token (``SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN``, ``…_WHATSAPP_TOKEN`` and ``…_PHONE_NUMBER_ID``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ulid import ULID


class Sink:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def keep(self, provider: str, to: str, text: str, raw: dict[str, Any]) -> str:
        """Write one message (whole, then renamed into place); returns its id."""
        message_id = str(ULID())
        record = {"id": message_id, "provider": provider, "to": to, "text": text, "at": time.time(), "request": raw}
        partial = self.directory / f".{message_id}.tmp"
        partial.write_text(json.dumps(record, ensure_ascii=False, indent=1))
        os.replace(partial, self.directory / f"{message_id}.json")
        return message_id

    def messages(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.directory.glob("*.json"), reverse=True):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return found

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.startswith("/bot") and path.endswith("/sendMessage"):
            chat = str(body.get("chat_id", ""))
            kept = self.keep("telegram", chat, str(body.get("text", "")), body)
            return 200, {"ok": True, "result": {"message_id": int(time.time() * 1000) % 2**31, "date": int(time.time()),
                                                "chat": {"id": chat, "type": "private"}, "text": body.get("text"),
                                                "sink_id": kept}}
        if path.endswith("/messages") and body.get("messaging_product") == "whatsapp":
            parameters = [p.get("text", "") for c in (body.get("template") or {}).get("components", [])
                          for p in c.get("parameters", [])]
            text = "\n\n".join(parameters) or str((body.get("text") or {}).get("body", ""))
            kept = self.keep("whatsapp", str(body.get("to", "")), text, body)
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"),
                                                                        "wa_id": str(body.get("to", "")).lstrip("+")}],
                         "messages": [{"id": f"wamid.sink.{kept}"}]}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


def serve(sink: Sink, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            raw = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            status, answer = sink.answer(self.path.split("?")[0], body if isinstance(body, dict) else {})
            self._send(status, json.dumps(answer).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802
            messages = sink.messages()
            if self.path.startswith("/messages.json"):
                self._send(200, json.dumps(messages, ensure_ascii=False).encode(), "application/json")
                return
            rows = "".join(f"<tr><td>{html.escape(m['provider'])}</td><td>{html.escape(m['to'])}</td>"
                           f"<td><pre>{html.escape(m['text'])}</pre></td></tr>" for m in messages)
            page = (f"<!doctype html><meta charset=utf-8><title>Sinergi chat</title><h1>Chat messages "
                    f"({len(messages)})</h1><table border=1 cellpadding=4><tr><th>via</th><th>to</th><th>message</th>"
                    f"</tr>{rows}</table>")
            self._send(200, page.encode(), "text/html; charset=utf-8")

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sinergi_cli.chatsink", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--dir", type=Path, required=True, help="directory that keeps one .json file per message")
    args = parser.parse_args(argv)
    server = serve(Sink(args.dir), args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
