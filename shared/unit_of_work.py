"""One unit of work for changing an aggregate: the only place that loads, checks, changes and saves.

``await uow.change(id, expected, action)`` reads as the use case: under the aggregate's
in-process lock (FerretDB runs an update as a read then a write, shared/locks.py), load it, check
``If-Match``, let the domain change it, and save it with its recorded events (the outbox rides in
the same document write, shared/outbox.py) only if it is still at the version read.

- A save that lost to another process (:class:`~shared.outbox.StaleVersion`) is a
  :class:`~shared.errors.VersionMismatch` when the client named a version, and is otherwise
  applied again to a fresh read.
- A store that answers busy is tried again in place (shared/mongo.py ``when_free``), then
  :class:`~shared.errors.Unavailable`.
- A change that records no event writes nothing: no new version, no event.

A repository (each service's ``store.py``) says how one kind of aggregate is loaded and saved.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from shared.errors import Conflict, NotFound, VersionMismatch
from shared.mongo import when_free
from shared.outbox import StaleVersion

A = TypeVar("A", bound="Aggregate")


class Aggregate(Protocol):
    id: str
    version: int
    # The domain events the aggregate recorded since it was loaded; the repository drains them.
    events: list[Any]


class AlreadyStored(Exception):
    """An aggregate with this id is stored already: the request that creates it ran before."""


@dataclass
class Loaded(Generic[A]):
    """An aggregate as read for a change: the version it had, and its outbox entries not yet published."""

    aggregate: A
    version: int
    pending: list[dict[str, Any]]


class Repository(Protocol[A]):
    def lock(self, aggregate_id: str) -> Any: ...
    async def load(self, aggregate_id: str) -> Loaded[A] | None: ...
    # Both may be called again after a refusal (the store busy): they clear the aggregate's
    # recorded events only once the write succeeded, so a second try still carries them.
    async def add(self, aggregate: A) -> None:
        """Insert a new aggregate with its events; :class:`AlreadyStored` if its id exists."""
    async def save(self, loaded: Loaded[A]) -> None:
        """Write the changed aggregate if still at ``loaded.version``, else ``StaleVersion``."""


Action = Callable[[A], object | Awaitable[object]]


@dataclass
class UnitOfWork(Generic[A]):
    repository: Repository[A]
    # The aggregate's name in messages: "partner", "activity", "targets".
    kind: str
    # Said after the id when it is not found, e.g. " in region 32.73" (the reads say so too).
    where: str = ""
    attempts: int = 5

    async def add(self, aggregate: A) -> bool:
        """Store a new aggregate; ``False`` when it was stored already (a retried request)."""
        try:
            await when_free(lambda: self.repository.add(aggregate))
        except AlreadyStored:
            return False
        return True

    async def change(self, aggregate_id: str, expected: int | None, action: Action[A]) -> A:
        """Apply ``action`` (which may be async) to the aggregate and save what it recorded."""
        async with self.repository.lock(aggregate_id):
            for _ in range(self.attempts):
                loaded = await self._load(aggregate_id)
                self._check(aggregate_id, expected, loaded.version)
                done = action(loaded.aggregate)
                if inspect.isawaitable(done):
                    await done
                if not loaded.aggregate.events:
                    return loaded.aggregate
                try:
                    await when_free(lambda: self.repository.save(loaded))  # noqa: B023 - awaited at once
                except StaleVersion:
                    if expected is not None:
                        self._check(aggregate_id, expected, (await self._load(aggregate_id)).version)
                    continue  # another process wrote first: apply the change to its result
                return loaded.aggregate
        raise Conflict(f"{self.kind} {aggregate_id} kept changing while this change was applied; send it again")

    async def _load(self, aggregate_id: str) -> Loaded[A]:
        loaded = await self.repository.load(aggregate_id)
        if loaded is None:
            raise NotFound(f"no {self.kind} with id {aggregate_id}{self.where}")
        return loaded

    def _check(self, aggregate_id: str, expected: int | None, current: int) -> None:
        if expected is not None and expected != current:
            raise VersionMismatch(
                f"{self.kind} {aggregate_id} is at version {current}, not {expected}: someone changed it since "
                "you read it. Read it again and reapply your change; nothing was changed",
                current_version=current,
            )
