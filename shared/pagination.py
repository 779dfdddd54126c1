"""Cursor pagination (CONTRACT §2): ``?limit=`` (default 50, max 500), ``?cursor=``.

Lists are ordered by ``_id`` (ULIDs, so creation order) and the cursor is the last id seen,
so a page never shifts when documents are added, and only the ``_id`` index is needed
(the one index FerretDB's SQLite backend uses).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Query
from pymongo.asynchronous.collection import AsyncCollection

from shared.errors import Invalid

Limit = Annotated[int, Query(ge=1, le=500, description="page size (max 500)")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        # validate=True: characters outside the alphabet are an error, not silently dropped.
        value = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid({"cursor": "not a cursor this service issued"}) from exc
    if not value or not value.isprintable():
        raise Invalid({"cursor": "not a cursor this service issued"})
    return value


async def page(
    collection: AsyncCollection,
    query: dict[str, Any],
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
    projection: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of raw documents and the cursor of the next (``None`` on the last page)."""
    if cursor:
        after = decode_cursor(cursor)
        query = {"$and": [query, {"_id": {"$lt" if newest_first else "$gt": after}}]}
    found = collection.find(query, projection).sort("_id", -1 if newest_first else 1).limit(limit + 1)
    docs = await found.to_list(length=limit + 1)
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, encode_cursor(docs[-1]["_id"]) if more and docs else None
