"""Demo activities of Kota Bandung (``activities.toml``): a season of Pilkada 2024 outreach in every status.

Loaded through the HTTP API with Idempotency-Keys, and each activity is looked up by title
first, so loading again (even after the keys expired) changes nothing and finishes whatever a
broken earlier load left half done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console

from shared.gazetteer import installed
from shared.vocabulary import MEDIA_FORMATS, Method
from sinergi_cli.demo import every, read


@dataclass
class Demo:
    """One activity of the season and how far it got."""

    title: str
    status: str
    format: str
    segments: list[str]
    topics: list[str]
    stage: str | None = None  # none: scheduling fills it from the date
    starts_at: str | None = None  # with its offset (WIB)
    ends_at: str | None = None
    description: str | None = None
    kind: str = "sosialisasi"
    location: dict[str, Any] | None = None
    speakers: list[dict[str, str]] = field(default_factory=list)
    partners: list[dict[str, str]] = field(default_factory=list)  # {type wanted, role}
    planned_reach: int | None = None
    outcome: dict[str, Any] | None = None
    cancel_reason: str | None = None
    programme: str | None = None  # e.g. GERDU PEMILU
    election: str | None = None  # the season's unless given (berkelanjutan: between elections)

    @property
    def method(self) -> str:
        return Method.tidak_langsung if self.format in MEDIA_FORMATS else Method.langsung


DATA = read("activities")
REGION = read("partners")["region"]  # the demo region (Kota Bandung)
ELECTION: str = DATA["election"]
TARGETS: dict[str, Any] = DATA["targets"]
SEASON = [Demo(**entry) for entry in DATA["activity"]]
STEPS = {"planned": [], "scheduled": ["schedule"], "held": ["schedule", "hold"],
         "reported": ["schedule", "hold", "report"], "cancelled": ["cancel"]}
ORDER = ["planned", "scheduled", "held", "reported"]
REACHED = {"schedule": "scheduled", "hold": "held", "report": "reported"}


def load(console: Console, client: httpx.Client, partner_ids: list[str]) -> None:
    """Set the Pilkada 2024 targets and plan, schedule, hold and report the season's activities."""
    partners = _wait_for_partners(console, client, partner_ids)
    _request(client, "PUT", f"/targets/{ELECTION}", TARGETS)
    existing: dict[str, dict[str, Any]] = {}
    for election in dict.fromkeys([ELECTION, *(d.election for d in SEASON if d.election)]):
        for item in every(client, "/activities", election=election):
            existing.setdefault(item["title"], item)
    for demo in SEASON:
        activity = existing.get(demo.title) or _create(client, demo, partners)
        _advance(client, demo, activity)
    counts = {s: sum(d.status == s for d in SEASON) for s in [*ORDER, "cancelled"]}
    console.print(f"demo: {len(SEASON)} activities for {ELECTION} "
                  f"({', '.join(f'{n} {s}' for s, n in counts.items())}), targets set")


def _wait_for_partners(console: Console, client: httpx.Client, partner_ids: list[str],
                       timeout: float = 30.0) -> list[dict[str, Any]]:
    """The demo partners as this service's replica knows them (it fills from partner events)."""
    wanted = set(partner_ids)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with console.status("demo: waiting for the activities service to learn the partners ..."):
        while True:
            found.update({p["id"]: p for p in every(client, "/replica/partners") if p["id"] in wanted})
            if len(found) == len(wanted) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    if len(found) < len(wanted):
        console.print(f"[yellow]demo: {len(wanted) - len(found)} partner(s) not known to the activities "
                      "service yet; their activities are loaded without them[/yellow]")
    return [p for p in found.values() if p["status"] == "active"]


def _pick(partners: list[dict[str, Any]], wanted_type: str, district: str | None) -> str | None:
    """An active partner of that type, one from the activity's kecamatan when there is one (the file
    names the kecamatan; the replica keeps its code: the gazetteer matches the two)."""
    of_type = [p for p in partners if p.get("type") == wanted_type]
    code = installed(REGION).district(district) if district else None
    local = [p for p in of_type if code and p.get("district") == code]
    chosen = (local or of_type)[:1]
    return chosen[0]["id"] if chosen else None


def _create(client: httpx.Client, demo: Demo, partners: list[dict[str, Any]]) -> dict[str, Any]:
    chosen: list[dict[str, str]] = []
    district = (demo.location or {}).get("district")
    for wanted in demo.partners:
        partner_id = _pick(partners, wanted["type"], district)
        if partner_id and all(p["partner_id"] != partner_id for p in chosen):
            chosen.append({"partner_id": partner_id, "role": wanted["role"]})
    body = {"title": demo.title, "description": demo.description, "kind": demo.kind,
            "election": demo.election or ELECTION, "stage": demo.stage, "topics": demo.topics, "method": demo.method,
            "format": demo.format, "segments": demo.segments, "partners": chosen, "speakers": demo.speakers,
            "location": demo.location, "planned_reach": demo.planned_reach, "programme": demo.programme}
    key = f"demo-activity-{demo.title}"
    response = client.post("/activities", json=body, headers={"Idempotency-Key": key})
    refused = _refused_partners(response)
    if refused:  # suspended while the replica caught up: plan it without them
        body["partners"] = [p for i, p in enumerate(chosen) if i not in refused]
        response = client.post("/activities", json=body, headers={"Idempotency-Key": f"{key}-without-{len(refused)}"})
    if response.status_code != 201:
        raise RuntimeError(f"activities POST /activities: {response.status_code} {response.text[:500]}")
    return response.json()


def _refused_partners(response: httpx.Response) -> set[int]:
    if response.status_code != 422:
        return set()
    fields = [e["field"] for e in response.json().get("errors", [])]
    if not fields or not all(f.startswith("partners[") for f in fields):
        return set()
    return {int(f.split("[")[1].split("]")[0]) for f in fields}


def _advance(client: httpx.Client, demo: Demo, activity: dict[str, Any]) -> None:
    """Take the activity as far as the demo says, from wherever it is."""
    steps = ["schedule", "cancel"] if demo.status == "cancelled" and demo.starts_at else STEPS[demo.status]
    for step in steps:
        status = activity["status"]
        if status == "cancelled" or (step != "cancel" and ORDER.index(status) >= ORDER.index(REACHED[step])):
            continue
        body: dict[str, Any] | None = None
        if step == "schedule" and demo.starts_at:
            body = {"starts_at": demo.starts_at, "ends_at": demo.ends_at}
        elif step == "report":
            body = demo.outcome
        elif step == "cancel":
            body = {"reason": demo.cancel_reason}
        activity = _request(client, "POST", f"/activities/{activity['id']}/{step}", body,
                            key=f"demo-activity-{demo.title}-{step}")


def _request(client: httpx.Client, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    response = client.request(method, path, json=body, headers=headers)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"activities {method} {path}: {response.status_code} {response.text[:500]}")
    return response.json()
