"""Demo activities of Kota Bandung (32.73) for Pilkada 2024."""

from __future__ import annotations

import httpx
from rich.console import Console


def load(console: Console, client: httpx.Client, partner_ids: list[str]) -> None:
    """Plan, schedule, hold and report a season of activities (filled in with the activities service)."""
