"""Hostile input: schemathesis against each service's own OpenAPI document, with an admin token.

Every operation of every service gets a few generated requests (valid and schema-shaped), with
the ``Idempotency-Key`` and ``If-Match`` headers the document declares, and a few more whose text
may hold any code point (NUL, lone surrogates); none may be answered with a 5xx, and a response
the operation documents (problems included) must match its schema. A second test sends every
write hostile tokens, keys and bodies of shapes no schema describes (issue 11 point 8).
The cases are generated first (hypothesis, no I/O) and then sent through the service's
in-process ASGI app, its lifespan entered, so the real store and broker are behind it.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import SECRET, auth, running

EXAMPLES = 6  # per operation: bounded, the three services in well under 90 s
ANY_TEXT_EXAMPLES = 3  # more per operation, their strings drawn from every code point
SERVICES = ["partners", "activities", "notifications"]


def _cases(operation, count: int) -> list:
    return _drawn(operation.as_strategy(), count)


def _drawn(strategy, count: int) -> list:
    found: list = []

    @given(strategy)
    @hsettings(max_examples=count, deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
    def collect(case) -> None:
        found.append(case)

    collect()
    return found


def _items(files):
    return files.items() if isinstance(files, dict) else files


def _part(value):
    if isinstance(value, tuple):
        return (value[0], _part(value[1]), *value[2:])
    if isinstance(value, (bytes, str)) or hasattr(value, "read"):
        return value
    return str(value)


async def _fuzz(service: str, settings) -> tuple[list[str], int]:
    failures: list[str] = []
    sent = 0
    async with running(service, settings) as (app, client):
        schema = schemathesis.openapi.from_dict(app.openapi())
        any_text = schemathesis.openapi.from_dict(app.openapi())
        any_text.config.generation.codec = None  # every code point, surrogates included
        headers = auth("admin")
        started = time.monotonic()
        for result, hostile in zip(schema.get_all_operations(), any_text.get_all_operations(), strict=True):
            operation = result.ok()
            for case in _cases(operation, EXAMPLES) + _cases(hostile.ok(), ANY_TEXT_EXAMPLES):
                kwargs = case.as_transport_kwargs(base_url=f"http://{service}")
                kwargs["headers"] = {**{k: v for k, v in kwargs.get("headers", {}).items()
                                        if k.lower() != "authorization"}, **headers}
                kwargs.pop("cookies", None)
                if "json" in kwargs:  # httpx writes UTF-8, which has no lone surrogates; JSON escapes them
                    kwargs["content"] = json.dumps(kwargs.pop("json")).encode()
                    kwargs["headers"].setdefault("Content-Type", "application/json")
                if "files" in kwargs:  # httpx wants bytes or str for a file part's content
                    kwargs["files"] = [(name, _part(value)) for name, value in _items(kwargs["files"])]
                if isinstance(kwargs.get("data"), (bytes, str)):
                    kwargs["content"] = kwargs.pop("data")
                method, url = kwargs.pop("method"), kwargs.pop("url")
                response = await client.request(method, url, timeout=30, **kwargs)
                sent += 1
                if operation.path == "/readyz" and response.status_code == 503:
                    continue  # its documented answer while the shared broker is restarted by the fault tests
                await response.request.aread()  # multipart bodies are streams; the checks read them
                try:
                    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
                except Exception as exc:  # noqa: BLE001 - every failure is reported, not just the first
                    failures.append(f"{operation.method.upper()} {operation.path} -> {response.status_code}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}\n"
                                    f"    {case.as_curl_command()}\n    body: {response.text[:300]}")
        assert time.monotonic() - started < 90
    return failures, sent


@pytest.mark.parametrize("service", SERVICES)
async def test_no_operation_answers_5xx_or_breaks_its_own_schema(service, settings):
    failures, sent = await _fuzz(service, settings)
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent} requests failed:\n" + "\n".join(failures)


# --- hostile tokens, keys and bodies on every write ---------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(st.characters(codec=None), max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _signed(role, regions, sub) -> str:
    now = datetime.now(UTC)
    return jwt.encode({"sub": sub, "role": role, "regions": regions, "exp": now + timedelta(hours=1)},
                      SECRET, algorithm="HS256")


_admin = st.just(["admin"]) | st.just({"admin": True}) | st.just(3)  # signed, but not a role
_tokens = st.one_of(
    st.just(None),
    st.builds(_signed, st.sampled_from(["viewer", "operator", "admin"]), st.just(["32.73"]), st.just("tester")),
    st.builds(_signed, _admin | _json, st.just(["32.73"]) | _json, st.just("tester") | _json),
    st.builds(lambda claims: jwt.encode(claims, "f" * 48, algorithm="HS256"),  # forged: another secret
              st.fixed_dictionaries({"sub": st.just("tester"), "role": st.just("admin"), "regions": st.just(["*"]),
                                     "exp": st.just(int(time.time()) + 3600)})),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40),
)
_bodies = st.one_of(
    st.sampled_from([
        b'{"name": "KIM\\u0000X", "type": "kim", "region": "32.73"}',  # NUL
        b'{"name": "KIM \\ud800", "type": "kim", "region": "32.73"}',  # a lone surrogate
        b"x" * (2 << 20),  # over the limit
        b"[" * 50_000,  # nested too deep
    ]),
    _json.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
)
_keys = st.one_of(st.none(), st.just("the-same-key"),
                  st.text(st.characters(codec="ascii", min_codepoint=33, max_codepoint=126), max_size=300))
_requests = st.tuples(_tokens, _keys, _bodies, st.booleans())
HOSTILE_EXAMPLES = 12  # per write operation


async def _send_hostile(client, path: str, method: str, request) -> tuple[int, str, str]:
    bearer, key, body, chunked = request
    headers = {"Content-Type": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if key is not None:
        headers["Idempotency-Key"] = key

    async def stream():
        for start in range(0, len(body), 64 << 10):
            yield body[start:start + (64 << 10)]

    response = await client.request(method, path, headers=headers, content=stream() if chunked else body,
                                    timeout=30)
    return response.status_code, response.headers.get("content-type", ""), response.text[:300]


@pytest.mark.parametrize("service", SERVICES)
async def test_hostile_tokens_keys_and_bodies_get_a_problem_never_a_5xx(service, settings):
    failures: list[str] = []
    async with running(service, settings) as (app, client):
        document = app.openapi()["paths"]
        writes = [(re.sub(r"{[^}]+}", "01J0000000000000000000HOST", path), method.upper())
                  for path, operations in document.items()
                  for method in operations if method in {"post", "put", "patch", "delete"}]
        # A page for people (an invitation's answer page) refuses with a page; every API a problem.
        pages = {re.sub(r"{[^}]+}", "01J0000000000000000000HOST", path) for path, operations in document.items()
                 if any("text/html" in (answer.get("content") or {}) for operation in operations.values()
                        for answer in operation.get("responses", {}).values())}
        for (path, method), request in zip(writes * HOSTILE_EXAMPLES,
                                           _drawn(_requests, len(writes) * HOSTILE_EXAMPLES), strict=False):
            status, media_type, text = await _send_hostile(client, path, method, request)
            # a page also gets a problem when the edge refuses first (a body over the limit)
            wanted = ("text/html", "application/problem+json") if path in pages else ("application/problem+json",)
            if status >= 500 or (status >= 400 and not media_type.startswith(wanted)):
                bearer, key, body, chunked = request
                failures.append(f"{method} {path} -> {status} {media_type}: {text}\n    token={bearer!r:.80} "
                                f"key={key!r:.40} chunked={chunked} body={body[:80]!r}")
    assert not failures, f"{len(failures)} hostile requests were not refused cleanly:\n" + "\n".join(failures)
