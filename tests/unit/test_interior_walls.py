"""The seams of docs/architecture.md, kept: each rule here is one a reviewer would otherwise check by hand.

- Use cases raise the service's refusals (``shared.errors``); only a service's edge (``api.py``,
  ``main.py``) knows problem+json (``shared.problems``).
- Only a service's repository (``store.py``) touches a MongoDB collection.
- A module over 400 lines says at its top why it is one module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EDGE = {"api.py", "main.py"}
LONG = 400


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def imported(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_a_services_edge_knows_problem_details():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("services")
                 if p.name not in EDGE and any(n == "shared.problems" or n.startswith("shared.problems.")
                                               for n in imported(p))]
    assert not offenders, f"use cases raise shared.errors, not HTTP problems: {offenders}"


def test_only_a_services_repository_touches_a_collection():
    offenders = []
    for module in python_files("services"):
        if module.name == "store.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "collection":
                offenders.append(f"{module.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f".collection outside store.py: {offenders}"


def test_a_long_module_says_why_at_its_top():
    unexplained = []
    for module in python_files("services", "shared", "sinergi_cli", "tests", "bench"):
        text = module.read_text()
        if text.count("\n") > LONG:
            top = ast.get_docstring(ast.parse(text)) or ""
            if not re.search(r"\b(over|more than) 400 lines\b", top, re.IGNORECASE):
                unexplained.append(f"{module.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"say at the top why these are one module (e.g. 'Over 400 lines: ...'): {unexplained}"
