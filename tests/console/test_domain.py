"""The console's account rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.account_input import AccountRefused, UserIn, parsed
from services.console.accounts import Invitation, Role, User
from services.console.pages.home import current_election


def test_an_account_is_checked_and_its_refusals_read_in_either_language():
    found = parsed(UserIn, email="  Sari@KPU.Example ", name=" Sari  Wulandari ", role="operator",
                   regions=["32.73", "32", "32.73"])
    assert (found.email, found.name, found.regions) == ("sari@kpu.example", "Sari Wulandari", ["32.73", "32"])
    with pytest.raises(AccountRefused) as refused:
        parsed(UserIn, email="not an address", name="", role="boss", regions=["Bandung"], password="short")
    shown = refused.value.shown("id")
    assert set(shown) == {"email", "name", "role", "regions", "password"}
    assert shown["password"] == "paling sedikit 10 karakter"
    assert "bukan alamat e-mail" in shown["email"]
    assert "characters" in refused.value.shown("en")["password"]


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
