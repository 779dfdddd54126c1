"""The region's partners as this process lists them, when it is the service's only process.

``GET /partners`` filters on type, status, segment, category, district or a part of the name.
FerretDB on SQLite evaluates such a filter in Go over every partner of the collection and sorts
them all by ``_id`` for each page (shared/pagination.py); under 50 clients those lists were most
of the store's work (docs/performance.md). With one process per service every write of a partner
passes through this process's :class:`~services.partners.store.PartnerStore` (the relay's writes
touch only the outbox, which lists never show), so a copy read once and kept current by those
writes answers as the store would. A write whose outcome is not certain (an error after it may
have reached the store) drops the copy, and the next list reads the store again. With several
processes the store answers every list (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import bisect
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

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
        self.off = False
        self._docs: dict[str, Doc] | None = None
        self._ids: list[str] = []  # sorted: the order of every list (ULIDs, so registration order)
        self._reading = asyncio.Lock()
        # While the copy is being read: the writes done meanwhile, which the read may have missed,
        # and whether one of them may have been done without this process knowing its outcome.
        self._meanwhile: dict[str, Doc] | None = None
        self._spoiled = False

    async def page(self, read: Callable[[], AsyncIterator[Doc]], query: Doc, limit: int,
                   cursor: str | None) -> tuple[list[Doc], str | None]:
        """One page of the documents matching ``query`` and the cursor of the next, as
        :func:`shared.pagination.page` answers it from the store; ``read`` reads the region's
        partners from the store when there is no copy."""
        docs, ids = await self._copy(read)
        start = bisect.bisect_right(ids, decode_cursor(cursor)) if cursor else 0
        found: list[Doc] = []
        for doc in _matching(docs, (ids[i] for i in range(start, len(ids))), query):
            found.append(doc)
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        return found, encode_cursor(found[-1]["_id"]) if more and found else None

    async def one(self, read: Callable[[], AsyncIterator[Doc]], partner_id: str) -> Doc | None:
        docs, _ = await self._copy(read)
        return docs.get(partner_id)

    async def every(self, read: Callable[[], AsyncIterator[Doc]], query: Doc) -> list[Doc]:
        docs, ids = await self._copy(read)
        return list(_matching(docs, ids, query))

    def written(self, docs: list[Doc]) -> None:
        """These documents are now stored as given (the store's answer said so)."""
        for doc in docs:
            if self._meanwhile is not None:
                self._meanwhile[doc["_id"]] = doc
            if self._docs is not None:
                if doc["_id"] not in self._docs:
                    bisect.insort(self._ids, doc["_id"])
                self._docs[doc["_id"]] = doc
        if self._docs is not None and len(self._docs) > self.MOST:
            self.off, self._docs, self._ids = True, None, []

    def unsure(self) -> None:
        """A write failed after it may have reached the store: the copy may be wrong."""
        self._docs, self._ids = None, []
        if self._meanwhile is not None:
            self._spoiled = True

    async def _copy(self, read: Callable[[], AsyncIterator[Doc]]) -> tuple[dict[str, Doc], list[str]]:
        if self._docs is not None:
            return self._docs, self._ids
        async with self._reading:  # the lists waiting meanwhile share one read of the store
            if self._docs is not None:
                return self._docs, self._ids
            self._meanwhile, self._spoiled = {}, False
            try:
                docs = {doc["_id"]: doc async for doc in read()}
                for doc_id, doc in self._meanwhile.items():
                    if doc_id not in docs or doc["version"] >= docs[doc_id]["version"]:
                        docs[doc_id] = doc
                ids = sorted(docs)
                self.off = len(docs) > self.MOST
                if not self._spoiled and not self.off:
                    self._docs, self._ids = docs, ids
                return docs, ids  # a spoiled read still answers the lists that waited for it
            finally:
                self._meanwhile = None


def _matching(docs: dict[str, Doc], ids: Iterable[str], query: Doc) -> Iterator[Doc]:
    return (docs[doc_id] for doc_id in ids if matches(docs[doc_id], query))
