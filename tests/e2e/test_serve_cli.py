"""``sinergi serve <service>``: what the container image runs (compose.yaml), as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, free_port, service_env


def test_sinergi_serve_runs_a_service_that_answers_ready(settings, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "sinergi_cli.main", "serve", "partners"], cwd=ROOT,
                                   env=service_env(settings, SINERGI_PORT=str(port)), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert answer is not None and answer.status_code == 200, f"not ready; log: {log.read_text()[-2000:]}"
    finally:
        process.terminate()
        process.wait(15)
