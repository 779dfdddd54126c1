"""One MongoDB client per process, PyMongo's async API (Motor reached end of life)."""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from shared.settings import Settings


def connect(settings: Settings, service: str) -> AsyncMongoClient:
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        appname=f"sinergi-{service}",
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        # Reads and writes after a dropped connection are retried once by the driver.
        retryWrites=True,
        retryReads=True,
    )


async def ping(client: AsyncMongoClient) -> bool:
    await client.admin.command("ping")
    return True


def busy(exc: BaseException) -> bool:
    """FerretDB on SQLite answers ``database is locked (SQLITE_BUSY)`` when writers collide; the
    refused statement was rolled back whole, so trying it again a moment later is safe."""
    return isinstance(exc, OperationFailure) and "database is locked" in str(exc)
