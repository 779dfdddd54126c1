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


# What only a collection (or a database) does: a module calling one of these, or importing
# pymongo's collection and database types, reads or writes a collection itself.
COLLECTION_METHODS = {"find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one",
                      "delete_one", "delete_many", "count_documents", "estimated_document_count", "distinct",
                      "aggregate", "bulk_write", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
                      "create_index", "create_collection", "drop_collection", "list_collection_names"}
# Known and owned elsewhere: activities' store.py is another engineer's, so the contacts' answers
# (Confirmations) still keep their collection beside the use case; to move into it.
NOT_YET = {"services/activities/invitations.py"}


def test_nothing_but_a_services_repository_reads_or_writes_a_collection():
    offenders = []
    for module in python_files("services"):
        relative = module.relative_to(ROOT).as_posix()
        if module.name == "store.py" or relative in NOT_YET or "node_modules" in module.parts:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in COLLECTION_METHODS:
                offenders.append(f"{relative}:{node.lineno} {node.func.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("pymongo.asynchronous.collection",
                                                                                   "pymongo.asynchronous.database")):
                offenders.append(f"{relative}:{node.lineno} imports {node.module}")
    assert not offenders, f"only a service's store.py reads or writes a collection: {offenders}"


def test_a_long_module_says_why_at_its_top():
    unexplained = []
    for module in python_files("services", "shared", "sinergi_cli", "tests", "bench"):
        text = module.read_text()
        if text.count("\n") > LONG:
            top = ast.get_docstring(ast.parse(text)) or ""
            if not re.search(r"\b(over|more than) 400 lines\b", top, re.IGNORECASE):
                unexplained.append(f"{module.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, f"say at the top why these are one module (e.g. 'Over 400 lines: ...'): {unexplained}"
