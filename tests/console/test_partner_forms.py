"""Mitra forms: an agreement (MoU/PKS) added to a partner and its channels edited, the partners
service's own field errors shown next to the fields, in Bahasa Indonesia."""

from __future__ import annotations

import re

from tests.console.conftest import Console, csrf_of, post_form


async def _partner(client) -> str:  # noqa: ANN001
    made = await post_form(client, "/mitra/baru", "/mitra/baru", {"name": "KIM Antapani Maju", "type": "kim"})
    assert made.status_code == 303, made.text[:800]
    return made.headers["location"].removeprefix("/mitra/")


def _error(html: str, field: str) -> str | None:
    found = re.search(rf'id="e-{re.escape(field)}">([^<]+)<', html)
    return found.group(1) if found else None


async def test_an_agreement_is_added_and_a_wrong_one_is_named_next_to_its_field(console: Console):
    await console.user("op@kpu.example")
    client = await console.signed_in("op@kpu.example")
    partner_id = await _partner(client)
    page = await client.get(f"/mitra/{partner_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    wrong = {"csrf": csrf_of(page.text), "version": version, "doc_type": "mou", "number": "027/PP.08-NK/3273/2026",
             "valid_from": "2026-06-01", "valid_until": "2026-01-01"}
    refused = await client.post(f"/mitra/{partner_id}/perjanjian", data=wrong)
    assert refused.status_code == 422, refused.text[:800]
    assert _error(refused.text, "valid_until"), refused.text
    assert 'value="027/PP.08-NK/3273/2026"' in refused.text  # what was typed is kept
    added = await client.post(f"/mitra/{partner_id}/perjanjian", data={**wrong, "valid_until": "2027-05-31"})
    assert added.status_code == 303, added.text[:800]
    detail = (await client.get(f"/mitra/{partner_id}")).text
    assert "027/PP.08-NK/3273/2026" in detail and "2027-05-31" in detail


async def test_channels_are_edited_and_a_wrong_audience_is_named_next_to_its_field(console: Console):
    await console.user("op@kpu.example")
    client = await console.signed_in("op@kpu.example")
    partner_id = await _partner(client)
    form = await client.get(f"/mitra/{partner_id}/ubah")
    version = re.search(r'name="version" value="(\d+)"', form.text).group(1)
    body = {"csrf": csrf_of(form.text), "version": version, "name": "KIM Antapani Maju", "type": "kim",
            "channels[0].kind": "instagram", "channels[0].handle_or_url": "@kimantapani",
            "channels[0].audience_size": "banyak"}
    refused = await client.post(f"/mitra/{partner_id}/ubah", data=body)
    assert refused.status_code == 422, refused.text[:800]
    assert _error(refused.text, "channels[0].audience_size"), refused.text
    saved = await client.post(f"/mitra/{partner_id}/ubah", data={**body, "channels[0].audience_size": "1200"})
    assert saved.status_code == 303, saved.text[:800]
    detail = (await client.get(f"/mitra/{partner_id}")).text
    assert "@kimantapani" in detail and "1200" in detail
    again = await client.get(f"/mitra/{partner_id}/ubah")
    assert 'value="@kimantapani"' in again.text  # the form shows the channels it edits
