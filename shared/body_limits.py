"""What a request body may be: its size, the time it takes to arrive, and the text it holds.

:class:`BodyLimit` refuses, before anything reads a body whole, one that is too large (413), too
slow (408) or JSON text no store or mail server can hold (NUL 400, lone surrogates 422). A refusal
is raised as :class:`BodyRefused`, answered as problem+json wherever the body was being read
(``shared.web``). What each limit stops: docs/security.md, "HTTP edge".
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.types import Message, Receive, Scope, Send

from shared import problems
from shared.asgi import HttpMiddleware
from shared.settings import Settings

BODY_LIMIT = 1 << 20  # 1 MiB for JSON bodies
UPLOAD_LIMIT = 16 << 20  # spreadsheets on */import


class BodyRefused(HTTPException):
    """A body refused while it is read (too large, too slow, NUL, lone surrogate).

    An ``HTTPException`` because FastAPI lets only those through when they are raised while it
    reads a body (anything else it reports as an unreadable body); it carries the problem the
    client gets, rendered by the handler ``shared.web.create_app`` installs, or by ``shared.web.Guard``
    when a middleware was the reader (the idempotency middleware buffers bodies).
    """

    def __init__(self, problem: problems.Problem) -> None:
        super().__init__(problem.status, problem.detail, headers=problem.headers)
        self.problem = problem


# A body too slow to arrive is not waited for any longer: the connection is closed.
CLOSE = {"Connection": "close"}
# JSON escapes of NUL or of a UTF-16 surrogate (U+D800-U+DFFF): only with one of them can a
# body's strings hold either, and only then is the body parsed here (an escaped backslash
# before "u0000" is text, so the parse decides).
ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


class BodyLimit(HttpMiddleware):
    """Bounds what a request body may be, before anything reads it whole.

    - larger than the limit → 413 (as declared, or as streamed);
    - not all there within ``http_body_seconds`` of the headers → 408, connection closed;
    - JSON text with a NUL character → 400 (valid JSON, never meaningful in a name or a
      note, and truncated by C-string consumers downstream);
    - JSON text with a lone surrogate (``"\\ud800"``) → 422 naming the field: valid JSON
      syntax, but not Unicode text, and no store or e-mail can encode it.

    Starlette's and FastAPI's own limiters answer in plain text or ``{"detail"}``; every
    Sinergi error is problem+json, so the limits are enforced here.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = UPLOAD_LIMIT if scope["path"].endswith("/import") else BODY_LIMIT
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyRefused(_too_large(limit))
        settings = getattr(scope["app"].state, "settings", None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (settings.http_body_seconds if settings else 60.0)
        received = 0
        is_json = b"json" in headers.get(b"content-type", b"")
        chunks: list[bytes] = []
        complete = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: a disconnect listener may wait as long as it likes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise BodyRefused(problems.Problem(
                    f"the request body did not arrive within {_seconds(settings)} s", status=408,
                    slug="request-timeout", title="Request timeout", headers=CLOSE)) from None
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise BodyRefused(_too_large(limit))
            if is_json:
                chunks.append(chunk)
            if not message.get("more_body"):
                complete = True
                if is_json:
                    check_json_text(b"".join(chunks))
            return message

        await self.app(scope, limited_receive, send)


def _too_large(limit: int) -> problems.Problem:
    # No "Connection: close": the client is likely still sending, and would meet a reset before
    # reading this; the server reads the rest and drops it, for a bounded time (shared/serve.py).
    return problems.TooLarge(f"the request body is larger than {limit // 1024} KiB")


def _seconds(settings: Settings | None) -> str:
    return f"{settings.http_body_seconds:g}" if settings else "60"


def check_json_text(body: bytes) -> None:
    """Refuses JSON text whose strings hold NUL (400) or a lone surrogate (422, naming the field)."""
    if b"\0" in body:  # raw, it is not JSON anyway; said as FastAPI would not
        raise BodyRefused(problems.Problem(NO_NUL))
    if not ESCAPE.search(body):
        return
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON after all (or nested too deeply): FastAPI names what is wrong with it
    if (at := _first_string(value, lambda text: "\0" in text)) is not None:
        raise BodyRefused(problems.Problem(f"{problems.field_name(at)}: {NO_NUL}"))
    if (at := _first_string(value, _has_lone_surrogate)) is not None:
        raise BodyRefused(problems.InvalidField({problems.field_name(at): NO_SURROGATE}))


NO_NUL = "text must not contain NUL (\\u0000) characters"
NO_SURROGATE = "text must be Unicode characters; a lone surrogate (\\ud800-\\udfff without its pair) is not one"


def _has_lone_surrogate(text: str) -> bool:
    # json.loads joins an escaped pair into one character; what is left in the range is alone.
    return any("\ud800" <= c <= "\udfff" for c in text)


def _first_string(value: Any, wrong: Callable[[str], bool]) -> tuple[Any, ...] | None:
    """Where in a parsed JSON value the first string (value or key) is ``wrong``, as a field path.

    A loop, not recursion: json.loads parses deeper than a recursive walk could follow.
    """
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, at = pending.pop()
        if isinstance(item, str):
            if wrong(item):
                return at
        elif isinstance(item, list):
            pending.extend((child, (*at, i)) for i, child in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                pending.append((child, (*at, key)))
                if wrong(key):  # the key itself, shown with the offending character escaped
                    pending.append((key, (*at, key.encode("utf-8", "backslashreplace").decode())))
    return None
