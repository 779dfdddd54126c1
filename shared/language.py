"""The language a person reads: Bahasa Indonesia unless the request asks for English (issue 12, point 9).

Staff read refusals, warnings and import row errors on a phone, in Bahasa Indonesia. The services
word them once, in English, as templates (``"is {length} characters long; at most {limit}"``); the
edge shows them in the language the request asks for (``Accept-Language``: ``id`` when absent,
``en`` on request), with the translations in one catalogue, ``shared/bahasa.toml``. A few
sentences are written in Bahasa Indonesia at their source (the quiet-period and stage warnings):
the catalogue reads both ways, so those are shown in English on request.

A template's ``{name}`` stands for a value kept as it is; ``{name*}`` for a value that is itself a
sentence of the catalogue (a hint, a verb), shown in the same language. A message no template
matches is shown as it was written: a new sentence without a translation is visible, not lost.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

Language = Literal["id", "en"]
DEFAULT: Language = "id"
LANGUAGES: tuple[Language, ...] = ("id", "en")
CATALOGUE = Path(__file__).with_name("bahasa.toml")

_PLACEHOLDER = re.compile(r"\{(\w+)(\*?)\}")


def negotiate(accept_language: str | None) -> Language:
    """The language of ``Accept-Language`` (RFC 9110 §12.5.4) this service speaks, by weight; Bahasa
    Indonesia when the header is absent or names neither (``en-US`` is English, ``*`` the default)."""
    best: tuple[float, Language] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and weight > 0 and (best is None or weight > best[0]):
            best = (weight, primary)  # type: ignore[assignment]
    return best[1] if best else DEFAULT


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    words: dict[Language, str]
    nested: frozenset[str]
    head: str = ""  # the literal text before the first value, after the last, and between them:
    tail: str = ""  # checked before the pattern, which is slow on long sentences (lazy groups)
    inner: tuple[str, ...] = ()

    def could_match(self, message: str) -> bool:
        return (message.startswith(self.head) and message.endswith(self.tail)
                and all(part in message for part in self.inner))

    def render(self, values: dict[str, str], language: Language) -> str:
        shown = {name: (say(value, language) if name in self.nested else value) for name, value in values.items()}
        return _PLACEHOLDER.sub(lambda m: shown[m.group(1)], self.words[language])


def _compile(text: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(re.escape(text[last:match.start()]))
        parts.append(f"(?P<{match.group(1)}>.+?)")
        last = match.end()
    parts.append(re.escape(text[last:]))
    return re.compile("".join(parts), re.DOTALL)


@cache
def _catalogue() -> tuple[dict[str, _Template], list[_Template]]:
    """Exact sentences by their text in either language, then the templates with placeholders,
    longest first (the most specific wins)."""
    entries = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))["message"]
    exact: dict[str, _Template] = {}
    patterned: list[tuple[int, _Template]] = []
    for entry in entries:
        words: dict[Language, str] = {"en": entry["en"], "id": entry["id"]}
        nested = frozenset(m.group(1) for m in _PLACEHOLDER.finditer(entry["en"]) if m.group(2))
        for language in LANGUAGES:
            text = words[language]
            parts = _PLACEHOLDER.split(text)[::3]  # the literal parts around the values
            template = _Template(_compile(text), words, nested, parts[0], parts[-1] if len(parts) > 1 else "",
                                 tuple(part for part in parts[1:-1] if part))
            if _PLACEHOLDER.search(text):
                patterned.append((len(_PLACEHOLDER.sub("", text)), template))
            else:
                exact.setdefault(text, template)
    patterned.sort(key=lambda item: -item[0])
    return exact, [template for _, template in patterned]


@lru_cache(maxsize=4096)
def say(message: str, language: Language = DEFAULT) -> str:
    """``message`` (a sentence of the catalogue, in either language) in ``language``; as it is when
    the catalogue does not know it."""
    if not message:
        return message
    exact, patterned = _catalogue()
    found = exact.get(message)
    if found is not None:
        return found.words[language]
    for template in patterned:
        if not template.could_match(message):
            continue
        match = template.pattern.fullmatch(message)
        if match:
            return template.render(match.groupdict(), language)
    return message


def say_all(items: list[dict[str, Any]], language: Language, key: str = "message") -> list[dict[str, Any]]:
    """Items (field errors, warnings, row errors) with their ``key`` in ``language``."""
    return [{**item, key: say(item[key], language)} if isinstance(item.get(key), str) else item for item in items]


@cache
def _pydantic() -> dict[str, str]:
    return tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))["pydantic"]


def refusal(error: dict[str, Any], language: Language = DEFAULT) -> str:
    """Pydantic's refusal of one value (an item of ``ValidationError.errors()``) in ``language``: its
    own words in English, the catalogue's by error type in Bahasa Indonesia; a validator's own
    ``ValueError`` is a sentence of the catalogue."""
    context = error.get("ctx") or {}
    if error.get("type") == "value_error" and "error" in context:
        return say(str(context["error"]), language)
    if language == "en":
        return str(error.get("msg", "invalid"))
    words = _pydantic().get(str(error.get("type")))
    if words is None:
        return str(error.get("msg", "invalid"))
    # pydantic joins the choices with its own "or": 'langsung' or 'tidak_langsung'
    shown = {name: str(value).replace("' or '", "' atau '") for name, value in context.items()}
    return _PLACEHOLDER.sub(lambda m: shown.get(m.group(1), m.group(0)), words)


def templates() -> list[tuple[str, str]]:
    """Every (English, Bahasa Indonesia) pair of the catalogue, for the tests that keep it whole."""
    entries = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))["message"]
    return [(entry["en"], entry["id"]) for entry in entries]
