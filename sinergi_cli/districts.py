"""``sinergi districts migrate``: kecamatan and desa/kelurahan stored as free text, moved to their codes.

Before the gazetteer, partners kept a kecamatan as typed (``Coblong``), so ``Coblong`` and
``32.73.02`` counted as two kecamatan. This verb reads every partner and activity through the
services' HTTP APIs (an admin token; never their databases), places each free-text kecamatan
(and desa/kelurahan) with the installed gazetteer and sends the code back with ``PATCH`` and
``If-Match``, so a record changed meanwhile is left alone (reported; run it again). It says what
it changed and, record by record, what it could not place, with the closest names. ``--dry-run``
says the same and changes nothing. Running it again changes nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from shared.gazetteer import DISTRICT_CODE, VILLAGE_CODE, Places, Unresolved, installed
from sinergi_cli.calls import default_url, minted, problem

app = typer.Typer(help="Kecamatan stored as free text, moved to Kemendagri codes.", no_args_is_help=True)
console = Console(stderr=True)


@dataclass
class Change:
    kind: str  # partner | activity
    id: str
    name: str
    field: str
    typed: str
    code: str | None = None
    message: str = ""
    suggestions: list[str] = field(default_factory=list)


@dataclass
class Migration:
    changed: list[Change] = field(default_factory=list)
    unresolved: list[Change] = field(default_factory=list)
    refused: list[Change] = field(default_factory=list)  # placed, but the service did not take it
    seen: int = 0


async def pages(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        response = await client.get(path, headers=headers, params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {problem(response)}")
        page = response.json()
        for item in page["items"]:
            yield item
        if not (cursor := page.get("next_cursor")):
            return


def _place(places: Places, typed: str, level: str, district: str | None = None) -> str:
    return places.district(typed) if level == "district" else places.village(typed, district)


async def migrate(partners: httpx.AsyncClient | None, activities: httpx.AsyncClient | None, token: str,
                  dry_run: bool = False) -> Migration:
    """Place every free-text kecamatan (partners) and location (activities); PATCH the codes unless ``dry_run``."""
    headers = {"Authorization": f"Bearer {token}"}
    done = Migration()
    if partners is not None:
        async for partner in pages(partners, "/partners", headers):
            done.seen += 1
            typed = partner.get("district")
            if not typed or DISTRICT_CODE.match(typed):
                continue
            found = Change("partner", partner["id"], partner["name"], "district", typed)
            try:
                found.code = _place(installed(partner["region"]), typed, "district")
            except Unresolved as exc:
                found.message, found.suggestions = exc.message, exc.suggestions
                done.unresolved.append(found)
                continue
            await _send(partners, f"/partners/{partner['id']}", {"district": found.code}, partner["version"],
                        headers, found, done, dry_run)
    if activities is not None:
        async for activity in pages(activities, "/activities", headers):
            done.seen += 1
            location = activity.get("location") or {}
            wanted = {k: location.get(k) for k in ("district", "village", "venue", "online_url")}
            places = installed(activity["region"])
            changes: list[Change] = []
            for level, form in (("district", DISTRICT_CODE), ("village", VILLAGE_CODE)):
                typed = location.get(level)
                if not typed or form.match(typed):
                    continue
                found = Change("activity", activity["id"], activity["title"], f"location.{level}", typed)
                try:
                    found.code = wanted[level] = _place(places, typed, level, wanted["district"])
                    changes.append(found)
                except Unresolved as exc:
                    found.message, found.suggestions = exc.message, exc.suggestions
                    done.unresolved.append(found)
            if changes:
                await _send(activities, f"/activities/{activity['id']}", {"location": wanted}, activity["version"],
                            headers, changes[0], done, dry_run, also=changes[1:])
    return done


async def _send(client: httpx.AsyncClient, path: str, body: dict[str, Any], version: int, headers: dict[str, str],
                found: Change, done: Migration, dry_run: bool, also: list[Change] | None = None) -> None:
    every = [found, *(also or [])]
    if dry_run:
        done.changed += every
        return
    response = await client.patch(path, json=body, headers={**headers, "If-Match": f'"{version}"'})
    if response.status_code == 200:
        done.changed += every
        return
    for change in every:
        change.message = problem(response)
        done.refused.append(change)


def show(done: Migration, dry_run: bool) -> None:
    verb = "would change" if dry_run else "changed"
    console.print(f"districts: {done.seen} records read; {verb} {len(done.changed)}; "
                  f"{len(done.unresolved)} not placed; {len(done.refused)} refused by the service")
    if done.changed:
        table = Table("record", "id", "name", "field", "was", "now", title=verb)
        for c in done.changed:
            table.add_row(c.kind, c.id, c.name, c.field, c.typed, c.code or "")
        console.print(table)
    if done.unresolved or done.refused:
        table = Table("record", "id", "name", "field", "typed", "why", "closest names", title="left as they were")
        for c in [*done.unresolved, *done.refused]:
            table.add_row(c.kind, c.id, c.name, c.field, c.typed, c.message, ", ".join(c.suggestions))
        console.print(table)


@app.command("migrate")
def migrate_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would change; change nothing")] = False,
    partners_url: Annotated[str, typer.Option(help="the partners service", envvar="SINERGI_PARTNERS_URL")]
    = default_url("partners"),
    activities_url: Annotated[str, typer.Option(help="the activities service", envvar="SINERGI_ACTIVITIES_URL")]
    = default_url("activities"),
    token: Annotated[str | None, typer.Option(help="an admin token (default: one minted with SINERGI_AUTH_SECRET "
                                              "or the dev runner's secret)", envvar="SINERGI_TOKEN")] = None,
    region: Annotated[str, typer.Option(help="region the minted token covers", envvar="SINERGI_REGION")] = "32.73",
) -> None:
    """Move free-text kecamatan (and desa/kelurahan) of partners and activities to their Kemendagri codes."""
    token = token or minted("admin", region, "sinergi-districts-migrate", timedelta(hours=1))

    async def run() -> Migration:
        async with httpx.AsyncClient(base_url=partners_url, timeout=60) as partners, \
                httpx.AsyncClient(base_url=activities_url, timeout=60) as activities:
            return await migrate(partners, activities, token, dry_run)

    try:
        done = asyncio.run(run())
    except (RuntimeError, httpx.HTTPError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    show(done, dry_run)
