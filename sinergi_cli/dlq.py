"""`sinergi dlq ...`: inspect and replay dead-lettered messages."""

from __future__ import annotations

import typer

app = typer.Typer(help="Dead-letter queues: list parked messages, replay them.", no_args_is_help=True)
