"""The period report counts the contacts' answers to invitations (Konfirmasi hadir, tidak hadir,
diwakilkan), through GET /reports/activities on the real broker and store: the answers arrive as
sinergi.invitation.answered, as the notifications service publishes them."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from shared.events import EventType, make_event
from tests.conftest import auth, running
from tests.integration.test_activities_helpers import plan, post
from tests.notifications_support import publish, soon, subscribed


def answered(invitation_id: str, activity_id: str, answer: str, version: int = 1):
    return make_event(EventType.INVITATION_ANSWERED, region="32.73", service="notifications", subject=invitation_id,
                      version=version, data={"id": invitation_id, "version": version, "activity_id": activity_id,
                                             "partner_id": "P-1", "contact_name": invitation_id,
                                             "contact_email": f"{invitation_id}@kim.example", "answer": answer,
                                             "name": invitation_id, "note": None})


async def test_the_period_report_counts_the_invitation_answers_of_each_activity(settings):
    async with running("activities", settings) as (app, client):
        assert app.state.figures.confirmations is not None, "main.py gives the report the contacts' answers"
        await soon(lambda: subscribed(app))
        forum = await plan(client, election="pemilu-2019", title="Forum Warga Coblong")
        quiet = await plan(client, election="pemilu-2019", title="Forum tanpa undangan")
        for found in (forum, quiet):
            scheduled = await post(client, found["id"], "schedule", {"starts_at": "2019-03-02T09:00:00+07:00",
                                                                     "ends_at": "2019-03-02T12:00:00+07:00"})
            assert scheduled.status_code == 200, scheduled.text
        await publish(settings, answered("inv-a", forum["id"], "hadir"), answered("inv-b", forum["id"], "hadir"),
                      answered("inv-c", forum["id"], "diwakilkan"), answered("inv-d", forum["id"], "hadir"),
                      answered("inv-d", forum["id"], "tidak_hadir", version=2))

        async def counted():
            view = (await client.get(f"/activities/{forum['id']}", headers=auth("viewer"))).json()
            counts = view.get("confirmations", {}).get("counts")
            return counts == {"hadir": 2, "tidak_hadir": 1, "diwakilkan": 1}
        await soon(counted)

        answer = await client.get("/reports/activities", params={"election": "pemilu-2019", "format": "csv"},
                                  headers=auth("viewer"))
        assert answer.status_code == 200, answer.text
        rows = {r["ID"]: r for r in csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")))}
        shown = ("Konfirmasi hadir", "Konfirmasi tidak hadir", "Konfirmasi diwakilkan")
        assert tuple(rows[forum["id"]][c] for c in shown) == ("2", "1", "1")
        assert tuple(rows[quiet["id"]][c] for c in shown) == ("", "", "")  # nobody answered: nothing to count

        book = await client.get("/reports/activities", params={"election": "pemilu-2019", "format": "xlsx"},
                                headers=auth("viewer"))
        sheet = load_workbook(io.BytesIO(book.content))["Kegiatan"]
        header = [c.value for c in sheet[1]]
        by_id = {row[header.index("ID")]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert tuple(by_id[forum["id"]][header.index(c)] for c in shown) == (2, 1, 1)
