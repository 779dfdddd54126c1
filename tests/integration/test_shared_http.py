"""What every service's HTTP side promises, shown on the partners service."""

from __future__ import annotations

import httpx

from tests.conftest import auth, eventually, make_settings, running, token


async def _count(app) -> int:
    return await app.state.infra.db["partners"].count_documents({})


async def test_bad_bodies_get_a_problem_and_change_nothing(settings):
    async with running("partners", settings) as (app, client):
        headers = {**auth(), "content-type": "application/json"}
        cases = {
            "declared too large": (b'{"name": "' + b"a" * (2 << 20) + b'"}', 413),
            "deeply nested": (b"[" * 100_000 + b"]" * 100_000, 400),
            "invalid UTF-8": (b'{"name": "\xff\xfe", "type": "kim", "region": "32.73"}', 400),
            "NUL character": (b'{"name": "KIM\\u0000X", "type": "kim", "region": "32.73"}', 400),
            "operator as value": (b'{"name": {"$gt": ""}, "type": "kim", "region": "32.73"}', 422),
            "operator as key": (b'{"name": "x", "type": "kim", "region": "32.73", "$where": "1"}', 422),
            "not JSON": (b"nama=KIM", 422),
        }
        for case, (body, status) in cases.items():
            response = await client.post("/partners", content=body, headers=headers)
            assert response.status_code == status, (case, response.text)
            assert response.headers["content-type"] == "application/problem+json", case
            problem = response.json()
            assert problem["status"] == status and problem["title"] and problem["detail"], case
            assert "Traceback" not in response.text
        assert await _count(app) == 0


async def test_a_body_streamed_past_the_limit_is_refused_with_413(settings):
    async with running("partners", settings) as (app, client):
        async def chunks():
            for _ in range(20):
                yield b"x" * (100 << 10)

        response = await client.post("/partners", content=chunks(), headers={**auth(), "content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["type"] == "/problems/too-large"
        assert await _count(app) == 0


async def test_operational_routes_need_no_token_and_tell_the_truth(settings):
    async with running("partners", settings) as (_, client):
        assert (await client.get("/healthz")).status_code == 200
        # The broker connects in the background after start: ready soon, not necessarily at once.
        async def ready():
            response = await client.get("/readyz")
            return response.status_code == 200 and response.json()

        assert (await eventually(ready, timeout=30))["checks"] == {"database": "ok", "broker": "ok"}
        await client.get("/partners/nope", headers=auth("viewer"))
        metrics = (await client.get("/metrics")).text
        assert 'sinergi_http_requests_total{method="GET",route="/partners/{partner_id}",status="404"} 1.0' in metrics
        assert "sinergi_events_published_total" in metrics
        assert (await client.get("/docs")).status_code == 200


async def test_readyz_is_503_when_the_database_is_unreachable(servers, run_id, unique):
    settings = make_settings(servers, f"{run_id}{unique}")
    async with running("partners", settings) as (app, client):
        app.state.readiness = {**app.state.readiness, "database": _down}
        response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["checks"]["database"] == "down"


async def _down() -> bool:
    raise ConnectionError("store away")


async def test_tokens_signed_with_the_previous_secret_work_during_a_rotation(servers, run_id, unique):
    old = "o" * 48
    settings = make_settings(servers, f"{run_id}{unique}", auth_secret="n" * 48, auth_secret_previous=old)
    async with running("partners", settings) as (_, client):
        response = await client.get("/partners/x", headers={"Authorization": f"Bearer {token('viewer', secret=old)}"})
        assert response.status_code == 404  # authenticated, then not found
        forged = await client.get("/partners/x", headers={"Authorization": f"Bearer {token('viewer', secret='f' * 48)}"})
        assert forged.status_code == 401


async def test_unknown_paths_and_methods_are_problems_too(settings):
    async with running("partners", settings) as (_, client):
        missing = await client.get("/nowhere")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        wrong = await client.delete("/healthz")
        assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/problem+json"
        assert isinstance(missing.json()["request_id"], str)
        assert httpx.codes.is_client_error(wrong.status_code)
