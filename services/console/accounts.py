"""The console's domain: staff users, their roles and regions, invitations. No I/O.

A user signs in with an e-mail and a password; the role decides what the services let them do
(the console mints their tokens with it), the regions which regions' data. An invitation is a
one-time, expiring link to set a first password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.errors import Conflict, NotFound

MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 takes any length; a bound keeps one login from costing a lot
MAX_NAME = 200


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    viewer = "viewer"


class UnknownUser(NotFound):
    pass


class EmailTaken(Conflict):
    pass


class InvitationUnusable(Conflict):
    """Used already, expired, or never issued: the same answer for each, so a link reveals nothing."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: Role
    regions: list[str]
    password_hash: str | None = None  # none until an invitation is accepted
    active: bool = True
    recipient_id: str | None = None  # the staff recipient in notifications (their inbox)
    version: int = 1
    created_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def can_write(self) -> bool:
        return self.role in (Role.admin, Role.operator)

    def disabled(self) -> User:
        return replace(self, active=False, version=self.version + 1)

    def enabled(self) -> User:
        return replace(self, active=True, version=self.version + 1)

    def with_password(self, password_hash: str) -> User:
        return replace(self, password_hash=password_hash, version=self.version + 1)

    def linked(self, recipient_id: str) -> User:
        return replace(self, recipient_id=recipient_id, version=self.version + 1)


@dataclass(frozen=True)
class Invitation:
    """Stored under the hash of its token: the link's secret is never kept."""

    id: str
    user_id: str
    expires_at: datetime
    invited_by: str | None = None
    token: str = field(default="", compare=False)  # only while it is being sent

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user_id: str, now: datetime, hours: float, invited_by: str | None) -> Invitation:
        token = secrets.token_urlsafe(32)
        return cls(cls.key(token), user_id, now + timedelta(hours=hours), invited_by, token)

    def usable(self, now: datetime) -> bool:
        return now < self.expires_at
