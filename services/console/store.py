"""The console's database: users, their e-mail claims, sessions, invitations, failed logins.

FerretDB's rules shape it (docs/architecture.md): an e-mail is claimed by inserting its
``_id`` (atomic), a session and an invitation are found by ``_id`` (the hash of the secret the
browser or the link holds, so the database never holds a usable secret), and a user is changed
under the user's in-process lock with the version as the condition.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from ulid import ULID

from services.console.accounts import EmailTaken, Invitation, Role, UnknownUser, User
from shared.errors import Unavailable
from shared.locks import KeyedLocks
from shared.mongo import when_free


def secret_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Users:
    def __init__(self, db: AsyncDatabase) -> None:
        self.users = db["users"]
        self.emails = db["user_emails"]
        self.locks = KeyedLocks()

    async def add(self, user: User) -> User:
        """Stores a new user, or :class:`EmailTaken` (with the existing user's id)."""
        try:
            await when_free(lambda: self.emails.insert_one({"_id": user.email, "user_id": user.id}))
        except DuplicateKeyError:
            claim = await self.emails.find_one({"_id": user.email})
            raise EmailTaken(f"{user.email} already has an account",
                             existing_id=claim["user_id"] if claim else None) from None
        await when_free(lambda: self.users.insert_one(_doc(user)))
        return user

    async def get(self, user_id: str) -> User | None:
        doc = await self.users.find_one({"_id": user_id})
        return _user(doc) if doc else None

    async def require(self, user_id: str) -> User:
        found = await self.get(user_id)
        if found is None:
            raise UnknownUser(f"no user {user_id}")
        return found

    async def by_email(self, email: str) -> User | None:
        claim = await self.emails.find_one({"_id": email})
        return await self.get(claim["user_id"]) if claim else None

    async def all(self) -> list[User]:
        # A console has tens of users, not thousands: one scan is fine.
        return [_user(d) for d in await self.users.find({}).sort("_id", 1).to_list(1000)]

    async def count(self) -> int:
        return await self.users.count_documents({})

    async def change(self, user_id: str, change: Any, attempts: int = 5) -> User:
        """Applies ``change(user) -> user`` under the user's lock, the version as the condition; a
        user changed meanwhile by another process (``sinergi users``) is read again and the change
        applied to what it is now."""
        async with self.locks(user_id):
            for _ in range(attempts):
                user = await self.require(user_id)
                changed = change(user)
                if changed == user:
                    return user
                result = await when_free(lambda: self.users.replace_one(
                    {"_id": user_id, "version": user.version}, _doc(changed)))  # noqa: B023 - awaited here
                if result.matched_count == 1:
                    return changed
            raise Unavailable("the store is busy with other writes; nothing was changed, try again in a moment")


def _doc(user: User) -> dict[str, Any]:
    doc = asdict(user)
    doc["_id"] = doc.pop("id")
    doc["role"] = user.role.value
    return doc


def _user(doc: dict[str, Any]) -> User:
    values = {k: v for k, v in doc.items() if k != "_id"}
    return User(id=doc["_id"], **{**values, "role": Role(doc["role"])})


class Sessions:
    """A session is a document under the hash of the cookie's random id."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.sessions = db["sessions"]

    async def open(self, secret: str, user_id: str, csrf: str, language: str, now: datetime,
                   expires: datetime) -> None:
        await when_free(lambda: self.sessions.insert_one({
            "_id": secret_key(secret), "user_id": user_id, "csrf": csrf, "language": language,
            "created_at": now, "expires_at": expires}))

    async def find(self, secret: str) -> dict[str, Any] | None:
        return await self.sessions.find_one({"_id": secret_key(secret)})

    async def set_language(self, secret: str, language: str) -> None:
        await when_free(lambda: self.sessions.update_one({"_id": secret_key(secret)},
                                                         {"$set": {"language": language}}))

    async def close(self, secret: str) -> None:
        await when_free(lambda: self.sessions.delete_one({"_id": secret_key(secret)}))

    async def close_all(self, user_id: str) -> int:
        result = await when_free(lambda: self.sessions.delete_many({"user_id": user_id}))
        return result.deleted_count

    async def prune(self, now: datetime) -> int:
        result = await when_free(lambda: self.sessions.delete_many({"expires_at": {"$lt": now}}))
        return result.deleted_count


class Invitations:
    def __init__(self, db: AsyncDatabase) -> None:
        self.invitations = db["invitations"]
        self.used = db["invitations_used"]

    async def add(self, invitation: Invitation) -> None:
        doc = {"_id": invitation.id, "user_id": invitation.user_id, "expires_at": invitation.expires_at,
               "invited_by": invitation.invited_by}
        await when_free(lambda: self.invitations.insert_one(doc))

    async def find(self, token: str) -> Invitation | None:
        doc = await self.invitations.find_one({"_id": Invitation.key(token)})
        if doc is None or await self.used.find_one({"_id": doc["_id"]}):
            return None
        return Invitation(doc["_id"], doc["user_id"], doc["expires_at"], doc.get("invited_by"))

    async def use(self, invitation: Invitation) -> bool:
        """Claims the invitation by inserting its use: only one of two clicks on a link wins."""
        try:
            await when_free(lambda: self.used.insert_one({"_id": invitation.id, "user_id": invitation.user_id}))
            return True
        except DuplicateKeyError:
            return False


class LoginFailures:
    """One document per failed login, under each key it counts against (account, address)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.failures = db["login_failures"]

    async def record(self, keys: list[str], now: datetime) -> None:
        docs = [{"_id": str(ULID()), "key": key, "at": now} for key in keys]
        await when_free(lambda: self.failures.insert_many(docs))

    async def count(self, key: str, since: datetime) -> int:
        return await self.failures.count_documents({"key": key, "at": {"$gte": since}})

    async def forget(self, key: str) -> None:
        await when_free(lambda: self.failures.delete_many({"key": key}))

    async def prune(self, before: datetime) -> int:
        result = await when_free(lambda: self.failures.delete_many({"at": {"$lt": before}}))
        return result.deleted_count
