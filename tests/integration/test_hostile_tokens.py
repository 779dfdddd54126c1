"""Hostile tokens over HTTP, on each service: forged, expired, or for another region → 401/403,
and nothing is written; a viewer cannot write."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from tests.conftest import SECRET, auth, running, token
from tests.integration.test_activities_helpers import activity_body

WRITES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    # service: (write path, read path, body, collection holding what a write creates)
    "partners": ("/partners", "/partners", {"name": "KIM Sekarbela", "type": "kim", "region": "32.73"}, "partners"),
    "activities": ("/activities", "/activities", activity_body(), "activities"),
    "notifications": ("/recipients", "/recipients",
                      {"name": "Rina", "kind": "staff", "email": "rina@kpu-bandung.go.id"}, "recipients"),
}


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {"sub": "mallory", "role": "admin", "regions": ["32.73"], "iat": int(now.timestamp()),
              "exp": int((now + timedelta(hours=1)).timestamp())}
    claims.update(overrides)
    return claims


def hostile() -> dict[str, tuple[str, int]]:
    """name: (token, expected status)"""
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}."
    return {
        "alg none": (unsigned, 401),
        "alg none, signature kept": (unsigned + "c2lnbmF0dXJl", 401),
        "wrong secret": (jwt.encode(_claims(), "w" * 48, algorithm="HS256"), 401),
        "HS512 with our secret": (jwt.encode(_claims(), SECRET, algorithm="HS512"), 401),
        "tampered payload": (_tamper(token("viewer")), 401),
        "expired": (jwt.encode(_claims(exp=int(datetime.now(UTC).timestamp()) - 60), SECRET, algorithm="HS256"), 401),
        "no exp": (jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"), 401),
        "unknown role": (jwt.encode(_claims(role="root"), SECRET, algorithm="HS256"), 401),
        "regions not a list": (jwt.encode(_claims(regions="*"), SECRET, algorithm="HS256"), 401),
        # signed with our secret, but of the wrong shape: a 401, never a 500
        "role a list": (jwt.encode(_claims(role=["admin"]), SECRET, algorithm="HS256"), 401),
        "role an object": (jwt.encode(_claims(role={"admin": True}), SECRET, algorithm="HS256"), 401),
        "role a number": (jwt.encode(_claims(role=3), SECRET, algorithm="HS256"), 401),
        "role null": (jwt.encode(_claims(role=None), SECRET, algorithm="HS256"), 401),
        "regions nested": (jwt.encode(_claims(regions=[["32.73"]]), SECRET, algorithm="HS256"), 401),
        "sub a list": (jwt.encode(_claims(sub=["mallory"]), SECRET, algorithm="HS256"), 401),
        "garbage": ("not.a.jwt", 401),
        "another region": (token("admin", ["33.16"]), 403),
        "a sibling province": (token("admin", ["33"]), 403),
        "a child district only": (token("admin", ["32.73.02"]), 403),
    }


def _tamper(good: str) -> str:
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    return f"{header}.{_b64(claims)}.{signature}"


@pytest.mark.parametrize("service", list(WRITES))
async def test_hostile_tokens_are_refused_and_change_nothing(service, settings):
    write, read, body, collection = WRITES[service]
    async with running(service, settings) as (app, client):
        db = app.state.infra.db
        before = await db[collection].count_documents({})
        for name, (bad, status) in hostile().items():
            headers = {"Authorization": f"Bearer {bad}"}
            for method, path in (("POST", write), ("GET", read)):
                for key in ({}, {"Idempotency-Key": f"hostile-{name}"}):  # a key changes nothing
                    response = await client.request(method, path, headers={**headers, **key},
                                                    json=body if method == "POST" else None)
                    assert response.status_code == status, (name, method, path, key, response.text)
                    assert response.headers["content-type"] == "application/problem+json", name
                    assert "Traceback" not in response.text
        for header in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
            assert (await client.post(write, json=body, headers=header)).status_code == 401, header
        viewer = await client.post(write, json=body, headers=auth("viewer"))
        assert viewer.status_code == 403, viewer.text
        assert await db[collection].count_documents({}) == before
        # the same request with a good token does write: the refusals above were about the token
        ok = await client.post(write, json=body, headers=auth("admin"))
        assert ok.status_code == 201, ok.text
        assert await db[collection].count_documents({}) == before + 1
