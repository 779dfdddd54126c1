"""The partners service's own settings, prefix ``SINERGI_`` like every other (CONTRACT §1).

Only what no other service needs: the bounds of a spreadsheet import (docs/partners.md,
"Spreadsheets"; docs/security.md, "Uploads and exports"), and how often agreements are
checked for facts that come with time (docs/partners.md, "Events").
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.partners.sheetfile import Limits


class ImportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_", extra="ignore")

    # Data rows one upload may hold; the CLI sends larger sheets in chunks (`sinergi partners import`).
    import_max_rows: int = Field(20_000, ge=1, le=1_000_000)
    # What all parts of an XLSX file may unpack to, together: a 20,000-row export of
    # partners with three contacts, channels and agreements each is 56 MB (measured).
    import_max_unpacked_mb: int = Field(64, ge=1, le=4096)

    def limits(self) -> Limits:
        return Limits(rows=self.import_max_rows, unpacked_bytes=self.import_max_unpacked_mb << 20)


class AgreementSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_", extra="ignore")

    # Seconds between two looks for agreements reaching 30 days before their end, or passing it.
    # The facts are per day; an hour keeps the announcement within an hour of the day starting.
    agreement_check_seconds: float = Field(3600.0, ge=1.0, le=86_400.0)
