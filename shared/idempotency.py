"""``Idempotency-Key`` on every POST: a retried request returns the first result (CONTRACT §2).

Idempotency is data: the first request with a key inserts a claim document keyed by
``_id`` (atomic on MongoDB and FerretDB). The claim carries a pre-generated resource id
that create handlers use for the new aggregate (see :func:`resource_id`), so even if the
process dies between storing the aggregate and storing the response, the retry inserts
the same ``_id`` again and gets the existing resource instead of a second one.

Keys belong to the caller: the token is verified *before* any claim is looked at, and the
claim's id is derived from the verified principal (subject, role and regions), so a stored
answer is replayed only to the one who got it first. A request without a valid token passes
through untouched, to be refused by its route (401/403).

- same key, same request, finished → the stored status, headers and body;
- same key while the first is still running → 409;
- same key with a different body or path → 422 (a client bug worth naming).
The answer is stored before it is sent, so a retry made the moment it arrives is a replay.
Answers the client can fix (400, 413, 422) or that depend on who asks or on a passing state (401,
403, 429) are not kept: the same key may be used again. A request that failed (5xx, or no whole
answer) leaves its claim *open*: its retry runs again at once, with the same resource id, because
the write may have been stored before the failure (a connection cut after the store applied it) —
forgotten instead, the retry created a second activity (the two-process steady stream, CI). Keys
are kept for 24 hours, pruned on a timer (FerretDB has no TTL indexes).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from shared import problems
from shared.auth import Principal, authenticate
from shared.logging import get_logger
from shared.mongo import WhenBack, when_free

log = get_logger(__name__)

HEADER = b"idempotency-key"
RETENTION = timedelta(hours=24)
# A claim left "running" this long belongs to a request that died; a retry may take it over.
ABANDONED = timedelta(seconds=30)
# Answers a retry must get afresh: input the client can correct (400, 413, 422), and what
# depends on who asks or on a passing state (401, 403, 429). Nothing was changed by them.
NOT_REMEMBERED = {400, 401, 403, 413, 422, 429}


class IdempotencyKeys:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db["idempotency_keys"]
        self._later = WhenBack()

    def later(self, claim_id: str, write: Callable[[], Awaitable[Any]]) -> None:
        """Let go of a claim the moment the store answers again: left "running", every retry of its
        key was refused 409 for ABANDONED (the two-process steady stream accepted no write in the
        5 s after a store restart: its writers all retried such keys)."""
        self._later.run(write, ABANDONED.total_seconds(), f"let-go-claim-{claim_id[:12]}")

    async def prune(self) -> int:
        result = await self.collection.delete_many({"at": {"$lt": datetime.now(UTC) - RETENTION}})
        return result.deleted_count


def resource_id(request: Request) -> str:
    """The id for a resource this request creates: fixed per Idempotency-Key, else a new ULID."""
    return getattr(request.state, "resource_id", None) or str(ULID())


class IdempotencyMiddleware:
    """Replays a POST's first answer to its retries. Its refusals (422, 409) are raised, and
    answered as problem+json by ``shared.web.Guard``, with the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(HEADER)
        if scope["type"] != "http" or scope["method"] != "POST" or not key:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        keys: IdempotencyKeys | None = getattr(state, "idempotency", None)
        who = _verified(state, headers)
        if keys is None or who is None:  # no store of keys, or nobody to replay to: the route decides
            await self.app(scope, receive, send)
            return
        if len(key) > 255:
            raise problems.InvalidField({"Idempotency-Key": "at most 255 characters"})

        buffered = await _buffer(receive)
        if buffered is None:  # the client left before its body was in: there is no one to answer
            return
        body, receive = buffered
        claim_id = _claim_id(who, key)
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + body).hexdigest()
        now = datetime.now(UTC)
        planned_id = str(ULID())
        try:
            await when_free(lambda: keys.collection.insert_one(
                {"_id": claim_id, "state": "running", "fingerprint": fingerprint, "resource_id": planned_id, "at": now}
            ))
        except DuplicateKeyError:
            claim = await keys.collection.find_one({"_id": claim_id})
            if claim is None:  # pruned or forgotten between the two calls: treat as new next time
                raise problems.Conflict("retry the request")
            if claim["fingerprint"] != fingerprint:
                raise problems.InvalidField(
                    {"Idempotency-Key": "this key was used for a different request; use a new key"})
            if claim["state"] == "done":
                await _replay(claim, send)
                return
            at = claim["at"] if claim["at"].tzinfo else claim["at"].replace(tzinfo=UTC)
            if claim["state"] == "running" and now - at < ABANDONED:
                # in_progress says it for programs: the detail is in the reader's language
                raise problems.Conflict(
                    "a request with this Idempotency-Key is still being processed; retry in a moment",
                    in_progress=True, headers={"Retry-After": "1"})
            # Take over a failed or abandoned claim; the same resource id keeps the retry from
            # creating twice.
            planned_id = claim["resource_id"]
            await when_free(lambda: keys.collection.update_one({"_id": claim_id},
                                                               {"$set": {"state": "running", "at": now}}))

        scope.setdefault("state", {})["resource_id"] = planned_id
        held: list[Message] = []
        settled = False

        async def record_then_send(message: Message) -> None:
            # The answer is held back until it is whole and stored: a client that retries the
            # moment it has the answer must find it, not a claim still "running" (409).
            nonlocal settled
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await _settle(keys, claim_id, held)
                settled = True
                for part in held:
                    await send(part)

        try:
            await self.app(scope, receive, record_then_send)
        finally:
            if not settled:  # the route failed before a whole answer: let a retry run again
                await _reopen(keys, claim_id)


def _verified(state: object, headers: dict[bytes, bytes]) -> Principal | None:
    """Who asks, from a token verified as the routes verify it; ``None`` for anyone else."""
    settings = getattr(state, "settings", None)
    if settings is None:
        return None
    try:
        return authenticate(settings, headers.get(b"authorization", b"").decode("latin-1"))
    except problems.Problem:  # Unauthorized, Forbidden: the route answers them
        return None


def _claim_id(who: Principal, key: bytes) -> str:
    # The whole principal, not the subject alone: a viewer's token with an admin's subject is
    # someone else, and must not be shown what the admin's request created.
    principal = "\0".join([who.sub, who.role.name, *sorted(who.regions)])
    return hashlib.sha256(principal.encode() + b"\0\0" + key).hexdigest()


async def _forget(keys: IdempotencyKeys, claim_id: str) -> None:
    """The request changed nothing (refused): the key may be used again, for any body."""
    # By _id alone: FerretDB scans the collection for any other filter.
    await _let_go(keys, claim_id, "forget", lambda: keys.collection.delete_one({"_id": claim_id}))


async def _reopen(keys: IdempotencyKeys, claim_id: str) -> None:
    """The request failed, perhaps after its write was stored: a retry of the same request runs
    again at once, with the same resource id (never a second resource)."""
    await _let_go(keys, claim_id, "reopen",
                  lambda: keys.collection.update_one({"_id": claim_id}, {"$set": {"state": "open"}}))


async def _let_go(keys: IdempotencyKeys, claim_id: str, what: str, write: Callable[[], Awaitable[Any]]) -> None:
    try:
        await when_free(write)
    except Exception:
        log.exception(f"could not {what} an idempotency claim; doing it once the store answers", claim=claim_id)
        keys.later(claim_id, write)


async def _settle(keys: IdempotencyKeys, claim_id: str, held: list[Message]) -> None:
    """Remember the answer (or let go of the claim, so a retry runs again)."""
    start = next((m for m in held if m["type"] == "http.response.start"), {})
    status = start.get("status", 500)
    if status >= 500:
        await _reopen(keys, claim_id)
        return
    if status in NOT_REMEMBERED:
        await _forget(keys, claim_id)
        return
    # A mapping, not pairs: FerretDB stores no nested arrays.
    stored_headers = {
        k.decode("latin-1").lower(): v.decode("latin-1")
        for k, v in start.get("headers", [])
        if k.lower() in (b"content-type", b"etag", b"location")
    }
    body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    try:
        await when_free(lambda: keys.collection.update_one(
            {"_id": claim_id},
            {"$set": {"state": "done", "status": status, "headers": stored_headers,
                      "body": base64.b64encode(body).decode(), "at": datetime.now(UTC)}},
        ))
    except Exception:
        # The change is made; its answer still goes out. Unsettled, the claim is taken over by a
        # retry after ABANDONED, which reuses the resource id and so creates nothing twice.
        log.exception("could not record the idempotent response", claim=claim_id)


async def _buffer(receive: Receive) -> tuple[bytes, Receive] | None:
    """The whole body, and a receive that hands it on; ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
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
