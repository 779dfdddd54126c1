"""compose.yaml and the Dockerfile, checked statically (no Docker engine here).

compose.yaml is validated against the Compose Specification's JSON Schema (from the npm
package ``dclint``, see tests/ops_schemas/README.md) after interpolating variables as
Compose does; every service has a health check and a restart policy; secrets have no
default; the three services are one image from the Dockerfile, chosen by command.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import pytest
import yaml

from shared.serve import PORTS

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMAS = ROOT / "tests" / "ops_schemas"
COMPOSE_SPEC_SHA256 = "46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496"
SECRETS = {"SINERGI_AUTH_SECRET", "RABBITMQ_ADMIN_PASSWORD", "MONGO_ROOT_PASSWORD", "MONGO_REPLICA_SET_KEY",
           "SINERGI_BROKER_PASSWORD_PARTNERS", "SINERGI_BROKER_PASSWORD_ACTIVITIES",
           "SINERGI_BROKER_PASSWORD_NOTIFICATIONS", "SINERGI_BROKER_PASSWORD_SUBSCRIBER"}
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose_spec() -> dict[str, Any]:
    raw = gzip.decompress((SCHEMAS / "compose-spec.json.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == COMPOSE_SPEC_SHA256, "tests/ops_schemas/compose-spec.json.gz changed"
    return json.loads(raw)


class Missing(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$ for a dollar."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        given = env.get(name)
        if op in (":?", "?") and (given is None or (op == ":?" and given == "")):
            raise Missing(f"{name}: {arg}")
        if op in (":-",) and not given:
            return arg
        if op == "-" and given is None:
            return arg
        return given or ""

    return VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:  # noqa: ANN001
    return interpolate(raw, {name: f"test-{name.lower()}" for name in SECRETS})


def test_compose_validates_against_the_compose_specification(compose):
    validator = jsonschema.Draft7Validator(compose_spec())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_does_reject_a_broken_compose_file(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["partners"]["restart"] = 3
    broken["services"]["partners"]["healthcheck"]["intervall"] = "5s"
    assert len(list(jsonschema.Draft7Validator(compose_spec()).iter_errors(broken))) >= 2


def test_every_service_has_a_health_check_and_a_restart_policy(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, f"{name} has no restart policy"


def test_dependencies_wait_for_health(compose):
    for name, service in compose["services"].items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"
            assert how["condition"] == "service_healthy", f"{name} → {dependency}: {how}"
    for name in PORTS:
        assert {"mongodb", "rabbitmq-setup"} <= set(compose["services"][name]["depends_on"])


def test_every_secret_is_required_and_none_has_a_default(raw):
    text = (ROOT / "compose.yaml").read_text()
    used = {m.group("name"): m.group("op") for m in VARIABLE.finditer(text) if m.group("name")}
    for secret in SECRETS:
        assert used.get(secret) == ":?", f"{secret} must be ${{{secret}:?...}}"
    for secret in SECRETS:
        env = {name: "x" for name in SECRETS if name != secret}
        with pytest.raises(Missing, match=secret):
            interpolate(raw, env)


def test_the_three_services_are_one_image_from_the_dockerfile_chosen_by_command(compose):
    images = {json.dumps([compose["services"][s]["image"], compose["services"][s]["build"]]) for s in PORTS}
    assert len(images) == 1
    for name in PORTS:
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "Dockerfile" and service["build"]["context"] == "."
        assert service["command"] == ["serve", name]
        assert service["environment"]["SINERGI_RABBITMQ_URL"].startswith(f"amqp://sinergi-3273-{name}:")
        assert service["read_only"] is True and "ALL" in service["cap_drop"]


def test_named_volumes_and_pinned_infrastructure(compose):
    assert compose["services"]["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert compose["services"]["mongodb"]["image"] == "mongo:7"
    assert "--replSet" in compose["services"]["mongodb"]["command"]
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])
            if not v.startswith(".")}
    assert used and used <= set(compose["volumes"])


def test_the_dockerfile_is_slim_non_root_and_runs_the_cli():
    commands = dockerfile.parse_file(str(ROOT / "Dockerfile"))  # the official BuildKit parser
    stages = [i for i, c in enumerate(commands) if c.cmd == "FROM"]
    final = commands[stages[-1]:]
    assert re.match(r"python:\$\{PYTHON_VERSION\}-slim|python:3\.\d+-slim", final[0].value[0])
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    entrypoint = next(c for c in final if c.cmd == "ENTRYPOINT")
    assert entrypoint.json and entrypoint.value == ("sinergi",)
    assert not any(c.cmd in {"ADD"} for c in commands)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("**") if "**" in ignored else 0] == "**"  # everything is excluded first
    assert "!.venv" not in ignored and "!.sinergi" not in ignored


@pytest.mark.skipif(not (shutil.which("docker-compose") or shutil.which("docker")), reason="no Compose CLI")
def test_compose_cli_accepts_it_where_there_is_one(raw):
    """Where a Compose v2 CLI exists (it needs no engine for `config`), it must accept the file too."""
    command = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    probe = subprocess.run([*command, "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no Compose v2 CLI: {probe.stderr.strip()[:200]}")
    env = {"PATH": "/usr/bin:/bin", **{name: f"test-{name.lower()}" for name in SECRETS}}
    result = subprocess.run([*command, "-f", str(ROOT / "compose.yaml"), "config", "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
