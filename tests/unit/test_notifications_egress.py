"""Where webhooks may go (services/notifications/egress.py), without a network: literal addresses
and a resolver of the test's own."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from services.notifications.config import NotifySettings
from services.notifications.egress import Allowance, Egress, TargetRefused, TargetUnresolved, not_public


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6 counts as the IPv4 address
    ("::ffff:169.254.169.254", "a link-local address"),
    ("64:ff9b::a9fe:a9fe", "a link-local address"),  # 169.254.169.254 through NAT64
    ("0.0.0.0", "the unspecified address"),
    ("::", "the unspecified address"),
    ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("224.0.0.251", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.0.1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("100.64.0.1", "not a public address"),
])
def test_addresses_inside_a_deployment_are_not_public(address, kind):
    assert not_public(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are(address):
    assert not_public(ipaddress.ip_address(address)) is None


def _egress(answers: dict[str, list[str]], *allow: str) -> Egress:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"{host}: no such name")
        return answers[host]
    return Egress(Allowance.parse(allow), resolve)


async def test_a_name_is_refused_if_any_of_its_addresses_is_not_public_and_pinned_to_the_first_otherwise():
    egress = _egress({"mixed.example": ["93.184.216.34", "10.0.0.7"], "ok.example": ["93.184.216.34", "8.8.8.8"]})
    with pytest.raises(TargetRefused, match=r"^mixed.example resolves to 10.0.0.7, a private address"):
        await egress.pin("https://mixed.example/hook")
    pinned = await egress.pin("https://ok.example:8443/hook?x=1")
    assert (pinned.host, str(pinned.address), pinned.named) == ("ok.example", "93.184.216.34", True)
    assert str(pinned.connect_url()) == "https://93.184.216.34:8443/hook?x=1"
    ipv6 = await _egress({}).pin("http://[2606:4700:4700::1111]/x")
    assert str(ipv6.connect_url()) == "http://[2606:4700:4700::1111]/x" and not ipv6.named


async def test_userinfo_other_schemes_and_unresolvable_names():
    egress = _egress({})
    for url in ("http://user:pw@93.184.216.34/", "http://token@93.184.216.34/"):
        with pytest.raises(TargetRefused, match="user name or password"):
            await egress.pin(url)
    with pytest.raises(TargetRefused, match="http or https only"):
        await egress.pin("ftp://93.184.216.34/")
    with pytest.raises(TargetUnresolved):
        await egress.pin("https://nowhere.example/")
    await egress.admit("https://nowhere.example/")  # registration lets it through: each attempt checks again


async def test_the_allowance_names_networks_and_hosts():
    egress = _egress({"hooks.kpu.internal": ["10.20.1.5"], "other.internal": ["10.30.0.1"],
                      "localhost": ["::1", "127.0.0.1"]}, "10.20.0.0/16", "127.0.0.0/8", "Trusted.Example.")
    assert str((await egress.pin("http://hooks.kpu.internal/x")).address) == "10.20.1.5"
    assert str((await egress.pin("http://[::ffff:127.0.0.1]/")).address) == "::ffff:7f00:1"
    with pytest.raises(TargetRefused, match="other.internal resolves to 10.30.0.1"):
        await egress.pin("http://other.internal/")
    with pytest.raises(TargetRefused, match="localhost resolves to ::1"):  # ::1 is not in 127.0.0.0/8
        await egress.pin("http://localhost/")
    trusting = _egress({"trusted.example": ["192.168.9.9"]}, "trusted.example")
    assert str((await trusting.pin("https://TRUSTED.example/")).address) == "192.168.9.9"


def test_an_allowance_entry_that_is_neither_a_network_nor_a_host_name_stops_the_service_at_start():
    assert NotifySettings(webhook_allow="10.0.0.0/8, ::1,hooks.kpu.internal").webhook_allow == [
        "10.0.0.0/8", "::1", "hooks.kpu.internal"]
    assert NotifySettings().webhook_allow == []
    with pytest.raises(ValidationError, match="neither a network"):
        NotifySettings(webhook_allow="10.0.0.0/33")
    with pytest.raises(ValidationError, match="neither a network"):
        NotifySettings(webhook_allow="http://hooks.example/")
