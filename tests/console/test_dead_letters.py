"""Pengaturan → Antrean gagal: an admin sees each service's dead letters, replays one (it is processed)
and discards another with a reason (the service records it), each after a confirmation; an operator is
refused the page; the console is ready only with its store and the three services answering."""

from __future__ import annotations

import re

from tests.conftest import auth, eventually
from tests.console.conftest import Console, csrf_of, post_form
from tests.integration.test_dead_letters_http import _park_undecodable
from tests.integration.test_ops_dlq import _depth, _ok


async def test_an_admin_discards_a_dead_letter_with_a_reason_after_confirming(console: Console, settings, unique):
    notifications = console.service_apps["notifications"]
    await eventually(lambda: _ok(console.services["notifications"].get("/readyz")), timeout=10.0)
    queue = notifications.state.infra.queues[0]
    junk = f"junk-{unique}"
    await _park_undecodable(settings, queue, junk)
    await console.user("op@kpu.example")
    operator = await console.signed_in("op@kpu.example")
    assert (await operator.get("/pengaturan/antrean")).status_code == 403
    await console.user("kepala@kpu.example", role="admin")
    client = await console.signed_in("kepala@kpu.example")

    page = await client.get("/pengaturan/antrean")
    assert page.status_code == 200 and junk in page.text and queue.dlq_name in page.text
    assert "PoisonMessage: the body is not a CloudEvent" in page.text

    form = {"queue": queue.name, "event_id": junk, "type": "(not a CloudEvent)", "subject": "-"}
    action = "/pengaturan/antrean/notifications/discard"
    without_csrf = await client.post(action, data={**form, "confirm": "1", "reason": "sisa uji coba"})
    assert without_csrf.status_code == 403
    asked = await post_form(client, "/pengaturan/antrean", action, form)
    assert asked.status_code == 200 and "Ya, buang" in asked.text  # asks first, changes nothing
    assert await _depth(settings, queue.dlq_name) >= 1
    short = await client.post(action, data={**form, "csrf": csrf_of(asked.text), "confirm": "1", "reason": "x"})
    assert short.status_code == 422
    assert re.search(r'id="e-reason">[^<]+<', short.text), short.text  # the service's own word, by the field
    done = await client.post(action, data={**form, "csrf": csrf_of(asked.text), "confirm": "1",
                                           "reason": "pesan rusak dari uji coba"})
    assert done.status_code == 303 and done.headers["location"].endswith("done=discard&count=1")
    assert junk not in (await client.get(done.headers["location"])).text
    records = (await console.services["notifications"].get("/events/dead-letters/discarded",
                                                            headers=auth("admin"))).json()["items"]
    record = next(r for r in records if r["event_id"] == junk)
    assert record["reason"] == "pesan rusak dari uji coba"


async def test_the_console_is_ready_with_its_store_and_the_three_services(console: Console):
    ready = await console.browser().get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "partners": "ok", "activities": "ok", "notifications": "ok"}
