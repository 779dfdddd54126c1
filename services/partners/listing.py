"""The region's partners as this process lists them, when it is the service's only process.

``GET /partners`` filters on type, status, segment, category, district or a part of the name.
FerretDB on SQLite evaluates such a filter in Go over every partner of the collection and sorts
them all by ``_id`` for each page (shared/pagination.py); under 50 clients those lists were most
of the store's work (docs/performance.md). With one process per service every write of a partner
passes through this process's :class:`~services.partners.store.PartnerStore` (the relay's writes
touch only the outbox, which lists never show), so a copy read once and kept current by those
writes answers as the store would. A write whose outcome is not certain (an error after it may
have reached the store) drops the copy, and the next list reads the store again (shared/kept.py).
With several processes the store answers every list (docs/reliability.md).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from shared.kept import KeptCopies
from shared.pagination import decode_cursor, encode_cursor

Doc = dict[str, Any]


def matches(doc: Doc, query: Doc) -> bool:
    """Whether a stored partner matches a filter as the store reads it, for the forms
    ``PartnerStore._query`` writes: a value equals the field or is one of its items (an array),
    and ``{"$regex": pattern}`` is found in the field's text."""
    for name, wanted in query.items():
        value = doc.get(name)
        if isinstance(wanted, dict):
            if not (isinstance(value, str) and re.search(wanted["$regex"], value)):
                return False
        elif not (value == wanted or (isinstance(value, list) and wanted in value)):
            return False
    return True


class Listing:
    """The stored partners of the region (the documents the store holds, outbox aside), by id.

    Up to ``MOST`` partners (~5 KB of memory each, 27 MB in all); a region with more is listed
    by the store from then on (``off``), as with several processes."""

    MOST = 5_000

    def __init__(self) -> None:
        self._kept: KeptCopies[str, _Copy, Doc] = KeptCopies(_Copy.put, lambda copy: len(copy.docs) > self.MOST)

    @property
    def off(self) -> bool:
        return self._kept.left_to_store(REGION)

    async def page(self, read: Callable[[], AsyncIterator[Doc]], query: Doc, limit: int,
                   cursor: str | None) -> tuple[list[Doc], str | None]:
        """One page of the documents matching ``query`` and the cursor of the next, as
        :func:`shared.pagination.page` answers it from the store; ``read`` reads the region's
        partners from the store when there is no copy."""
        copy = await self._copy(read)
        start = bisect.bisect_right(copy.ids, decode_cursor(cursor)) if cursor else 0
        found: list[Doc] = []
        for doc in _matching(copy.docs, (copy.ids[i] for i in range(start, len(copy.ids))), query):
            found.append(doc)
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        return found, encode_cursor(found[-1]["_id"]) if more and found else None

    async def one(self, read: Callable[[], AsyncIterator[Doc]], partner_id: str) -> Doc | None:
        return (await self._copy(read)).docs.get(partner_id)

    async def every(self, read: Callable[[], AsyncIterator[Doc]], query: Doc) -> list[Doc]:
        copy = await self._copy(read)
        return list(_matching(copy.docs, copy.ids, query))

    def written(self, docs: list[Doc]) -> None:
        """These documents are now stored as given (the store's answer said so)."""
        for doc in docs:
            self._kept.wrote(REGION, doc)

    def unsure(self) -> None:
        """A write failed after it may have reached the store: the copy may be wrong."""
        self._kept.unsure(REGION)

    async def _copy(self, read: Callable[[], AsyncIterator[Doc]]) -> _Copy:
        async def copied() -> _Copy:
            return _Copy({doc["_id"]: doc async for doc in read()})

        # Left to the store (over the bound) since the caller looked: read it, as the store lists it.
        return await self._kept.get(REGION, copied) or await copied()


REGION = "region"  # the one copy: the region's partners


class _Copy:
    def __init__(self, docs: dict[str, Doc]) -> None:
        self.docs = docs
        self.ids = sorted(docs)  # the order of every list (ULIDs, so registration order)

    def put(self, doc: Doc) -> None:
        """A document as stored; one older than the copy's (a read that saw a later write) is not taken."""
        held = self.docs.get(doc["_id"])
        if held is None:
            bisect.insort(self.ids, doc["_id"])
        elif held["version"] > doc["version"]:
            return
        self.docs[doc["_id"]] = doc


def _matching(docs: dict[str, Doc], ids: Iterable[str], query: Doc) -> Iterator[Doc]:
    return (docs[doc_id] for doc_id in ids if matches(docs[doc_id], query))
