"""The HTTP edge probed as an attacker and a careless client would (issue 11, points 4, 8, 9, 13),
on the partners service in this process, with the real store and broker behind it."""

from __future__ import annotations

import re

import jwt

from tests.conftest import REGION, auth, running, token

KIM = {"name": "KIM Sekarbela", "type": "kim", "region": REGION}
JSON = {"content-type": "application/json"}


def _bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def _forged_admin() -> str:
    """The admin's own claims (same subject), signed with a secret that is not the service's."""
    claims = jwt.decode(token("admin"), options={"verify_signature": False})
    return jwt.encode(claims, "f" * 48, algorithm="HS256")


async def _partners(app) -> int:
    return await app.state.infra.db["partners"].count_documents({})


def _is_problem(response, status: int) -> bool:
    return (response.status_code == status
            and response.headers["content-type"] == "application/problem+json"
            and response.json()["status"] == status)


# --- point 4: an idempotent replay comes after authentication, and only to its principal -------

async def test_a_stored_answer_is_replayed_to_no_one_but_the_principal_who_got_it(settings):
    async with running("partners", settings) as (app, client):
        key = {"Idempotency-Key": "register-sekarbela"}
        first = await client.post("/partners", json=KIM, headers={**auth("admin"), **key})
        assert first.status_code == 201, first.text

        forged = await client.post("/partners", json=KIM, headers={**_bearer(_forged_admin()), **key})
        assert _is_problem(forged, 401), forged.text
        assert first.json()["id"] not in forged.text

        viewer = await client.post("/partners", json=KIM, headers={**auth("viewer"), **key})
        assert _is_problem(viewer, 403), viewer.text
        assert first.json()["id"] not in viewer.text

        again = await client.post("/partners", json=KIM, headers={**auth("admin"), **key})
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert await _partners(app) == 1


async def test_an_answer_the_client_can_correct_is_not_kept_under_its_key(settings):
    async with running("partners", settings) as (app, client):
        key = {**auth(), "Idempotency-Key": "register-once"}
        missing_type = await client.post("/partners", json={"name": "KIM Sekarbela", "region": REGION}, headers=key)
        assert _is_problem(missing_type, 422), missing_type.text
        nul = await client.post("/partners", content=b'{"name": "KIM\\u0000", "type": "kim", "region": "32.73"}',
                                headers={**key, **JSON})
        assert _is_problem(nul, 400), nul.text

        fixed = await client.post("/partners", json=KIM, headers=key)
        assert fixed.status_code == 201, fixed.text
        assert "idempotent-replayed" not in fixed.headers
        assert await _partners(app) == 1


# --- point 8: hostile bodies and tokens get a 4xx problem, never a 500 or a dropped connection --

async def test_hostile_bodies_with_an_idempotency_key_get_a_problem_and_change_nothing(settings):
    async with running("partners", settings) as (app, client):
        async def two_megabytes():
            for _ in range(20):
                yield b"x" * (100 << 10)

        cases = {
            "NUL": (b'{"name": "KIM\\u0000X", "type": "kim", "region": "32.73"}', 400),
            "raw NUL": (b'{"name": "KIM\x00X", "type": "kim", "region": "32.73"}', 400),
            "chunked 2 MB": (two_megabytes(), 413),
            "lone surrogate": (b'{"name": "KIM \\ud800", "type": "kim", "region": "32.73"}', 422),
            "a low surrogate first": (b'{"name": "KIM \\udc00\\ud800", "type": "kim", "region": "32.73"}', 422),
        }
        for n, (case, (body, status)) in enumerate(cases.items()):
            response = await client.post("/partners", content=body,
                                         headers={**auth(), **JSON, "Idempotency-Key": f"hostile-{n}"})
            assert _is_problem(response, status), (case, response.status_code, response.text)
            assert response.json()["request_id"] == response.headers["x-request-id"], case
        assert await _partners(app) == 0


async def test_a_lone_surrogate_is_refused_naming_the_field_and_a_real_pair_is_welcome(settings):
    async with running("partners", settings) as (app, client):
        body = b'{"name": "KIM Sekarbela", "type": "kim", "region": "32.73", "notes": "a \\\\ud800 b \\uDBFF"}'
        refused = await client.post("/partners", content=body, headers={**auth(), **JSON})
        assert _is_problem(refused, 422), refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["notes"]
        assert await _partners(app) == 0
        # an escaped backslash before "ud800" is text, and a surrogate pair is one character
        emoji = b'{"name": "KIM Sekarbela \\ud83d\\uDE00", "type": "kim", "region": "32.73", "notes": "a \\\\ud800"}'
        created = await client.post("/partners", content=emoji, headers={**auth(), **JSON})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "KIM Sekarbela \U0001F600"
        assert created.json()["notes"] == "a \\ud800"


async def test_a_signed_token_with_a_role_of_the_wrong_shape_is_401(settings):
    async with running("partners", settings) as (_, client):
        claims = jwt.decode(token("admin"), options={"verify_signature": False})
        for role in (["admin"], {"admin": True}, 3, None, True):
            signed = jwt.encode({**claims, "role": role}, settings.auth_secret, algorithm="HS256")
            for headers in ({}, {"Idempotency-Key": f"role-{role!r}"}):
                response = await client.post("/partners", json=KIM, headers={**_bearer(signed), **headers})
                assert _is_problem(response, 401), (role, response.text)


# --- point 9: /metrics stays bounded whatever methods and paths clients make up ----------------

async def test_made_up_methods_and_paths_do_not_grow_the_metrics(settings):
    async with running("partners", settings) as (_, client):
        def series(text: str) -> set[str]:
            return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("sinergi_http_")}

        async def probe(n: int) -> None:
            await client.request(f"FOO{n}", "/partners", headers=auth())
            await client.request(f"BAR{n}", f"/nowhere/{n}")
            await client.get(f"/no-such-path-{n}")

        await probe(0)
        before = (await client.get("/metrics")).text
        for n in range(1, 60):
            await probe(n)
        after = (await client.get("/metrics")).text
        assert series(after) - series(before) <= {s for s in series(after) if 'route="/metrics"' in s}
        assert not re.search(r'method="(FOO|BAR)', after)
        assert 'method="other",route="unmatched"' in after


# --- point 13: the OpenAPI document says what the edge does ------------------------------------

async def test_the_openapi_document_declares_the_token_the_headers_and_the_problems(settings):
    async with running("partners", settings) as (app, client):
        document = (await client.get("/openapi.json")).json()
        assert document["components"]["securitySchemes"]["bearer"] == {
            **document["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer",
            "bearerFormat": "JWT"}
        paths = document["paths"]

        def parameters(operation: dict) -> set[str]:
            return {p["name"] for p in operation.get("parameters", [])}

        register, revise = paths["/partners"]["post"], paths["/partners/{partner_id}"]["patch"]
        assert register["security"] == [{"bearer": []}]
        assert "Idempotency-Key" in parameters(register) and "If-Match" not in parameters(register)
        assert {"If-Match"} <= parameters(revise) and "Idempotency-Key" not in parameters(revise)
        assert {"401", "403", "409", "413", "422", "503"} <= set(register["responses"])
        assert {"401", "403", "404", "409", "412", "413", "422", "503"} <= set(revise["responses"])
        problem = {"$ref": "#/components/schemas/Problem"}
        assert revise["responses"]["422"]["content"] == {"application/problem+json": {"schema": problem}}
        assert "security" not in paths["/healthz"]["get"] and "401" not in paths["/healthz"]["get"]["responses"]
        for path, operations in paths.items():
            for method, operation in operations.items():
                if path not in {"/healthz", "/readyz", "/metrics"}:
                    assert operation["security"] == [{"bearer": []}], (method, path)
                    assert {"401", "403", "422", "503"} <= set(operation["responses"]), (method, path)
        # what the document promises, the service does
        refused = await client.post("/partners", json=KIM)
        assert _is_problem(refused, 401)
        assert (await client.get("/docs")).status_code == 200
