"""Formats offices use that DOMAIN.md's first list lacked (issue 12 point 9): a workshop (*lokakarya*,
as KPU Karanganyar's with agencies, ormas and media) and technical guidance (*bimtek*)."""

from __future__ import annotations

import pytest

from tests.conftest import auth, running
from tests.integration.test_activities_helpers import activity_body


@pytest.mark.parametrize("fmt", ["lokakarya", "bimtek"])
async def test_a_workshop_or_a_bimtek_is_a_direct_format(settings, fmt):
    async with running("activities", settings) as (_, client):
        planned = await client.post("/activities", headers=auth(), json=activity_body(format=fmt))
        assert planned.status_code == 201, planned.text
        assert planned.json()["format"] == fmt
        by_media = await client.post("/activities", headers=auth(),
                                     json=activity_body(format=fmt, method="tidak_langsung"))
        assert by_media.status_code == 422, by_media.text
