"""The net under the middleware (shared.web.Guard): an exception that escapes a middleware is a
problem+json answer, not a dropped connection (issue 11 point 8). No I/O: the failing part is a
fake of our own idempotency store, which no real store can be made to fail like on demand."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest

from shared.auth import mint
from shared.settings import Settings
from shared.web import create_app

SECRET = "g" * 48


class _Failing:
    """``IdempotencyKeys`` whose collection fails as a bug or a lost store would."""

    class collection:  # noqa: N801 - the attribute name of IdempotencyKeys
        @staticmethod
        async def insert_one(doc: dict) -> None:
            raise RuntimeError("the claim could not be written")


@asynccontextmanager
async def _nothing(app):
    yield


@pytest.fixture
def client():
    app = create_app(Settings(auth_secret=SECRET, region="32.73"), "probe", _nothing)
    app.state.idempotency = _Failing()

    @app.post("/things", status_code=201)
    async def make() -> dict[str, str]:
        return {"made": "yes"}

    # raise_app_exceptions: an exception that left the app would fail the test here, as it
    # would make uvicorn drop the connection
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=True),
                             base_url="http://probe", headers={"Accept-Language": "en"})


async def test_an_exception_escaping_a_middleware_is_a_500_problem_with_the_request_id(client):
    token = mint(SECRET, sub="rina", role="operator", regions=["32.73"])
    async with client:
        response = await client.post("/things", json={}, headers={"Authorization": f"Bearer {token}",
                                                                  "Idempotency-Key": "k", "X-Request-ID": "req-7"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-request-id"] == "req-7"
        assert response.json() | {"detail": "-"} == {
            "type": "/problems/internal", "title": "Internal error", "status": 500, "detail": "-",
            "instance": "/things", "request_id": "req-7"}
        assert "claim could not be written" not in response.text
        # the same request without the key does not touch the failing part
        fine = await client.post("/things", json={}, headers={"Authorization": f"Bearer {token}"})
        assert fine.status_code == 201
        metrics = (await client.get("/metrics")).text
        assert 'sinergi_http_requests_total{method="POST",route="unmatched",status="500"} 1.0' in metrics
