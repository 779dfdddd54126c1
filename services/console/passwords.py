"""Password hashes: argon2id with argon2-cffi's current defaults (RFC 9106's second choice)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
# Verified against when the account does not exist, so a login takes as long either way.
_DUMMY = HASHER.hash("not a password of anyone")


async def hashed(password: str) -> str:
    # A hash costs tens of milliseconds of CPU: off the event loop, so other pages keep serving.
    return await asyncio.to_thread(HASHER.hash, password)


async def matches(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
