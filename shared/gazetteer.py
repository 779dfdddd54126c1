"""The Kemendagri gazetteer: kecamatan and desa/kelurahan of the instance's region, by name or code.

Names and codes come from the npm package ``idn-area-data`` (pinned below; its data is ODbL, see
``docs/gazetteer.md``), which ``sinergi gazetteer install`` (run by ``make venv``) fetches, checks
against the pinned integrity and turns into one small JSON index per province. A service reads
the index of its province once (:func:`installed`); after that every lookup is in memory.

:class:`Places` answers what a user typed within the region: a code (``32.73.02``, or its digits
``327302``) or a name with case, spacing, punctuation and a ``Kec.``/``Kecamatan`` (``Kel.``,
``Kelurahan``, ``Desa``) prefix ignored. A name it cannot place raises :class:`Unresolved` with the
closest names (``suggestions``) or, when several places of the region carry it, the ``candidates``
with their kabupaten/kota or kecamatan; :func:`refusal` turns those into one :class:`Invalid`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.errors import FieldErrors, Invalid, field_errors
from shared.regions import within

# The pin: what `sinergi gazetteer install` fetches and checks (sha512 of the npm tarball).
PACKAGE = "idn-area-data"
VERSION = "4.0.1"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
INTEGRITY = "sha512-PhNSIl5T7swVwwWxJOFMtCaeHAF9TUu0HLDf+36EIWZro9j7au83AFIJiBQGL+iRsBDA2OlpJ5fjiqxNYndzOQ=="
INSTALL = "sinergi gazetteer install"
CREDIT = (f"Kemendagri area codes and names: {PACKAGE} {VERSION} by Fityan Ali Nugroho "
          "(github.com/fityannugroho/idn-area-data), Open Database License (ODbL) 1.0")

DISTRICT_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
VILLAGE_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
_CODE_LIKE = re.compile(r"^[\d.\s]+$")
_PREFIX = {
    "district": re.compile(r"^(?:kecamatan\b|kec\b)\.?\s*", re.IGNORECASE),
    "village": re.compile(r"^(?:kelurahan\b|kel\b|desa\b|ds\b)\.?\s*", re.IGNORECASE),
}
_NOT_LETTERS = re.compile(r"[\W_]+")
SUGGESTIONS = 5
MEMO = 20_000  # answers remembered per region: what a few large imports type


class GazetteerMissing(RuntimeError):
    """The index is not where the settings say; the message names the command that installs it."""


def directory(setting: str | os.PathLike[str] | None = None) -> Path:
    """Where the indexes are: ``SINERGI_GAZETTEER_DIR`` (``Settings.gazetteer_dir``), else next to the
    interpreter (``.venv/share/sinergi/gazetteer``: the virtual environment ``make venv`` built, or the
    image's), so every process started from one environment finds the same data."""
    chosen = setting or os.environ.get("SINERGI_GAZETTEER_DIR")
    return Path(chosen) if chosen else Path(sys.prefix) / "share" / "sinergi" / "gazetteer"


def index_dir(where: Path) -> Path:
    return where / f"{PACKAGE}-{VERSION}"


def index_file(where: Path, province: str) -> Path:
    return index_dir(where) / f"{province}.json"


def key(text: str, level: str = "district") -> str:
    """What two spellings of one name share: no prefix, case, spacing or punctuation."""
    text = _PREFIX[level].sub("", " ".join(str(text).split()))
    return _NOT_LETTERS.sub("", text.casefold())


@dataclass
class Unresolved(Exception):
    """What was typed does not name one place of the region."""

    message: str
    suggestions: list[str] = field(default_factory=list)
    candidates: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def refusal(unresolved: Mapping[str, Unresolved], also: FieldErrors = ()) -> Invalid:
    """One 422 for every field at fault: the messages, and per field the ``suggestions`` (closest
    names) and ``candidates`` (``{code, name, within}`` where a name is ambiguous)."""
    facts: dict[str, Any] = {}
    suggestions = {name: u.suggestions for name, u in unresolved.items() if u.suggestions}
    candidates = {name: u.candidates for name, u in unresolved.items() if u.candidates}
    if suggestions:
        facts["suggestions"] = suggestions
    if candidates:
        facts["candidates"] = candidates
    return Invalid([*field_errors(also), *((name, u.message) for name, u in unresolved.items())], **facts)


class Places:
    """The kabupaten/kota, kecamatan and desa/kelurahan of one region (a province ``32`` or a
    kabupaten/kota ``32.73``), from one province's index."""

    def __init__(self, region: str, index: Mapping[str, Any]) -> None:
        self.region = region
        self.names: dict[str, str] = {index["province"]["code"]: index["province"]["name"]}
        self.levels: dict[str, list[str]] = {}
        for level in ("regencies", "districts", "villages"):
            rows = [(code, name) for code, name in index[level] if within(code, region) or within(region, code)]
            self.names.update(rows)
            self.levels[level] = sorted(code for code, _ in rows if within(code, region))
        self.area = self.names.get(region, region)
        self._memo: dict[tuple[str, str, str], str | Unresolved] = {}
        self._by_key: dict[str, dict[str, list[str]]] = {"district": {}, "village": {}}
        for level, codes in (("district", self.levels["districts"]), ("village", self.levels["villages"])):
            for code in codes:
                self._by_key[level].setdefault(key(self.names[code], level), []).append(code)

    def name_of(self, code: str | None) -> str | None:
        """``32.73.02`` → ``Coblong``; ``None`` for a code the package does not list."""
        return self.names.get(code) if code else None

    def label(self, code: str | None) -> str:
        """``Coblong (32.73.02)``, or the code alone when it has no name here."""
        name = self.name_of(code)
        return f"{name} ({code})" if name else (code or "")

    def district(self, typed: str) -> str:
        """The code of the kecamatan ``typed`` names within the region."""
        return self._resolve(typed, "district", self.region, DISTRICT_CODE, 6, "kecamatan", f"{self.region}.02")

    def village(self, typed: str, district: str | None = None) -> str:
        """The code of the desa/kelurahan ``typed`` names, within ``district`` when one is given."""
        scope = district or self.region
        return self._resolve(typed, "village", scope, VILLAGE_CODE, 10, "desa/kelurahan", f"{scope}.1001"
                             if district else f"{self.region}.02.1001")

    def _resolve(self, typed: str, level: str, scope: str, form: re.Pattern[str], length: int, what: str,
                 example: str) -> str:
        # An import repeats a handful of names over thousands of rows: each is looked up once.
        memo = (level, scope, typed)
        known = self._memo.get(memo)
        if known is None:
            try:
                known = self._look_up(typed, level, scope, form, length, what, example)
            except Unresolved as exc:
                known = exc
            if len(self._memo) < MEMO:
                self._memo[memo] = known
        if isinstance(known, Unresolved):  # a fresh one: a raised exception keeps growing its traceback
            raise Unresolved(known.message, known.suggestions, known.candidates)
        return known

    def _look_up(self, typed: str, level: str, scope: str, form: re.Pattern[str], length: int, what: str,
                 example: str) -> str:
        text = " ".join(str(typed).split())
        if _CODE_LIKE.match(text):
            code = _dotted(text.replace(" ", ""), length)
            if code is None or not form.match(code):
                raise Unresolved(f"{text!r} is not a {what} code such as {example}")
            if not within(code, scope):
                raise Unresolved(f"{what} {code} is not in {self.label(scope)}")
            if code in self.names:
                return code
            # A code the package does not list is refused like an unknown name (issue 12: unknown →
            # 422): kept, it would count as a kecamatan of its own that no report can name.
            close = self._neighbours(code, level, scope)
            hint = f"; did you mean {', '.join(self.label(c) for c in close)}?" if close else ""
            raise Unresolved(f"{text!r} is not a {what} of {self.label(scope)}{hint}",
                             suggestions=[self.names[c] for c in close])
        wanted = key(text, level)
        found = [code for code in self._by_key[level].get(wanted, []) if within(code, scope)]
        if len(found) == 1:
            return found[0]
        if found:
            raise Unresolved(
                f"{text!r} names {len(found)} {what} in {self.label(scope)}: "
                + ", ".join(f"{self.names[c]} ({c}, {self._parent(c)})" for c in found) + "; send the code",
                candidates=[{"code": c, "name": self.names[c], "within": self._parent(c)} for c in found])
        close = self._closest(wanted, level, scope)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise Unresolved(f"{text!r} is not a {what} of {self.label(scope)}{hint}", suggestions=close)

    def _parent(self, code: str) -> str:
        parent = code.rsplit(".", 1)[0]
        return self.names.get(parent, parent)

    def _neighbours(self, code: str, level: str, scope: str) -> list[str]:
        """The listed codes next to an unknown one under the same parent (``32.73.31`` → ``32.73.30``, …)."""
        parent, number = code.rsplit(".", 1)
        siblings = [c for c in self.levels[level + "s"] if c.rsplit(".", 1)[0] == parent and within(c, scope)]
        return sorted(siblings, key=lambda c: (abs(int(c.rsplit(".", 1)[1]) - int(number)), c))[:SUGGESTIONS]

    def _closest(self, wanted: str, level: str, scope: str) -> list[str]:
        keys = [k for k, codes in self._by_key[level].items() if any(within(c, scope) for c in codes)]
        close = difflib.get_close_matches(wanted, keys, n=SUGGESTIONS, cutoff=0.6)
        if not close:  # a name cut short ("cibeunying") still points somewhere
            close = [k for k in keys if wanted and (k.startswith(wanted) or wanted in k)][:SUGGESTIONS]
        names = [self.names[c] for k in close for c in self._by_key[level][k] if within(c, scope)]
        return list(dict.fromkeys(names))[:SUGGESTIONS]

    def codes(self, level: str = "districts") -> list[str]:
        return list(self.levels[level])


def _dotted(digits_or_code: str, length: int) -> str | None:
    """``327302`` → ``32.73.02``; a dotted code is returned as it is."""
    if "." in digits_or_code:
        return digits_or_code
    if len(digits_or_code) != length:
        return None
    parts = [digits_or_code[0:2], digits_or_code[2:4], digits_or_code[4:6]] + (
        [digits_or_code[6:]] if length > 6 else [])
    return ".".join(parts)


def load_index(where: Path, province: str) -> dict[str, Any]:
    path = index_file(where, province)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GazetteerMissing(
            f"the Kemendagri gazetteer ({PACKAGE} {VERSION}) is not installed: {path} is missing; "
            f"run `{INSTALL}` (`make venv` runs it), or set SINERGI_GAZETTEER_DIR to where it is") from None


@lru_cache(maxsize=16)
def _installed(region: str, where: str) -> Places:
    return Places(region, load_index(Path(where), region[:2]))


# Where this process's services were told the gazetteer is (``Settings.gazetteer_dir``, by their
# main.py through :func:`installed`), so a reader that only knows a record's region reads the same.
_configured: dict[str, str] = {}


class _Configured:
    """No directory given: the one this process's main.py was given, else the default."""


CONFIGURED: Any = _Configured()


def installed(region: str, setting: str | os.PathLike[str] | None = CONFIGURED) -> Places:
    """The places of ``region`` from the installed index (read once per process and region).

    A service's ``main.py`` calls it with ``Settings.gazetteer_dir`` (``None``: the default
    directory) and hands the answer to what needs it; a later call without a directory (a view or
    an event naming a record's kecamatan) reads from that same directory, so the settings are the
    one source of the path."""
    if not isinstance(setting, _Configured):
        _configured[region] = str(directory(setting))
    return _installed(region, _configured.get(region) or str(directory()))


def of_rows(region: str, provinces: Iterable[tuple[str, str]], regencies: Iterable[tuple[str, str]],
            districts: Iterable[tuple[str, str]], villages: Iterable[tuple[str, str]]) -> Places:
    """Places from rows given in memory (unit tests, the installer's self-check)."""
    province = region[:2]
    return Places(region, {
        "province": {"code": province, "name": dict(provinces).get(province, province)},
        "regencies": [r for r in regencies if r[0].startswith(province + ".")],
        "districts": [r for r in districts if r[0].startswith(province + ".")],
        "villages": [r for r in villages if r[0].startswith(province + ".")],
    })
