"""Each user's inbox is theirs (issue 13 point 3): on the real broker and store."""

from __future__ import annotations

from shared.events import EventType
from tests.conftest import REGION, auth, running, token
from tests.notifications_support import add_recipient, event, fast, partner, publish, soon, subscribed


def as_user(sub: str, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, [REGION], sub=sub)}"}


async def test_a_user_reads_and_marks_only_their_own_inbox_and_an_admin_reads_any(settings, monkeypatch, unique):
    fast(monkeypatch)
    rina_user, budi_user = f"user-rina-{unique}", f"user-budi-{unique}"
    async with running("notifications", settings) as (app, client):
        await soon(lambda: subscribed(app))
        rina = await add_recipient(client, name="Rina", user_id=rina_user)
        budi = await add_recipient(client, name="Budi", user_id=budi_user)
        assert rina["user_id"] == rina_user
        taken = await client.post("/recipients", headers=auth("admin"),
                                  json={"name": "Rina again", "kind": "staff", "user_id": rina_user})
        assert taken.status_code == 409 and taken.json()["existing_id"] == rina["id"], taken.text

        await publish(settings, *[event(EventType.PARTNER_REGISTERED, partner(f"P-{i}-{unique}", f"Mitra {i}"))
                                  for i in range(3)])

        async def three_unread():
            answer = await client.get("/inbox/me", headers=as_user(rina_user))
            return answer.status_code == 200 and answer.json()["unread"] == 3 and answer.json()

        mine = await soon(three_unread)
        assert mine["recipient_id"] == rina["id"] and len(mine["items"]) == 3

        # Another user, even an operator, is refused Rina's inbox and each of its routes.
        first = mine["items"][0]["id"]
        for method, path in [("GET", f"/inbox/{rina['id']}"), ("GET", f"/inbox/{rina['id']}/{first}"),
                             ("POST", f"/inbox/{rina['id']}/{first}/read"), ("POST", f"/inbox/{rina['id']}/read-all")]:
            refused = await client.request(method, path, headers=as_user(budi_user, "operator"))
            assert refused.status_code == 403, (path, refused.text)
        # A token whose sub is no recipient's user: refused, and told nothing of what exists.
        assert (await client.get("/inbox/no-such-recipient", headers=as_user("stranger"))).status_code == 403
        assert (await client.get("/inbox/me", headers=as_user("stranger"))).status_code == 404

        # Rina herself through her id, and an admin.
        own = await client.get(f"/inbox/{rina['id']}", headers=as_user(rina_user))
        assert own.status_code == 200 and own.json()["unread"] == 3
        assert (await client.get(f"/inbox/{rina['id']}", headers=auth("admin"))).status_code == 200
        assert (await client.get("/inbox/no-such-recipient", headers=auth("admin"))).status_code == 404

        one = await client.get(f"/inbox/me/{first}", headers=as_user(rina_user))
        assert one.status_code == 200 and one.json()["read_at"] is None
        read = await client.post(f"/inbox/me/{first}/read", headers=as_user(rina_user))
        assert read.status_code == 200 and read.json()["read_at"] is not None
        assert (await client.get("/inbox/me", headers=as_user(rina_user))).json()["unread"] == 2

        all_read = await client.post("/inbox/me/read-all", headers=as_user(rina_user))
        assert all_read.status_code == 200 and all_read.json() == {"recipient_id": rina["id"], "marked": 2,
                                                                   "unread": 0}
        assert (await client.get("/inbox/me", params={"unread": "true"},
                                 headers=as_user(rina_user))).json()["items"] == []
        # Budi's own inbox is untouched by Rina's marking.
        budis = await client.get("/inbox/me", headers=as_user(budi_user))
        assert budis.json()["recipient_id"] == budi["id"] and budis.json()["unread"] == 3

        # An admin links a user later, by PATCH; the link moves with it.
        moved = await client.patch(f"/recipients/{budi['id']}", headers=auth("admin"), json={"user_id": "budi-2"})
        assert moved.status_code == 200 and moved.json()["user_id"] == "budi-2"
        assert (await client.get("/inbox/me", headers=as_user(budi_user))).status_code == 404
        assert (await client.get("/inbox/me", headers=as_user("budi-2"))).json()["recipient_id"] == budi["id"]
