"""``sinergi``: the operator's command line.

Run ``sinergi --help`` or ``sinergi VERB --help``; each verb says what it does.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sinergi_cli import activities, broker, dlq, local, partners

app = typer.Typer(
    help="Sinergi: partner registry, outreach activities and notifications for a KPU region.",
    no_args_is_help=True,
    add_completion=False,
)
infra_app = typer.Typer(help="RabbitMQ and the store alone (what the tests need).", no_args_is_help=True)
seed_app = typer.Typer(help="Load example data into a running instance.", no_args_is_help=True)
app.add_typer(infra_app, name="infra")
app.add_typer(seed_app, name="seed")
app.add_typer(partners.app, name="partners")
app.add_typer(activities.app, name="activities")
app.add_typer(dlq.app, name="dlq")
app.add_typer(broker.app, name="broker")

console = Console(stderr=True)


def _say(message: str) -> None:
    console.print(message)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def up(
    services: Annotated[list[str] | None, typer.Argument(help="only these services (default: all three)")] = None,
) -> None:
    """Start whatever of RabbitMQ, the store and the three services is not running, and wait until ready."""
    home = local.Home.default()
    try:
        local.rabbitmq_up(home, _say)
        local.store_up(home, _say)
        local.services_up(home, _say, services)
    except (local.RunnerError, OSError) as exc:
        _fail(exc)
    from shared.auth import mint

    token = mint(home.secret(), sub="dev-admin", role="admin", regions=[os.environ.get("SINERGI_REGION", "32.73")],
                 ttl=timedelta(days=7))
    console.print(f"\nlogs: {home.logs}/   data: {home.path / 'data'}/")
    console.print("admin token (7 days; `sinergi token --help` for others):")
    print(token)


@app.command()
def down(
    keep_infra: Annotated[bool, typer.Option(help="leave RabbitMQ and the store running")] = False,
) -> None:
    """Stop what `sinergi up` started: the services, then the store and RabbitMQ."""
    home = local.Home.default()
    for name in reversed(local.SERVICES):
        local.stop(home, name, _say)
    if not keep_infra:
        local.stop(home, "store", _say)
        local.rabbitmq_down(home, _say)


@app.command()
def status() -> None:
    """Show RabbitMQ, the store and the three services."""
    table = Table("part", "state", "where")
    for name, state, where in local.status(local.Home.default()):
        colour = "green" if state in {"up", "ready"} else "yellow" if state == "starting" else "red"
        table.add_row(name, f"[{colour}]{state}[/{colour}]", where)
    Console().print(table)


@app.command()
def token(
    role: Annotated[str, typer.Option(help="admin, operator or viewer")] = "operator",
    region: Annotated[list[str] | None, typer.Option(help="region code(s) the token covers, or '*'")] = None,
    sub: Annotated[str, typer.Option(help="who the token is for")] = "cli",
    hours: Annotated[float, typer.Option(help="validity")] = 12.0,
) -> None:
    """Print an API token signed with this instance's secret (SINERGI_AUTH_SECRET, else the dev runner's)."""
    from shared.auth import mint

    secret = os.environ.get("SINERGI_AUTH_SECRET") or local.Home.default().secret()
    try:
        print(mint(secret, sub=sub, role=role, regions=region or [os.environ.get("SINERGI_REGION", "32.73")],
                   ttl=timedelta(hours=hours)))
    except ValueError as exc:
        _fail(exc)


@app.command()
def serve(service: Annotated[str, typer.Argument(help="partners, activities or notifications")]) -> None:
    """Run one service in the foreground (what `up` runs in the background)."""
    if service not in local.SERVICES:
        _fail(ValueError(f"unknown service {service!r}; one of {', '.join(local.SERVICES)}"))
    from shared.serve import serve as run

    run(service)


@infra_app.command("up")
def infra_up() -> None:
    """Start RabbitMQ and the store if they are not running, and print their URLs."""
    home = local.Home.default()
    try:
        local.rabbitmq_up(home, _say)
        local.store_up(home, _say)
    except (local.RunnerError, OSError) as exc:
        _fail(exc)
    print("SINERGI_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/")
    print("SINERGI_MONGODB_URL=mongodb://127.0.0.1:27017/")


@infra_app.command("down")
def infra_down() -> None:
    """Stop the store and RabbitMQ if `sinergi up` or `sinergi infra up` started them."""
    home = local.Home.default()
    local.stop(home, "store", _say)
    local.rabbitmq_down(home, _say)


@seed_app.command("demo")
def seed_demo(
    partners_url: Annotated[str, typer.Option(help="partners service")] = "http://127.0.0.1:8101",
    activities_url: Annotated[str, typer.Option(help="activities service")] = "http://127.0.0.1:8102",
    notifications_url: Annotated[str, typer.Option(help="notifications service")] = "http://127.0.0.1:8103",
) -> None:
    """Load the Kota Bandung (32.73) demo region into a running instance, through the HTTP APIs."""
    from sinergi_cli.demo import load

    try:
        load(console, partners_url=partners_url, activities_url=activities_url, notifications_url=notifications_url)
    except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
        _fail(exc)


if __name__ == "__main__":
    app()
