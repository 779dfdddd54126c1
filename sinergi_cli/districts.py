"""``sinergi districts``: kecamatan typed as free text, migrated to Kemendagri codes (filled in below)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Kecamatan stored as free text, moved to Kemendagri codes.", no_args_is_help=True)
