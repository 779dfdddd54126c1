"""What the verbs that call a running service share: where it answers, a token to call it with,
how its refusals read, and the spreadsheet it sends back."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx

from shared.language import Language, negotiate, say
from shared.serve import PORTS

SPREADSHEETS = ("xlsx", "csv")


def language() -> Language:
    """The CLI's language: Bahasa Indonesia unless ``SINERGI_LANG`` (or ``LANGUAGE``) says ``en``."""
    return negotiate(os.environ.get("SINERGI_LANG") or os.environ.get("LANGUAGE") or "id")


def words(sentence: str) -> str:
    """A sentence of the catalogue (shared/bahasa.toml) in the CLI's language."""
    return say(sentence, language())


def speaking(headers: dict[str, str]) -> dict[str, str]:
    """Request headers asking the service to answer in the CLI's language."""
    return {**headers, "Accept-Language": language()}


def default_url(service: str) -> str:
    """The service of the default instance on this machine (``sinergi up``)."""
    return f"http://127.0.0.1:{PORTS[service]}"


def minted(role: str, region: str, sub: str, ttl: timedelta, home: Path | None = None) -> str:
    """A token signed with ``SINERGI_AUTH_SECRET``, else the dev runner's secret (in ``home``'s state directory)."""
    from shared.auth import mint
    from sinergi_cli.local import Home

    secret = os.environ.get("SINERGI_AUTH_SECRET") or (Home(home) if home else Home.default()).secret()
    return mint(secret, sub=sub, role=role, regions=[region], ttl=ttl)


def spreadsheet_format(chosen: str | None, output: Path | None) -> str:
    """``--format``, else the output file's suffix, else xlsx; one of :data:`SPREADSHEETS` or ValueError."""
    found = (chosen or (output.suffix.lstrip(".") if output and output.suffix else "xlsx")).lower()
    if found not in SPREADSHEETS:
        raise ValueError(f"--format must be xlsx or csv, not {found!r}")
    return found


def attachment_name(response: httpx.Response, fallback: str) -> str:
    """The file name the service gives in ``Content-Disposition``."""
    disposition = response.headers.get("content-disposition", "")
    return disposition.split('filename="')[-1].rstrip('"') if 'filename="' in disposition else fallback


def problem(response: httpx.Response) -> str:
    """A problem+json answer as one message: status, title, detail and each field at fault."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}: {response.text[:500]}"
    errors = "".join(f"\n  {e['field']}: {e['message']}" for e in body.get("errors") or [])  # already in its language
    return f"{response.status_code} {body.get('title', '')}: {body.get('detail', response.text)}{errors}"
