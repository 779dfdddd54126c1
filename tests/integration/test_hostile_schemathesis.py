"""Hostile input: schemathesis against each service's own OpenAPI document, with an admin token.

Every operation of every service gets a few generated requests (valid and schema-shaped);
none may be answered with a 5xx, and a response the operation documents must match its schema.
The cases are generated first (hypothesis, no I/O) and then sent through the service's
in-process ASGI app, its lifespan entered, so the real store and broker are behind it.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import auth, running

EXAMPLES = 6  # per operation: bounded, the three services in well under 90 s
SERVICES = ["partners", "activities", "notifications"]


def _cases(operation, count: int) -> list:
    found: list = []

    @given(operation.as_strategy())
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
        headers = auth("admin")
        started = time.monotonic()
        for result in schema.get_all_operations():
            operation = result.ok()
            for case in _cases(operation, EXAMPLES):
                kwargs = case.as_transport_kwargs(base_url=f"http://{service}")
                kwargs["headers"] = {**{k: v for k, v in kwargs.get("headers", {}).items()
                                        if k.lower() != "authorization"}, **headers}
                kwargs.pop("cookies", None)
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
