"""Confirmations of the partners' contacts, from their answers to invitations (issue 14 point 4).

Notifications sends each invited contact a signed link; their answer (*hadir*, *tidak hadir*,
*diwakilkan* with a name) comes back as ``sinergi.invitation.answered``. This service keeps the
newest answer of each invitation beside the activity (not in it: an answer is not a change of the
activity, so it bumps no version and publishes nothing), shows them in the activity's view and
counts them in its report.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.mongo import replace_read_under_lock, when_free

ANSWERS = ("hadir", "tidak_hadir", "diwakilkan")


class Confirmations:
    """One document per invitation (``_id`` the invitation's id), the newest answer only."""

    def __init__(self, stored: AsyncCollection) -> None:
        self.stored = stored

    async def apply(self, invitation_id: str, version: int, data: dict[str, Any]) -> bool:
        """Keep this answer unless a newer one is known; returns whether it changed anything."""
        doc = {"_id": invitation_id, "version": version,
               **{k: data.get(k) for k in ("activity_id", "partner_id", "contact_name", "contact_email", "answer",
                                           "name", "note", "updated_at")}}
        for _ in range(5):
            found = await self.stored.find_one({"_id": invitation_id}, {"version": 1})
            if found is None:
                try:
                    await when_free(lambda: self.stored.insert_one(doc))
                    return True
                except DuplicateKeyError:
                    continue
            if found["version"] >= version:
                return False
            # Read under the consumer's lock of this invitation (one consumer of the queue at a time):
            # not read again.
            if await when_free(lambda v=found["version"]: replace_read_under_lock(self.stored, invitation_id, v, doc)):
                return True
        return False

    async def of(self, activity_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each activity's answers, by contact name."""
        if not activity_ids:
            return {}
        found = await self.stored.find({"activity_id": {"$in": activity_ids}}).to_list()
        out: dict[str, list[dict[str, Any]]] = {a: [] for a in activity_ids}
        for doc in sorted(found, key=lambda d: (d.get("contact_name") or "", d["_id"])):
            out.setdefault(doc["activity_id"], []).append(shown(doc))
        return out


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    return {"invitation_id": doc["_id"], "partner_id": doc.get("partner_id"), "contact_name": doc.get("contact_name"),
            "answer": doc.get("answer"), "name": doc.get("name"), "note": doc.get("note"),
            "answered_at": doc.get("updated_at")}


def counts(answers: list[dict[str, Any]]) -> dict[str, int]:
    """How many answered each way (every answer named, zero included)."""
    found = Counter(a["answer"] for a in answers)
    return {answer: found.get(answer, 0) for answer in ANSWERS}


def confirmations_view(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """What the activity's view shows: the counts and each answer."""
    return {"counts": counts(answers), "items": answers}
