"""`sinergi activities ...`: operator verbs of the activities service."""

from __future__ import annotations

import typer

app = typer.Typer(help="The activities service.", no_args_is_help=True)
