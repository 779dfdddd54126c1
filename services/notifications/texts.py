"""Texts of notifications: Jinja2 templates, Bahasa Indonesia first, English on request.

Each template under ``templates/<language>/`` defines a ``subject`` and a ``body`` block.
Dates and times are shown on the region's wall clock in Indonesian formats ("Rabu 6 November
2024 pukul 09.00 WIB"); the English texts use the same zone ("Wednesday 6 November 2024 at
09:00 WIB").
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from services.notifications.readmodels import named
from shared import vocabulary
from shared.vocabulary import LANGUAGES

TEMPLATES = Path(__file__).with_name("templates")

# Elections are the activities service's calendar, not a word of the shared vocabulary. Their names
# come from the calendar's events (the ``election_names`` a rule's context carries, from the
# read model); this table of the shipped ones is the fallback while an election is not known here.
ELECTIONS = {
    "id": {"pemilu-2019": "Pemilu 2019", "pilkada-2020": "Pemilihan Serentak 2020", "pemilu-2024": "Pemilu 2024",
           "pilkada-2024": "Pilkada 2024"},
    "en": {"pemilu-2019": "the 2019 general election", "pilkada-2020": "the 2020 regional elections",
           "pemilu-2024": "the 2024 general election", "pilkada-2024": "the 2024 regional elections"},
}

ZONE_ABBREVIATIONS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}

DATE_FORMAT = {"id": "EEEE d MMMM y", "en": "EEEE d MMMM y"}
SHORT_DATE_FORMAT = {"id": "d MMMM y", "en": "d MMMM y"}
TIME_FORMAT = {"id": "HH.mm", "en": "HH:mm"}


def zone_abbreviation(zone: tzinfo, moment: datetime | None = None) -> str:
    key = getattr(zone, "key", None)
    if key in ZONE_ABBREVIATIONS:
        return ZONE_ABBREVIATIONS[key]
    return (moment or datetime.now(zone)).astimezone(zone).tzname() or str(zone)


def in_sentence(text: str) -> str:
    """A label as it reads inside a sentence: the vocabulary capitalises its labels as headings
    ("Pemilih pemula"), a sentence does not ("untuk pemilih pemula"), except a name or an acronym
    that leads it ("KPU goes to school", "MoU (Nota Kesepahaman)", "X (Twitter)")."""
    first = text.split(" ", 1)[0]
    if len(first) == 1 or any(c.isupper() for c in first[1:]):
        return text
    return text[:1].lower() + text[1:]


def label(value: Any, kind: str, language: str = "id", start: bool = False,
          names: dict[str, str] | None = None) -> str:
    """What a sentence says for a code: the shared vocabulary's label, lower-cased inside a
    sentence; as the vocabulary writes it where it begins one (``start``). An election reads as
    the calendar names it (``names``), else as the shipped table does."""
    if value is None:
        return ""
    if kind == "election":
        return (names or {}).get(str(value)) or ELECTIONS.get(language, {}).get(str(value)) or str(value)
    found = vocabulary.label(value, kind, language)
    return found if start else in_sentence(found)


class Texts:
    """Renders ``(subject, body)`` of a template in a language, for one region's zone."""

    def __init__(self, zone: tzinfo, region_name: str) -> None:
        self.zone = zone
        self.region_name = region_name
        self._environments = {language: self._environment(language) for language in LANGUAGES}

    def _environment(self, language: str) -> Environment:
        env = Environment(
            loader=FileSystemLoader([TEMPLATES / language, TEMPLATES]),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        zone = self.zone

        def local(moment: datetime | date) -> datetime | date:
            return moment.astimezone(zone) if isinstance(moment, datetime) else moment

        env.filters["long_date"] = lambda m: format_date(local(m), DATE_FORMAT[language], locale=language)
        env.filters["short_date"] = lambda m: format_date(local(m), SHORT_DATE_FORMAT[language], locale=language)
        env.filters["clock"] = lambda m: format_time(local(m), TIME_FORMAT[language], locale=language)
        @pass_context
        def label_in(ctx: Context, value: Any, kind: str, start: bool = False) -> str:
            return label(value, kind, language, start, ctx.get("election_names"))

        env.filters["label"] = label_in
        env.filters["named"] = named
        env.filters["labels"] = lambda values, kind: ", ".join(label(v, kind, language) for v in values or [])
        env.globals.update(region_name=self.region_name, zone=zone_abbreviation(zone), language=language)
        return env

    def render(self, language: str, template: str, context: dict[str, Any]) -> tuple[str, str]:
        env = self._environments.get(language) or self._environments["id"]
        found = env.get_template(f"{template}.txt")
        ctx = found.new_context(context)
        subject = " ".join("".join(found.blocks["subject"](ctx)).split())
        body = "".join(found.blocks["body"](ctx)).strip() + "\n"
        return subject, body
