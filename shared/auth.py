"""API tokens: JWT HS256 with ``sub``, ``role``, ``regions``, ``exp`` (CONTRACT §2), and an optional
display ``name``.

``viewer`` reads, ``operator`` writes, ``admin`` also manages recipients and replays. A token
covers a region when it lists it, one of its parents (a province token ``32`` covers
``32.73``), or ``*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.logging import actor_id, actor_name
from shared.problems import Forbidden, Unauthorized
from shared.regions import is_region_code, within
from shared.settings import Settings

ALGORITHM = "HS256"
ASK_FOR_A_TOKEN = "send 'Authorization: Bearer <token>'; `sinergi token` mints one"

# Declares the scheme in OpenAPI (Swagger's Authorize button) on every route that authenticates;
# the refusal itself stays ours (problem+json), hence auto_error=False.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT (HS256) with `sub`, `role` (viewer, operator, admin), `regions` and `exp`; "
                "`sinergi token --role operator --region 32.73` mints one.",
    auto_error=False,
)


class Role(IntEnum):
    viewer = 1
    operator = 2
    admin = 3


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    regions: tuple[str, ...]
    name: str | None = None  # the token's display name claim, when it has one (the audit trail shows it)

    def covers(self, region: str) -> bool:
        return any(r == "*" or within(region, r) for r in self.regions)


def mint(secret: str, *, sub: str, role: str, regions: list[str], ttl: timedelta = timedelta(hours=12),
         name: str | None = None) -> str:
    if role not in Role.__members__:
        raise ValueError(f"role must be one of {', '.join(Role.__members__)}")
    for region in regions:
        if region != "*" and not is_region_code(region):
            raise ValueError(f"{region!r} is not a dotted Kemendagri region code such as 32.73")
    now = datetime.now(UTC)
    claims = {"sub": sub, "role": role, "regions": regions, "iat": now, "exp": now + ttl}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "regions", "exp"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired; ask for a new one") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the token is not valid: {exc}") from exc
    role, regions = claims.get("role"), claims.get("regions")
    if not isinstance(role, str) or role not in Role.__members__:
        raise Unauthorized(f"the token's role {role!r} is not one of {', '.join(Role.__members__)}")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise Unauthorized("the token's regions claim must be a list of region codes")
    name = claims.get("name")
    name = name.strip()[:200] if isinstance(name, str) else ""  # a display name only; never trusted for access
    return Principal(sub=str(claims["sub"]), role=Role[role], regions=tuple(regions), name=name or None)


def authenticate(settings: Settings, authorization: str) -> Principal:
    """The principal an ``Authorization`` header proves, valid for this instance's region.

    :class:`Unauthorized` without a verifiable token, :class:`Forbidden` for another region.
    Used by the route dependencies below and by the idempotency middleware, which must know who
    asks before it may replay anything.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(ASK_FOR_A_TOKEN)
    try:
        found = verify(settings.auth_secret or "", token.strip())
    except Unauthorized:
        if not settings.auth_secret_previous:
            raise
        found = verify(settings.auth_secret_previous, token.strip())
    if not found.covers(settings.region):
        raise Forbidden(
            f"this token covers {', '.join(found.regions)}; this instance serves region {settings.region}"
        )
    # The events this request records carry who made it (shared.events.make_event); the request's
    # shared.logging.bound undoes it afterwards.
    actor_id.set(found.sub)
    actor_name.set(found.name)
    return found


async def principal(request: Request,
                    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None) -> Principal:
    # async, so it runs in the request's own context: the actor it sets reaches the route (a plain
    # def would run in a worker thread, on a copy of the context).
    found = authenticate(request.app.state.settings, request.headers.get("authorization", ""))
    request.state.principal = found
    return found


def require(role: Role):  # noqa: ANN201 - a FastAPI dependency
    # async, as every dependency here: FastAPI runs a plain def in its thread pool, a hop per
    # dependency per request (issue 15: 0.4–0.7 ms of a request's ~2 ms of HTTP stack)
    async def dependency(found: Annotated[Principal, Depends(principal)]) -> Principal:
        if found.role < role:
            raise Forbidden(f"this needs the {role.name} role; the token has {found.role.name}")
        return found

    return dependency


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
