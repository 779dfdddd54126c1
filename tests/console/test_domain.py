"""The console's account rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.accounts import Invitation, Role, User, checked_password, checked_regions, normal_email
from services.console.pages.home import current_election
from shared.errors import Invalid


def test_an_email_is_kept_in_one_form_and_a_wrong_one_names_the_field():
    assert normal_email("  Sari@KPU.Example ") == "sari@kpu.example"
    with pytest.raises(Invalid) as refused:
        normal_email("not an address")
    assert refused.value.errors[0]["field"] == "email"


def test_passwords_and_regions_are_checked():
    with pytest.raises(Invalid):
        checked_password("short")
    assert checked_regions(["32.73", "32", "32.73"]) == ["32.73", "32"]
    with pytest.raises(Invalid):
        checked_regions(["Bandung"])


def test_an_invitation_keeps_only_the_hash_of_its_link_and_expires():
    now = datetime.now(UTC)
    invitation = Invitation.issue("u1", now, 72, "admin")
    assert invitation.id == Invitation.key(invitation.token) and invitation.token not in invitation.id
    assert invitation.usable(now + timedelta(hours=71))
    assert not invitation.usable(now + timedelta(hours=73))


def test_a_disabled_user_is_a_new_version():
    user = User("u1", "a@kpu.example", "A", Role.operator, ["32.73"])
    assert user.can_write and not user.is_admin
    off = user.disabled()
    assert not off.active and off.version == user.version + 1


def test_the_current_election_is_the_next_to_vote_in_else_the_last():
    calendar = [{"id": "a", "voting_day": "2024-11-27"}, {"id": "b", "voting_day": "2029-02-14"},
                {"id": "c", "voting_day": None}]
    assert current_election(calendar, datetime(2026, 12, 6).date())["id"] == "b"
    assert current_election(calendar[:1], datetime(2026, 12, 6).date())["id"] == "a"
