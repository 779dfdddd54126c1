"""A local SMTP catcher, so a person trying Sinergi sees the e-mails it sends.

    python -m sinergi_cli.mailcatcher --host 127.0.0.1 --port 1025 --maildir .sinergi/mail --http-port 8025

Every message the notifications service sends is accepted (never relayed anywhere) and kept
as one ``.eml`` file in the mail directory; with ``--http-port`` a read-only page lists them,
newest first (``/``), shows one (``/mail/<file>``) and lists them as JSON (``/messages.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import html
import json
import os
import signal
import threading
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiosmtpd.smtp import SMTP, Envelope, Session
from ulid import ULID


class MaildirHandler:
    """aiosmtpd handler: writes each message to ``<dir>/<ULID>.eml`` (written whole, then renamed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        name = f"{ULID()}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(b"X-Mailcatcher-Rcpt-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n" + content)
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


def messages(directory: Path) -> list[dict[str, Any]]:
    """The caught messages, newest first."""
    found = []
    for path in sorted(directory.glob("*.eml"), reverse=True):
        message = _read(path)
        found.append({"file": path.name, "date": message.get("Date", ""), "from": message.get("From", ""),
                      "to": message.get("To", ""), "subject": message.get("Subject", ""),
                      "rule": message.get("X-Sinergi-Rule", "")})
    return found


def _read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


class _Pages(BaseHTTPRequestHandler):
    directory: Path

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = unquote(self.path.split("?", 1)[0])
        if path == "/messages.json":
            self._send(200, "application/json", json.dumps(messages(self.directory), ensure_ascii=False))
        elif path == "/":
            found = messages(self.directory)
            rows = "".join(
                f"<tr><td>{html.escape(m['date'])}</td><td>{html.escape(m['to'])}</td>"
                f"<td><a href='/mail/{html.escape(m['file'])}'>{html.escape(m['subject'])}</a></td></tr>"
                for m in found)
            self._send(200, "text/html", _PAGE.format(count=len(found),
                                                      rows=rows or "<tr><td colspan=3>No e-mail yet.</td></tr>"))
        elif path.startswith("/mail/") and "/" not in path[6:] and path.endswith(".eml") \
                and (self.directory / path[6:]).is_file():
            message = _read(self.directory / path[6:])
            head = "".join(f"<b>{k}:</b> {html.escape(str(message.get(k, '')))}<br>"
                           for k in ("Date", "From", "To", "Subject", "X-Sinergi-Delivery", "X-Sinergi-Rule"))
            self._send(200, "text/html", f"<!doctype html><meta charset=utf-8><title>{html.escape(str(message['Subject']))}"
                                         f"</title><p><a href='/'>&larr; all</a></p><p>{head}</p>"
                                         f"<pre>{html.escape(_text(message))}</pre>")
        else:
            self._send(404, "text/plain", "not found")

    def _send(self, status: int, kind: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


_PAGE = """<!doctype html><meta charset=utf-8><title>Sinergi mail</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{padding:.2em .8em;border-bottom:1px solid #ddd}}</style>
<h1>E-mail caught by the local SMTP catcher</h1><p>{count} messages, newest first. Nothing here left this machine.</p>
<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>{rows}</table>"""


def serve_pages(directory: Path, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("Pages", (_Pages,), {"directory": directory})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="mailcatcher-http", daemon=True).start()
    return server


async def run(host: str, port: int, directory: Path, http_port: int | None) -> None:
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(directory)
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="sinergi-mailcatcher"), host, port)
    pages = serve_pages(directory, host, http_port) if http_port else None
    print(f"mailcatcher: SMTP on {host}:{port}, saving to {directory}"
          + (f", list at http://{host}:{http_port}/" if http_port else ""), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        smtp.close()
        await smtp.wait_closed()
        if pages:
            pages.shutdown()
            pages.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sinergi_cli.mailcatcher", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True, help="directory that keeps one .eml file per message")
    parser.add_argument("--http-port", type=int, default=None, help="serve a read-only list of the mail here")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    try:
        asyncio.run(run(args.host, args.port, args.maildir.resolve(), args.http_port))
    except OSError as exc:
        raise SystemExit(f"mailcatcher: cannot listen on {args.host}:{args.port}: {exc}") from exc
    print(f"mailcatcher: stopped after {datetime.now(UTC) - started}", flush=True)


if __name__ == "__main__":
    main()
