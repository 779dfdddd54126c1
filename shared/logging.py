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
# Who made the work in hand: the verified token's ``sub`` and its display ``name`` claim, set by
# shared.auth once a token is verified; ``None`` for work no request made (timers, consumers).
actor_id: ContextVar[str | None] = ContextVar("actor_id", default=None)
actor_name: ContextVar[str | None] = ContextVar("actor_name", default=None)
# The batch the work in hand belongs to: (batch id, label), e.g. one import and its file name; the
# events it publishes carry them (CloudEvents ``batchid``/``batchlabel``) so notifications can sum
# a burst up exactly. Set by whoever starts the batch (an import, a header, the demo load).
batch: ContextVar[tuple[str, str | None] | None] = ContextVar("batch", default=None)


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
def in_batch(batch_id: str, label: str | None = None) -> Iterator[None]:
    """Everything published inside belongs to the batch ``batch_id`` (``label`` says what it is)."""
    token = batch.set((batch_id, label))
    try:
        yield
    finally:
        batch.reset(token)


@contextmanager
def bound(correlation: str | None, causation: str | None = None, **extra: object) -> Iterator[None]:
    """Bind the ids of the current request or message for everything logged or published inside."""
    # The actor starts empty for each request or message and is undone after it, so one request's
    # actor never rides on the events of the next work done in the same context.
    tokens = (correlation_id.set(correlation), causation_id.set(causation), actor_id.set(None), actor_name.set(None))
    with structlog.contextvars.bound_contextvars(correlation_id=correlation, **extra):
        try:
            yield
        finally:
            correlation_id.reset(tokens[0])
            causation_id.reset(tokens[1])
            actor_id.reset(tokens[2])
            actor_name.reset(tokens[3])


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
