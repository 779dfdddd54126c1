"""Bootstrap of the partners service: settings, clients, wiring, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.partners import api
from services.partners.config import AgreementSettings, ImportSettings
from services.partners.events import SERVICE
from services.partners.handlers import Registry
from services.partners.store import PartnerStore
from shared.gazetteer import installed
from shared.logging import configure
from shared.runtime import Infrastructure
from shared.settings import Settings
from shared.web import create_app


def build(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure(SERVICE, settings.region, settings.log_level)
    infra = Infrastructure(settings, SERVICE)
    # Written only through the unit of work and the import: one process loads what it last wrote.
    store = PartnerStore(infra.aggregates("partners", remember=True), infra.db["partner_names"], settings.region)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await infra.start()
        await store.ensure_indexes()
        try:
            yield
        finally:
            await infra.stop()

    app = create_app(settings, SERVICE, lifespan, description="The partner registry of one KPU region.")
    app.state.infra = infra
    app.state.idempotency = infra.idempotency
    app.state.readiness = {"database": infra.database_ready, "broker": infra.broker_ready}
    # The gazetteer's path has one source, the settings; what reads names later reads this copy.
    places = installed(settings.region, settings.gazetteer_dir)
    registry = app.state.registry_service = Registry(store, settings.region, zone=ZoneInfo(settings.timezone),
                                                     places=places)
    # Agreements reaching their end are announced by a timer (issue 12, point 8).
    infra.every("agreement-facts", AgreementSettings().agreement_check_seconds, registry.announce_agreements)
    # Read at start, so a bad SINERGI_IMPORT_* value stops the service at once, not at the first import.
    app.state.import_limits = ImportSettings().limits()
    app.include_router(api.router)
    return app
