"""Structured logs, configured once: JSON lines with service, region and correlation ids.

Request and message handlers bind ``correlation_id`` (and ``event_id`` for messages) with
:func:`bind`; structlog's contextvars carry them into every log line of that task.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import structlog

# The id that ties an HTTP request to the events it causes and the work they cause in turn.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# The id of the event being handled, so events published while handling it name their cause.
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


def configure(service: str, region: str, level: str = "info") -> None:
    renderer: structlog.types.Processor
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, region=region)
    # Libraries log through the standard library; keep them quiet and on the same stream.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")


@contextmanager
def bound(correlation: str | None, causation: str | None = None, **extra: object) -> Iterator[None]:
    """Bind the ids of the current request or message for everything logged or published inside."""
    tokens = (correlation_id.set(correlation), causation_id.set(causation))
    with structlog.contextvars.bound_contextvars(correlation_id=correlation, **extra):
        try:
            yield
        finally:
            correlation_id.reset(tokens[0])
            causation_id.reset(tokens[1])


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
