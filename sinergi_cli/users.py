"""``sinergi users``: the console's accounts for operators without e-mail (add, list, disable,
enable), and the first admin ``sinergi up`` makes.

Works on the console's own database (the instance's ``SINERGI_MONGODB_URL``, database
``<prefix>console``) through the console's use cases, so a user added here gets their staff
recipient in notifications exactly as one added in the console (made through its API with an
admin token of this instance).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from sinergi_cli import local

T = TypeVar("T")
app = typer.Typer(help="The console's user accounts (sinergi users add/list/disable).", no_args_is_help=True)
FIRST_ADMIN = "admin@sinergi.example"  # .local and .test are refused as special-use names

RegionFile = Annotated[
    Path | None,
    typer.Option("--region-file", "-r", help="a region from deploy/regions/<code>.env (the environment wins)"),
]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def run(instance: local.Instance, work: Callable[[Any], Awaitable[T]]) -> T:
    """``work(accounts)`` with the console's use cases on the instance's database and services."""
    from services.console.backend import Services
    from services.console.handlers import Accounts
    from services.console.store import Invitations, LoginFailures, Sessions, Users
    from shared.mongo import connect

    settings = instance.region.settings
    ports = instance.ports

    async def go() -> T:
        client = connect(settings, "console")
        db = client[settings.database_name("console")]
        # The console's own settings where they are set (in its container), else this host's ports.
        services = Services({name: os.environ.get(f"SINERGI_CONSOLE_{name.upper()}_URL")
                             or f"http://127.0.0.1:{ports[name]}" for name in ("partners", "activities",
                                                                               "notifications")},
                            _secret(instance), settings.region, 120)
        try:
            return await work(Accounts(Users(db), Sessions(db), Invitations(db), LoginFailures(db), services,
                                       settings.region))
        finally:
            await services.close()
            await client.close()

    return asyncio.run(go())


def _secret(instance: local.Instance) -> str:
    return os.environ.get("SINERGI_AUTH_SECRET") or instance.home.secret()


def _instance(region_file: Path | None) -> local.Instance:
    try:
        return local.Instance.load(region_file)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        raise


def cli_admin() -> Any:
    from services.console.accounts import Role, User

    return User(id="cli", email="cli@localhost", name="sinergi users", role=Role.admin, regions=["*"])


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="their e-mail: what they sign in with")],
    name: Annotated[str, typer.Option(help="display name, shown on every change they make")],
    role: Annotated[str, typer.Option(help="admin, operator or viewer")] = "operator",
    region: Annotated[list[str] | None, typer.Option(help="region code(s) they work on (default: the instance's)")]
    = None,
    password: Annotated[str | None, typer.Option(help="their first password (default: a random one, printed)")]
    = None,
    region_file: RegionFile = None,
) -> None:
    """Add a user who signs in with a password (no e-mail needed); prints the password when generated."""
    from shared.errors import ServiceError

    instance = _instance(region_file)
    chosen = password or secrets.token_urlsafe(12)
    try:
        user = run(instance, lambda accounts: accounts.add(cli_admin(), email, name, role, region, chosen))
    except ServiceError as exc:
        _fail(exc.detail)
        raise
    typer.echo(f"{user.email} ({user.role.value}, {', '.join(user.regions)}) id {user.id}"
               + ("" if user.recipient_id else "  [no inbox yet: notifications did not answer; made at sign-in]"))
    if password is None:
        typer.echo(f"password: {chosen}")


@app.command("list")
def list_users(region_file: RegionFile = None) -> None:
    """Every user of the console: e-mail, name, role, regions, active or not."""
    from rich.table import Table

    users = run(_instance(region_file), lambda accounts: accounts.users.all())
    table = Table("e-mail", "name", "role", "regions", "state", "id")
    for user in users:
        state = "active" if user.active else "disabled"
        table.add_row(user.email, user.name, user.role.value, ", ".join(user.regions),
                      state + ("" if user.password_hash else " (invited)"), user.id)
    local.table_console().print(table)


def _by_email(email: str, change: str, region_file: Path | None) -> None:
    from services.console.account_input import normal_email

    async def work(accounts: Any) -> Any:
        try:
            user = await accounts.users.by_email(normal_email(email))
        except ValueError:
            return None
        if user is None:
            return None
        return await getattr(accounts, change)(user.id)

    user = run(_instance(region_file), work)
    if user is None:
        _fail(f"no user {email}")
    typer.echo(f"{user.email}: {'active' if user.active else 'disabled (their sessions ended)'}")


@app.command("disable")
def disable(email: Annotated[str, typer.Argument()], region_file: RegionFile = None) -> None:
    """Disable a user: they can no longer sign in, and their open sessions end at once."""
    _by_email(email, "disable", region_file)


@app.command("enable")
def enable(email: Annotated[str, typer.Argument()], region_file: RegionFile = None) -> None:
    """Enable a disabled user again."""
    _by_email(email, "enable", region_file)


def first_admin(instance: local.Instance) -> tuple[str, str | None]:
    """The first admin of a console without users, made now; their e-mail and the password kept
    for them in the state directory (``None`` once they have changed hands: the file was removed)."""
    kept = instance.home.path / "console-admin-password"

    async def work(accounts: Any) -> str:
        if await accounts.users.count():
            return ""
        password = secrets.token_urlsafe(12)
        await accounts.add(cli_admin(), FIRST_ADMIN, "Admin", "admin", None, password)
        kept.write_text(password + "\n")
        kept.chmod(0o600)
        return password

    run(instance, work)
    return FIRST_ADMIN, kept.read_text().strip() if kept.exists() else None
