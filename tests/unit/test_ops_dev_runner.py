"""The dev runner (`make up`, `sinergi up`) runs the services as production does: each with its own
least-privilege broker user, in the region's vhost; never as `guest` on `/`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from shared.serve import PORTS
from sinergi_cli import broker, local
from sinergi_cli.regions import Region


@pytest.fixture
def developer(monkeypatch, tmp_path: Path) -> Path:
    """A developer's shell: no broker named, its own state directory."""
    import os

    for name in [k for k in os.environ if k.startswith("SINERGI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SINERGI_HOME", str(tmp_path))
    return tmp_path


def test_without_a_region_file_the_instance_is_its_regions_in_a_vhost_of_its_own(developer):
    region = Region.load(None)
    assert region.vhost == "sinergi-3273"
    assert region.settings.rabbitmq_url.endswith("/sinergi-3273")  # the verbs after `up` (dlq, ...) look there


def test_a_broker_named_in_the_environment_is_taken_as_it_is(developer, monkeypatch):
    monkeypatch.setenv("SINERGI_RABBITMQ_URL", "amqp://u:p@mq.example:5672/kpu")
    assert Region.load(None).vhost == "kpu"
    monkeypatch.setenv("SINERGI_RABBITMQ_URL", "amqp://u:p@mq.example:5672/")
    assert Region.load(None).vhost == "/"


def test_up_applies_the_definitions_and_gives_each_service_its_own_user(developer, monkeypatch):
    applied: list[tuple[str, dict[str, str]]] = []

    def apply(region, management, passwords):  # noqa: ANN001, ANN202
        applied.append((region.vhost, passwords))
        return {s: region.amqp_url(f"{region.vhost}-{s}", passwords[f"{region.vhost}-{s}"]) for s in PORTS}

    monkeypatch.setattr(broker, "apply", apply)
    monkeypatch.setattr(broker, "Management", lambda url: contextlib.nullcontext())
    instance = local.Instance.load(None)
    urls = local.broker_up(instance, lambda message: None)

    assert not instance.is_region  # the default instance still starts and stops RabbitMQ and the store
    assert [vhost for vhost, _ in applied] == ["sinergi-3273"]
    for service in PORTS:
        assert urls[service].startswith(f"amqp://sinergi-3273-{service}:")
        assert urls[service].endswith("@127.0.0.1:5672/sinergi-3273")
    assert (developer / "broker-passwords.json").stat().st_mode & 0o777 == 0o600


def test_the_services_it_starts_may_call_webhook_receivers_on_this_machine(developer, monkeypatch):
    env = local.service_env(local.Instance.load(None))
    assert env["SINERGI_NOTIFY_WEBHOOK_ALLOW"] == "127.0.0.0/8,::1"
    monkeypatch.setenv("SINERGI_NOTIFY_WEBHOOK_ALLOW", "10.20.0.0/16")  # the developer's own choice wins
    assert local.service_env(local.Instance.load(None))["SINERGI_NOTIFY_WEBHOOK_ALLOW"] == "10.20.0.0/16"
