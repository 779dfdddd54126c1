"""Possible duplicates among partners (issue 12, point 10), free of I/O.

Offices register the same body twice under two spellings ("Diskominfo Kota Bandung" and
"Dinas Komunikasi dan Informatika Kota Bandung"). A partner is the *same* as another when a
phone or e-mail matches, or the names are equal once normalised (case, spacing, punctuation,
common abbreviations); it is *similar* when one name is the other with words added at the end
("KIM Sekarbela" / "KIM Sekarbela Bdg") or they differ by one letter. Lookups are dictionaries
built in one pass over the region's partners (FerretDB scans for any filter but ``_id``), kept by
the store between reads and updated by its writes; no pairwise comparison: a 1,000-row import stays cheap.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.partners.domain.model import Partner, fold
from shared.errors import Conflict

# Words offices abbreviate, written out. Multi-word forms first, so they are replaced whole.
ABBREVIATIONS = {
    "diskominfo": "dinas komunikasi dan informatika",
    "kominfo": "komunikasi dan informatika",
    "disdik": "dinas pendidikan",
    "dispora": "dinas pemuda dan olahraga",
    "kesbangpol": "badan kesatuan bangsa dan politik",
    "bakesbangpol": "badan kesatuan bangsa dan politik",
    "kab": "kabupaten",
    "kec": "kecamatan",
    "kel": "kelurahan",
    "ds": "desa",
    "univ": "universitas",
    "pemkot": "pemerintah kota",
    "pemkab": "pemerintah kabupaten",
    "ponpes": "pondok pesantren",
}
_PUNCTUATION = re.compile(r"[^\w]+")


def name_key(name: str) -> str:
    """The name as compared for duplicates: lower case, punctuation as spaces, abbreviations written out."""
    words = _PUNCTUATION.sub(" ", name.casefold()).split()
    return " ".join(ABBREVIATIONS.get(word, word) for word in words)


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass
class Found:
    same: list[Candidate] = field(default_factory=list)
    similar: list[Candidate] = field(default_factory=list)

    @staticmethod
    def listed(candidates: list[Candidate]) -> list[dict[str, str]]:
        return [{"id": c.id, "name": c.name} for c in candidates]


class PossibleDuplicate(Conflict):
    """The partner looks like one registered already; ``possible_duplicates`` names them."""

    def __init__(self, name: str, same: list[Candidate]) -> None:
        names = ", ".join(f"{c.name!r} ({c.id})" for c in same)
        super().__init__(f"{name!r} looks like a partner registered already: {names}; "
                         "send it again with ?confirm=true to register it anyway",
                         possible_duplicates=Found.listed(same))


def _one_letter_off(key: str) -> set[str]:
    # Two keys one insertion, deletion or substitution apart share one of these (symmetric delete).
    return {key} | {key[:i] + key[i + 1:] for i in range(len(key))}


def _prefixes(key: str) -> list[str]:
    words = key.split()
    return [" ".join(words[:n]) for n in range(2, len(words))]


@dataclass
class Directory:
    """The region's partners, indexed by what makes two of them look alike.

    Built once per read of the region and kept up to date by each write (the store's copy), not
    rebuilt per registration or import: indexing 3,000 partners is ~1 s of Python (20,000: ~7 s),
    which held every other request of the process while it ran. An import looks through a
    :meth:`layer` of its own, so its rows are compared with each other without entering the
    region's directory before they are stored."""

    by_key: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    by_contact: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    by_variant: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    by_prefix: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    members: dict[str, Candidate] = field(default_factory=dict)
    under: Directory | None = None

    @classmethod
    def of(cls, candidates: Iterable[Candidate]) -> Directory:
        directory = cls()
        for candidate in candidates:
            directory.add(candidate)
        return directory

    @staticmethod
    def of_partner(partner: Partner) -> Candidate:
        return Candidate(partner.id, partner.name, tuple(c.phone for c in partner.contacts if c.phone),
                         tuple(c.email for c in partner.contacts if c.email))

    def layer(self) -> Directory:
        """A directory that looks here and in what is added to it, leaving this one as it is."""
        return Directory(under=self)

    def add(self, candidate: Candidate) -> None:
        """Index ``candidate``; one already here under its id (renamed, new contacts) is replaced."""
        previous = self.members.get(candidate.id)
        if previous == candidate:
            return
        if previous is not None:
            self._index(previous, _drop)
        self.members[candidate.id] = candidate
        self._index(candidate, _keep)

    def _index(self, candidate: Candidate, put: Callable[[list[Candidate], Candidate], None]) -> None:
        key = name_key(candidate.name)
        put(self.by_key[key], candidate)
        for contact in _contacts(candidate):
            put(self.by_contact[contact], candidate)
        if len(key) >= 8:  # short names one letter apart are different bodies often enough
            for variant in _one_letter_off(key):
                put(self.by_variant[variant], candidate)
        for prefix in _prefixes(key):
            put(self.by_prefix[prefix], candidate)

    def _in(self, index: str, key: str) -> list[Candidate]:
        """One bucket: the layer below's first, then this one's; at most ``BUCKET`` partners."""
        own: list[Candidate] = getattr(self, index).get(key, [])
        if self.under is None:
            return own
        found: dict[str, Candidate] = {}
        for candidate in (*self.under._in(index, key), *own):
            found.setdefault(candidate.id, candidate)
        return list(found.values())[:BUCKET]

    def look(self, candidate: Candidate) -> Found:
        """Who ``candidate`` may duplicate (itself, by id, never)."""
        key = name_key(candidate.name)
        same: dict[str, Candidate] = {}
        for other in [*self._in("by_key", key),
                      *(o for c in _contacts(candidate) for o in self._in("by_contact", c))]:
            same.setdefault(other.id, other)
        similar: dict[str, Candidate] = {}
        near = [*self._in("by_prefix", key), *(o for p in _prefixes(key) for o in self._in("by_key", p))]
        if len(key) >= 8:
            near += [o for v in _one_letter_off(key) for o in self._in("by_variant", v)]
        for other in near:
            if other.id not in same:
                similar.setdefault(other.id, other)
        # Itself (a retried request, an import row for its own partner) is no duplicate; nor is a
        # partner of the very same name, which is the same partner (the name claim answers that).
        def other(found: dict[str, Candidate]) -> list[Candidate]:
            return [c for c in found.values() if c.id != candidate.id and fold(c.name) != fold(candidate.name)]

        return Found(other(same), other(similar))


# A bucket lists this many partners at most: numbered names ("KIM RW 01" … "KIM RW 99") share
# buckets, and a look must stay a few dictionary reads (an import checks every new row).
BUCKET = 8


def _keep(bucket: list[Candidate], candidate: Candidate) -> None:
    if len(bucket) < BUCKET:
        bucket.append(candidate)


def _drop(bucket: list[Candidate], candidate: Candidate) -> None:
    if candidate in bucket:
        bucket.remove(candidate)


def _contacts(candidate: Candidate) -> list[str]:
    return [f"phone:{p}" for p in candidate.phones if p] + [f"email:{e.casefold()}" for e in candidate.emails if e]
