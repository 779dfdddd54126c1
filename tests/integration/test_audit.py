"""GET /audit: every accepted write says who made it, when, what changed and why (issue 12 point 7)."""

from __future__ import annotations

from shared.auth import mint
from tests.conftest import REGION, SECRET, auth, eventually, running


def _as(sub: str, name: str | None = None, role: str = "operator") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(SECRET, sub=sub, role=role, regions=[REGION], name=name)}"}


async def test_the_audit_lists_who_changed_a_partner_what_and_why_newest_first(settings):
    async with running("partners", settings) as (_, partners):
        created = await partners.post("/partners", headers=_as("siti", "Siti Rahma"),
                                      json={"name": "KIM Sukaluyu", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        changed = await partners.patch(f"/partners/{partner_id}", headers=_as("budi"), json={"notes": "aktif tiap Sabtu"})
        assert changed.status_code == 200, changed.text
        suspended = await partners.post(f"/partners/{partner_id}/suspend", headers=_as("siti", "Siti Rahma"),
                                        json={"reason": "pengurus berganti"})
        assert suspended.status_code == 200, suspended.text

        async def trail() -> list[dict] | None:
            answer = await partners.get(f"/audit?subject={partner_id}", headers=auth("admin"))
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            return items if len(items) >= 3 else None

        items = await eventually(trail, timeout=10.0)  # the log is written once the broker confirmed
        assert [i["type"] for i in items] == ["sinergi.partner.suspended", "sinergi.partner.updated",
                                              "sinergi.partner.registered"]
        assert [i["version"] for i in items] == [3, 2, 1]
        newest, update, registration = items
        assert (newest["actor"], newest["actor_name"], newest["reason"]) == ("siti", "Siti Rahma", "pengurus berganti")
        assert newest["changes"]["status"] == {"before": "active", "after": "suspended"}
        assert update["actor"] == "budi" and update["actor_name"] is None and update["reason"] is None
        assert update["changes"] == {"notes": {"before": None, "after": "aktif tiap Sabtu"}}
        assert registration["changes"]["name"] == {"before": None, "after": "KIM Sukaluyu"}
        assert newest["at"] > update["at"] > registration["at"]

        by_budi = await partners.get(f"/audit?actor=budi&subject={partner_id}", headers=auth("admin"))
        assert [i["type"] for i in by_budi.json()["items"]] == ["sinergi.partner.updated"]

        first = await partners.get(f"/audit?subject={partner_id}&limit=2", headers=auth("admin"))
        assert len(first.json()["items"]) == 2 and first.json()["next_cursor"]
        rest = await partners.get(f"/audit?subject={partner_id}&limit=2&cursor={first.json()['next_cursor']}",
                                  headers=auth("admin"))
        assert [i["version"] for i in rest.json()["items"]] == [1] and rest.json()["next_cursor"] is None

        later = await partners.get(f"/audit?subject={partner_id}&from=2999-01-01T00:00:00%2B07:00",
                                   headers=auth("admin"))
        assert later.json()["items"] == []


async def test_the_audit_is_for_admins_and_refuses_what_it_does_not_know(settings):
    async with running("activities", settings) as (_, activities):
        assert (await activities.get("/audit", headers=auth("viewer"))).status_code == 403
        assert (await activities.get("/audit", headers=auth("operator"))).status_code == 403
        assert (await activities.get("/audit")).status_code == 401
        unknown = await activities.get("/audit?who=siti", headers=auth("admin"))
        assert unknown.status_code == 422, unknown.text
        assert "who" in unknown.text
        assert (await activities.get("/audit", headers=auth("admin"))).status_code == 200
