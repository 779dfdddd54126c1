"""Every sentence a service refuses with has its Bahasa Indonesia words in shared/bahasa.toml.

The refusals are found in the source: string literals (f-strings with their values as ``X``) given
to a refusal (``Invalid``, ``NotFound``, ``Conflict``, ``ValueError``, ...), added to a list of
field errors (``errors.add(field, ...)``, ``errors[field] = ...``) or given as a field's message in
``Invalid({...})``. A sentence without a translation would reach a phone in English.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared.language import say

ROOT = Path(__file__).resolve().parents[2]
REFUSALS = {"Invalid", "InvalidField", "InvalidActivity", "NotFound", "Conflict", "NotAllowed", "TransitionRefused",
            "RowRefused", "Unreadable", "SheetTooLarge", "Forbidden", "Unauthorized", "ValueError", "_refuse",
            "PossibleDuplicate", "DuplicateAgreement", "fail"}
# Sentences no person reads (start-up errors for operators, broker and event internals).
NOT_FOR_STAFF = ("shared/settings.py", "shared/consumer.py", "shared/events.py", "shared/runtime.py",
                 "shared/auth.py:role must", "services/notifications/config.py", "services/notifications/egress.py",
                 "services/notifications/channels.py:SINERGI_SMTP_URL", "services/console/mail.py")


def sample(node: ast.expr) -> str | None:
    """The sentence a literal makes, its values as X; None for what is not a literal sentence."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "X" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = sample(node.left), sample(node.right)
        return left + right if left is not None and right is not None else None
    return None


def refusals(tree: ast.AST) -> Iterator[tuple[int, ast.expr]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in REFUSALS:
                for arg in node.args:
                    if isinstance(arg, ast.Dict):
                        yield from ((node.lineno, value) for value in arg.values)
                    elif isinstance(arg, ast.DictComp):
                        yield node.lineno, arg.value
                    else:
                        yield node.lineno, arg
            if name == "add" and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "errors":
                yield from ((node.lineno, arg) for arg in node.args[1:])
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            if getattr(node.targets[0].value, "id", "") == "errors":
                yield node.lineno, node.value


def untranslated() -> list[str]:
    missing = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        for line, node in refusals(ast.parse(path.read_text(encoding="utf-8"))):
            text = sample(node)
            if not text or " " not in text.strip() or any(f"{relative}:{text}".startswith(skip)
                                                          for skip in NOT_FOR_STAFF):
                continue
            if say(text, "id") == text:
                missing.append(f"{relative}:{line}: {text}")
    return missing


def test_every_refusal_a_person_reads_has_its_bahasa_indonesia_words() -> None:
    assert untranslated() == []
