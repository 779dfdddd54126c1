"""Bootstrap of the notifications service: settings, clients, wiring, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.notifications import api, consumers
from services.notifications.inbox import Inbox
from services.notifications.readmodels import Snapshots
from shared.logging import configure
from shared.runtime import Infrastructure
from shared.settings import Settings
from shared.web import create_app

SERVICE = "notifications"


def build(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure(SERVICE, settings.region, settings.log_level)
    infra = Infrastructure(settings, SERVICE)
    partners = Snapshots(infra.db["partners"])
    inbox = Inbox(infra.db)
    consumers.register(infra, partners, inbox)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await infra.start()
        try:
            yield
        finally:
            await infra.stop()

    app = create_app(settings, SERVICE, lifespan, description="Automated notifications to staff and systems.")
    app.state.infra = infra
    app.state.idempotency = infra.idempotency
    app.state.readiness = {"database": infra.database_ready, "broker": infra.broker_ready}
    app.state.inbox = inbox
    app.include_router(api.router)
    return app
