"""The demo registry loads into the partners service over HTTP, and loading it again changes nothing."""

from __future__ import annotations

import httpx
from rich.console import Console

from sinergi_cli.demo.partners import DEMO_PARTNERS, SUSPENDED, load
from tests.conftest import auth


def test_the_demo_partners_load_once_however_often_they_are_loaded(processes):
    # A slice of the registry, the suspended partner included: the unit tests check every
    # demo partner against the rules and the request model; this checks the loading.
    chosen = DEMO_PARTNERS[:15] + [p for p in DEMO_PARTNERS if p["name"] in SUSPENDED]
    partners = processes("partners")
    console = Console(quiet=True)
    with httpx.Client(base_url=partners.url, headers=auth("admin"), timeout=30) as client:
        def listed() -> list[dict]:
            found, cursor = [], None
            while True:
                page = client.get("/partners", params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
                found += page["items"]
                if not (cursor := page["next_cursor"]):
                    return found

        first = load(console, client, chosen)
        versions = {p["id"]: p["version"] for p in listed()}
        again = load(console, client, chosen)
        assert first == again and len(set(first)) == len(chosen)

        after = listed()
        assert sorted(p["id"] for p in after) == sorted(first)
        assert {p["id"]: p["version"] for p in after} == versions, "a second load changed partners"
        assert {p["name"] for p in after if p["status"] == "suspended"} == set(SUSPENDED)
        diskominfo = client.get("/partners", params={"type": "opd_diskominfo"}).json()["items"][0]
        assert diskominfo["contacts"][0]["phone"] == "+62224234793" and diskominfo["agreements"]
