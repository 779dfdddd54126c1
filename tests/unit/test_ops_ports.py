"""One table of deployables and their default ports (``shared.serve.APPS``: the services of ``APPS``
and the console); the files that cannot import it (compose.yaml, the Dockerfile, the region files)
are checked against it here."""

from __future__ import annotations

import re
from pathlib import Path

import dockerfile
import yaml
from dotenv import dotenv_values

from shared.serve import APPS

ROOT = Path(__file__).resolve().parent.parent.parent
PORT_VARIABLE = re.compile(r"SINERGI_(?P<service>[A-Z]+)_PORT")


def test_compose_runs_each_service_of_the_table_on_its_port():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    serving = {name for name, service in services.items() if service.get("command", [None])[0] == "serve"}
    assert serving == set(APPS)
    for name, port in APPS.items():
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["environment"]["SINERGI_PORT"] == str(port)
        assert service["ports"] == [f"${{SINERGI_{name.upper()}_PORT:-{port}}}:{port}"]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])


def test_the_image_exposes_the_ports_of_the_table():
    exposed = [c.value for c in dockerfile.parse_file(str(ROOT / "Dockerfile")) if c.cmd == "EXPOSE"]
    assert sorted(int(port) for ports in exposed for port in ports) == sorted(APPS.values())


def test_each_region_file_gives_every_service_of_the_table_a_port_of_its_own():
    files = sorted((ROOT / "deploy" / "regions").glob("[0-9]*.env"))
    assert files
    taken: dict[int, str] = {}
    for file in files:
        values = dotenv_values(file)
        named = {m.group("service").lower() for key in values if (m := PORT_VARIABLE.fullmatch(key))}
        assert named == set(APPS), f"{file.name} names ports for {sorted(named)}, the table has {sorted(APPS)}"
        for service in APPS:
            port = int(values[f"SINERGI_{service.upper()}_PORT"] or 0)
            assert port not in taken, f"{file.name}: {service} on {port}, taken by {taken.get(port)}"
            taken[port] = f"{file.name} {service}"
    default = dotenv_values(ROOT / "deploy" / "regions" / "32.73.env")  # the region of the default instance
    assert {s: int(default[f"SINERGI_{s.upper()}_PORT"] or 0) for s in APPS} == APPS
