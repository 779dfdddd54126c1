"""`sinergi activities ...`: operator verbs of the activities service.

``report`` asks the running service for the period report (``GET /reports/activities``), as
any HTTP client would, and writes it to a file.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sinergi_cli.calls import attachment_name, default_url, minted, problem, speaking, spreadsheet_format, words

app = typer.Typer(help="The activities service.", no_args_is_help=True)
console = Console(stderr=True)



def _fail(message: str) -> None:
    console.print(f"[red]{words('error')}:[/red] {message}")
    raise typer.Exit(1)


Election = Annotated[str, typer.Option(help="election id, e.g. pilkada-2024 (GET /elections lists them)")]
From = Annotated[str | None, typer.Option("--from", help="first day (2024-10-01) or a date-time with offset")]
To = Annotated[str | None, typer.Option("--to", help="last day, included (2024-10-31), or a date-time")]
Format = Annotated[str | None, typer.Option("--format", help="xlsx or csv (default: from the file name, else xlsx)")]
Output = Annotated[Path | None, typer.Option("--output", "-o",
                                             help="file to write (default: the name the service gives)")]
Url = Annotated[str, typer.Option(help="the activities service", envvar="SINERGI_ACTIVITIES_URL")]
Token = Annotated[str | None, typer.Option(
    help="API token (default: a viewer token minted with SINERGI_AUTH_SECRET or the dev runner's secret)",
    envvar="SINERGI_TOKEN")]
Region = Annotated[str, typer.Option(help="region the minted token covers", envvar="SINERGI_REGION")]


@app.command()
def report(
    election: Election,
    start: From = None,
    end: To = None,
    fmt: Format = None,
    output: Output = None,
    url: Url = default_url("activities"),
    token: Token = None,
    region: Region = "32.73",
) -> None:
    """Write an election's period report (laporan kegiatan sosialisasi): XLSX with a summary sheet, or CSV."""
    try:
        chosen = spreadsheet_format(fmt, output)
    except ValueError as exc:
        _fail(str(exc))
        return
    params = {"election": election, "format": chosen}
    params.update({k: v for k, v in (("from", start), ("to", end)) if v})
    headers = speaking({"Authorization":
                        f"Bearer {token or minted('viewer', region, 'cli-report', timedelta(minutes=30))}"})
    try:
        content, name = _download(url, params, headers)
    except httpx.HTTPError as exc:
        _fail(words(f"cannot reach the activities service at {url} ({exc.__class__.__name__}); is it running? "
                    "(`sinergi status`, `sinergi up`)"))
        return
    target = output or Path(name)
    target.write_bytes(content)
    console.print(words(f"wrote {target} ({len(content):,} bytes)"))
    if chosen == "xlsx":
        _show_summary(content)


def _download(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[bytes, str]:
    """Fetch the report with a spinner while the service composes it and a bar while it arrives."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(words("composing the report"), total=None)
        with httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10.0, read=600.0)) as client, \
                client.stream("GET", "/reports/activities", params=params) as response:
            if response.status_code != 200:
                response.read()
                _fail(problem(response))
            size = response.headers.get("content-length")
            progress.update(task, description=words("downloading"), total=int(size) if size else None)
            buffer = io.BytesIO()
            for chunk in response.iter_bytes():
                buffer.write(chunk)
                progress.update(task, advance=len(chunk))
            name = attachment_name(response, "laporan-kegiatan")
    return buffer.getvalue(), name


def _show_summary(content: bytes) -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True)["Ringkasan"]
    table = Table("Rekapitulasi", "Jumlah", title=None)
    rows = list(sheet.iter_rows(values_only=True))
    start = next((i for i, r in enumerate(rows) if r and r[0] == "Rekapitulasi"), None)
    if start is None:
        return
    for row in rows[start + 1:]:
        if not row or row[0] is None:
            break
        value = row[1]
        table.add_row(str(row[0]), "" if value is None else f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
