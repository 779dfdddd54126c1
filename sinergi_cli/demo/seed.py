"""``sinergi seed demo``: the demo region loaded into running services through their HTTP APIs,
recipients first (so they hear of what follows), then partners, then the activities that name them."""

from __future__ import annotations

from datetime import timedelta

import httpx
from rich.console import Console

from sinergi_cli.calls import minted
from sinergi_cli.demo import activities, notifications, partners


def load(console: Console, partners_url: str, activities_url: str, notifications_url: str) -> None:
    token = minted("admin", partners.DATA["region"], "demo-loader", timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=partners_url, headers=headers, timeout=30) as to_partners,
        httpx.Client(base_url=activities_url, headers=headers, timeout=30) as to_activities,
        httpx.Client(base_url=notifications_url, headers=headers, timeout=30) as to_notifications,
    ):
        notifications.load(console, to_notifications)
        partner_ids = partners.load(console, to_partners)
        activities.load(console, to_activities, partner_ids)
