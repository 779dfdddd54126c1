"""What every resource carries (CONTRACT §2): ``id``, ``version``, ``created_at``, ``updated_at``.

One place says how that stamp reads on an aggregate, in an answer or event (``id``) and in a
stored document (``_id``), so a snapshot or a document mapper only spells out its own fields.
"""

from __future__ import annotations

from typing import Any, Protocol


class Stamped(Protocol):
    id: str
    version: int
    created_at: Any
    updated_at: Any


def stamp(resource: Stamped) -> dict[str, Any]:
    """The stamp as answers and events show it."""
    return {"id": resource.id, "version": resource.version, "created_at": resource.created_at,
            "updated_at": resource.updated_at}


def stored_stamp(resource: Stamped) -> dict[str, Any]:
    """The stamp as a stored document keeps it (the id is the document's ``_id``)."""
    return {"_id": resource.id, "version": resource.version, "created_at": resource.created_at,
            "updated_at": resource.updated_at}


def read_stamp(document: dict[str, Any]) -> dict[str, Any]:
    """A stored document's stamp, as keyword arguments of the aggregate it holds."""
    return {"id": document["_id"], "version": document["version"], "created_at": document["created_at"],
            "updated_at": document["updated_at"]}
