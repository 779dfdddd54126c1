"""Kept for tests/e2e/test_activities_processes.py (owned elsewhere) until it imports
``sinergi_cli.demo.activities``; the demo's activities are there now."""

from sinergi_cli.demo.activities import SEASON, load

__all__ = ["SEASON", "load"]
