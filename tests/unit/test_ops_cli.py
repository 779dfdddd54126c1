"""`sinergi --help` explains every verb, down to the last sub-command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from sinergi_cli.main import app

ROOT = Path(__file__).resolve().parent.parent.parent
OPERATOR_VERBS = {"up", "down", "status", "token", "serve", "infra", "seed", "dlq", "broker", "events",
                  "partners", "activities"}


def _walk(command: click.Command, path: tuple[str, ...] = ()):  # noqa: ANN202
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def test_every_verb_has_help_text():
    root = typer.main.get_command(app)
    assert OPERATOR_VERBS <= set(root.commands)
    for path, command in _walk(root):
        assert (command.help or command.short_help or "").strip(), f"`sinergi {' '.join(path)}` has no help text"
        for parameter in command.params:
            if isinstance(parameter, click.Option) and parameter.name != "help":
                assert parameter.help, f"`sinergi {' '.join(path)} {parameter.opts[0]}` has no help text"


def test_help_runs_for_the_operations_verbs():
    runner = CliRunner()
    for args in (["--help"], ["up", "--help"], ["dlq", "replay", "--help"], ["broker", "apply", "--help"],
                 ["events", "replay", "--help"], ["seed", "demo", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output
    assert "--region-file" in runner.invoke(app, ["up", "--help"]).output


def test_what_an_installer_prints_stays_off_the_settings_that_infra_up_prints(capfd):
    # `make test` evaluates the stdout of `sinergi infra up`; apt-get's and go's chatter there
    # ("Selecting previously unselected package ...") made a fresh machine's shell fail.
    from sinergi_cli.local import run_aside

    run_aside(["sh", "-c", "echo Selecting previously unselected package rabbitmq-server."])
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "Selecting previously unselected package" in captured.err


@pytest.mark.parametrize("script", ["activities_api", "partners_api", "pipeline", "load", "notifications", "store"])
def test_each_benchmark_runs_as_a_script_and_explains_itself(script):
    # bench/activities_api.py once defined main() and never called it: run, it measured nothing.
    result = subprocess.run([sys.executable, str(ROOT / "bench" / f"{script}.py"), "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:"), f"bench/{script}.py --help printed nothing"


def test_infra_up_prints_lines_that_eval_exports_to_the_commands_after_it(monkeypatch):
    # They were `VAR=value` lines: `eval "$(sinergi infra up)"` set shell variables that the
    # test run started next never saw.
    from sinergi_cli import local

    monkeypatch.setattr(local, "rabbitmq_up", lambda home, say: None)
    monkeypatch.setattr(local, "store_up", lambda home, say: None)
    printed = CliRunner().invoke(app, ["infra", "up"])
    assert printed.exit_code == 0, printed.output
    seen = subprocess.run(["bash", "-c", 'eval "$1"; env', "-", printed.stdout], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, check=True).stdout.splitlines()
    assert "SINERGI_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/" in seen
    assert "SINERGI_MONGODB_URL=mongodb://127.0.0.1:27017/" in seen
