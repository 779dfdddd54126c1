"""``Idempotency-Key`` on every POST: a retried request returns the first result (CONTRACT §2).

Idempotency is data: the first request with a key inserts a claim document keyed by
``_id`` (atomic on MongoDB and FerretDB). The claim carries a pre-generated resource id
that create handlers use for the new aggregate (see :func:`resource_id`), so even if the
process dies between storing the aggregate and storing the response, the retry inserts
the same ``_id`` again and gets the existing resource instead of a second one.

- same key, same request, finished → the stored status, headers and body;
- same key while the first is still running → 409;
- same key with a different body or path → 422 (a client bug worth naming).
Keys are kept for 24 hours, pruned on a timer (FerretDB has no TTL indexes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from shared import problems
from shared.logging import get_logger

log = get_logger(__name__)

HEADER = b"idempotency-key"
RETENTION = timedelta(hours=24)
# A claim left "running" this long belongs to a request that died; a retry may take it over.
ABANDONED = timedelta(seconds=30)
# Statuses that depend on who asks or on a passing state, so a retry must be evaluated afresh.
NOT_REMEMBERED = {401, 403, 429}


class IdempotencyKeys:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["idempotency_keys"]

    async def prune(self) -> int:
        result = await self.collection.delete_many({"at": {"$lt": datetime.now(UTC) - RETENTION}})
        return result.deleted_count


def resource_id(request: Request) -> str:
    """The id for a resource this request creates: fixed per Idempotency-Key, else a new ULID."""
    return getattr(request.state, "resource_id", None) or str(ULID())


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(HEADER)
        if scope["type"] != "http" or scope["method"] != "POST" or not key:
            await self.app(scope, receive, send)
            return
        keys: IdempotencyKeys | None = getattr(scope["app"].state, "idempotency", None)
        if keys is None or len(key) > 255:
            if keys is not None:
                await _problem(scope, send, problems.InvalidField({"Idempotency-Key": "at most 255 characters"}))
                return
            await self.app(scope, receive, send)
            return

        body, receive = await _buffer(receive)
        claim_id = _scope_id(headers, key)
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        now = datetime.now(UTC)
        planned_id = str(ULID())
        try:
            await keys.collection.insert_one(
                {"_id": claim_id, "state": "running", "fingerprint": fingerprint, "resource_id": planned_id, "at": now}
            )
        except DuplicateKeyError:
            claim = await keys.collection.find_one({"_id": claim_id})
            if claim is None:  # pruned between the two calls: treat as new next time
                await _problem(scope, send, problems.Conflict("retry the request"))
                return
            if claim["fingerprint"] != fingerprint:
                await _problem(scope, send, problems.InvalidField(
                    {"Idempotency-Key": "this key was used for a different request; use a new key"}))
                return
            if claim["state"] == "done":
                await _replay(claim, send)
                return
            at = claim["at"] if claim["at"].tzinfo else claim["at"].replace(tzinfo=UTC)
            if now - at < ABANDONED:
                await _problem(scope, send, problems.Conflict(
                    "a request with this Idempotency-Key is still being processed; retry in a moment"))
                return
            # Take over an abandoned claim; the same resource id keeps the retry from creating twice.
            planned_id = claim["resource_id"]
            await keys.collection.update_one({"_id": claim_id}, {"$set": {"at": now}})

        scope.setdefault("state", {})["resource_id"] = planned_id
        captured: dict[str, Any] = {"headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await _settle(keys, claim_id, captured)


async def _settle(keys: IdempotencyKeys, claim_id: str, captured: dict[str, Any]) -> None:
    """Remember the response (or forget the claim, so a retry runs afresh)."""
    status = captured.get("status", 500)
    try:
        if status >= 500 or status in NOT_REMEMBERED:
            await keys.collection.delete_one({"_id": claim_id})
            return
        # A mapping, not pairs: FerretDB stores no nested arrays.
        stored_headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in captured["headers"]
            if k.lower() in (b"content-type", b"etag", b"location")
        }
        await keys.collection.update_one(
            {"_id": claim_id},
            {"$set": {"state": "done", "status": status, "headers": stored_headers,
                      "body": base64.b64encode(captured["body"]).decode(), "at": datetime.now(UTC)}},
        )
    except Exception:
        # The response has gone out; an unsettled claim is taken over after ABANDONED.
        log.exception("could not record the idempotent response", claim=claim_id)


def _scope_id(headers: dict[bytes, bytes], key: bytes) -> str:
    # Keys are scoped to the caller. The subject is read without verifying the token: it
    # only namespaces keys, the route itself still authenticates the request.
    subject = "anonymous"
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        try:
            subject = str(jwt.decode(auth[7:].strip(), options={"verify_signature": False}).get("sub", "anonymous"))
        except jwt.InvalidTokenError:
            subject = "invalid-token"
    return hashlib.sha256(f"{subject}\0".encode() + key).hexdigest()


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay_receive


async def _replay(claim: dict[str, Any], send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in claim.get("headers", {}).items()]
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": claim["status"], "headers": headers})
    await send({"type": "http.response.body", "body": base64.b64decode(claim["body"])})


async def _problem(scope: Scope, send: Send, problem: problems.Problem) -> None:
    body = json.dumps(problem.body(scope["path"])).encode()
    await send({"type": "http.response.start", "status": problem.status,
                "headers": [(b"content-type", problems.MEDIA_TYPE.encode())]})
    await send({"type": "http.response.body", "body": body})
