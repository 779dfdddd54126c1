"""`sinergi partners ...`: operator verbs of the partners service."""

from __future__ import annotations

import typer

app = typer.Typer(help="The partners service.", no_args_is_help=True)
