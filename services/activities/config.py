"""The activities service's own settings, prefix ``SINERGI_`` like every other (CONTRACT §1)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OverdueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_", extra="ignore")

    # Seconds between two looks for held activities whose report fell overdue (H+3). The fact is
    # per local day; an hour announces it within an hour of the day starting.
    report_overdue_check_seconds: float = Field(3600.0, ge=1.0, le=86_400.0)
