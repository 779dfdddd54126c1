"""What a use case can refuse, in the service's words, free of HTTP.

Use cases (``handlers.py``, notifications' ``notifier.py``) raise these; they never build
problem details. Each app installs one mapping at its edge (:func:`shared.problems.install`)
that turns them into problem+json: :class:`NotFound` 404, :class:`Conflict` 409,
:class:`Invalid` 422, :class:`VersionMismatch` 412, :class:`TooLarge` 413, :class:`Unavailable` 503.
``facts`` are extra members of the answer (``current_status``, ``existing_id``...) a client can act on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ServiceError(Exception):
    """A refusal a client can understand; ``detail`` says what happened and what to do."""

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class NotFound(ServiceError):
    """The thing named does not exist (in this instance's region)."""


class Conflict(ServiceError):
    """The request clashes with the current state: a status that forbids it, a name already taken."""


class VersionMismatch(ServiceError):
    """The client named a version (``If-Match``) the aggregate is no longer at; nothing was changed."""


class TooLarge(ServiceError):
    """The input is over a limit the service keeps (rows in a file, unpacked bytes)."""


class Unavailable(ServiceError):
    """The store or broker cannot take the request now; nothing was changed, trying again may work."""

    def __init__(self, detail: str, retry_after: int = 1, **facts: Any) -> None:
        super().__init__(detail, **facts)
        self.retry_after = retry_after


FieldErrors = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[Mapping[str, str]]


class Invalid(ServiceError):
    """Input that breaks a rule, naming every field at fault: ``Invalid({"contacts[0].email": "..."})``."""

    def __init__(self, errors: FieldErrors, detail: str | None = None, **facts: Any) -> None:
        self.errors = field_errors(errors)
        super().__init__(detail or "; ".join(f"{e['field']}: {e['message']}" for e in self.errors), **facts)


def field_errors(errors: FieldErrors) -> list[dict[str, str]]:
    """``{field: message}``, ``[(field, message)]`` or ``[{field, message}]`` as ``[{field, message}]``."""
    if isinstance(errors, Mapping):
        return [{"field": str(f), "message": str(m)} for f, m in errors.items()]
    items: list[dict[str, str]] = []
    for error in errors:
        if isinstance(error, Mapping):
            items.append({"field": str(error["field"]), "message": str(error["message"])})
        else:
            field, message = error
            items.append({"field": str(field), "message": str(message)})
    return items
