"""The console's use cases on accounts: add and invite users, sign in, disable, accept an invitation.

Each user gets a staff recipient in notifications (their inbox), made through its API with the
token of whoever adds the user; if notifications is away then, the link is made at the user's
next sign-in instead (:meth:`Accounts.linked`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from dataclasses import dataclass

from ulid import ULID

from services.console.account_input import PasswordIn, UserIn, normal_email, parsed
from services.console.accounts import Invitation, InvitationUnusable, Role, User
from services.console.backend import Refused, Services
from services.console.passwords import hashed, matches
from services.console.store import Invitations, LoginFailures, Sessions, Users
from shared.clock import now_ms
from shared.errors import ServiceError
from shared.logging import get_logger

log = get_logger(__name__)

# Who acts when no person does (a link repaired at sign-in): the console itself, as an admin.
CONSOLE = User(id="console", email="console@localhost", name="Konsol Sinergi", role=Role.admin, regions=["*"])


class LoginRefused(ServiceError):
    """Wrong e-mail or password, or a disabled account: one answer for all, naming no field."""


class TooManyAttempts(ServiceError):
    def __init__(self, minutes: float) -> None:
        super().__init__(f"too many failed logins; try again in {minutes:.0f} minutes", retry_after=int(minutes * 60))


Mailer = Callable[[str, str, str], Awaitable[None]]


@dataclass
class Accounts:
    users: Users
    sessions: Sessions
    invitations: Invitations
    failures: LoginFailures
    services: Services
    region: str
    invitation_hours: float = 72.0
    window_minutes: float = 15.0
    per_account: int = 5
    per_address: int = 30

    async def add(self, by: User, email: str, name: str, role: str, regions: list[str] | None = None,
                  password: str | None = None) -> User:
        values = parsed(UserIn, email=email, name=name, role=role, regions=regions or [self.region],
                        password=password)
        password_hash = await hashed(values.password) if values.password else None
        user = User(id=str(ULID()), email=values.email, name=values.name, role=values.role, regions=values.regions,
                    password_hash=password_hash, created_at=now_ms())
        user = await self.users.add(user)
        return await self.linked(user, by)

    async def linked(self, user: User, by: User = CONSOLE) -> User:
        """The user with their staff recipient in notifications, made now if it is not there yet."""
        if user.recipient_id:
            return user
        body = {"kind": "staff", "name": user.name, "email": user.email, "regions": user.regions if
                "*" not in user.regions else [], "user_id": user.id}
        try:
            made = await self.services.as_user(by).send("notifications", "POST", "/recipients", body)
        except Refused as exc:
            log.warning("no recipient made for the user yet", user_id=user.id, status=exc.status, detail=exc.detail)
            return user
        return await self.users.change(user.id, lambda u: u.linked(made["id"]))

    async def sign_in(self, email: str, password: str, address: str) -> User:
        account = f"account:{email.strip().lower()}"
        where = f"address:{address}"
        since = now_ms() - timedelta(minutes=self.window_minutes)
        if (await self.failures.count(account, since) >= self.per_account
                or await self.failures.count(where, since) >= self.per_address):
            raise TooManyAttempts(self.window_minutes)
        try:
            user = await self.users.by_email(normal_email(email))
        except ValueError:
            user = None
        ok = await matches(user.password_hash if user else None, password)
        if not ok or user is None or not user.active:
            await self.failures.record([account, where], now_ms())
            raise LoginRefused("the e-mail or the password is not right, or the account is disabled")
        await self.failures.forget(account)
        return await self.linked(user)

    async def disable(self, user_id: str) -> User:
        user = await self.users.change(user_id, lambda u: u.disabled() if u.active else u)
        # The check on every request refuses a disabled user anyway; this also empties their sessions.
        await self.sessions.close_all(user_id)
        return user

    async def enable(self, user_id: str) -> User:
        return await self.users.change(user_id, lambda u: u if u.active else u.enabled())

    async def invite(self, by: User, email: str, name: str, role: str, regions: list[str] | None,
                     send: Mailer, link: Callable[[str], str]) -> tuple[User, str]:
        user = await self.add(by, email, name, role, regions)
        return user, await self.reinvite(by, user, send, link)

    async def reinvite(self, by: User, user: User, send: Mailer, link: Callable[[str], str]) -> str:
        invitation = Invitation.issue(user.id, now_ms(), self.invitation_hours, by.id)
        await self.invitations.add(invitation)
        url = link(invitation.token)
        await send(user.email, "Undangan Konsol Sinergi / Sinergi console invitation",
                   f"Halo {user.name},\n\n{by.name} mengundang Anda ke Konsol Sinergi.\n"
                   f"Buat kata sandi Anda di tautan ini (berlaku {self.invitation_hours:.0f} jam, sekali pakai):\n\n"
                   f"{url}\n\n--\nHello {user.name}, {by.name} invited you to the Sinergi console. "
                   f"Set your password at the link above (valid {self.invitation_hours:.0f} hours, once).\n")
        return url

    async def invitation(self, token: str) -> tuple[Invitation, User]:
        invitation = await self.invitations.find(token)
        if invitation is None or not invitation.usable(now_ms()):
            raise InvitationUnusable("this invitation link was used already or has expired; ask for a new one")
        return invitation, await self.users.require(invitation.user_id)

    async def accept(self, token: str, password: str) -> User:
        invitation, user = await self.invitation(token)
        password_hash = await hashed(parsed(PasswordIn, password=password).password)
        if not await self.invitations.use(invitation):
            raise InvitationUnusable("this invitation link was used already or has expired; ask for a new one")
        user = await self.users.change(user.id, lambda u: u.with_password(password_hash))
        return await self.linked(user)
