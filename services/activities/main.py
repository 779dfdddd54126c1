"""Bootstrap of the activities service: settings, clients, wiring, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.activities import api, consumers
from services.activities.events import SERVICE
from services.activities.figures import Figures
from services.activities.handlers import Activities, ElectionBook, TargetBook
from services.activities.config import OverdueSettings
from services.activities.store import ActivityStore, Claims, ElectionStore, PartnerReplica, Revision, TargetStore
from services.activities.invitations import Confirmations
from services.activities.views import ActivityViews
from shared.gazetteer import installed
from shared.logging import configure
from shared.runtime import Infrastructure
from shared.settings import Settings
from shared.web import create_app


def build(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure(SERVICE, settings.region, settings.log_level)
    infra = Infrastructure(settings, SERVICE)
    # The gazetteer's path has one source, the settings; what reads names later reads this copy.
    places = installed(settings.region, settings.gazetteer_dir)
    replica = PartnerReplica(infra.db["partner_replica"])
    # Written only through their unit of work: one process loads what it last wrote without a read.
    store = ActivityStore(infra.aggregates("activities", remember=True), Revision(infra.db["revisions"]), settings.zone)
    calendar = ElectionStore(infra.aggregates("elections", remember=True), settings.region)
    targets = TargetBook(TargetStore(infra.aggregates("targets", remember=True)), settings.region, calendar=calendar)
    confirmations = Confirmations(infra.db["confirmations"])  # contacts' answers to invitations
    consumers.register(infra, replica, confirmations)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await infra.start()
        try:
            yield
        finally:
            await infra.stop()

    app = create_app(settings, SERVICE, lifespan,
                     description="Outreach activities of one KPU region: life cycle, targets, coverage, reports.")
    app.state.infra = infra
    app.state.idempotency = infra.idempotency
    app.state.readiness = {"database": infra.database_ready, "broker": infra.broker_ready}
    app.state.replica = replica
    app.state.calendar = calendar
    app.state.elections = ElectionBook(calendar, settings.region, settings.zone)
    activities = app.state.activities = Activities(store, replica, settings.region, calendar=calendar,
                                                   zone=settings.zone, claims=Claims(infra.db["claims"]))
    # Reports not in by H+3 are announced by a timer (issue 12, point 8).
    infra.every("report-overdue", OverdueSettings().report_overdue_check_seconds, activities.announce_overdue)
    app.state.views = ActivityViews(store, replica, settings.zone, calendar, confirmations)
    app.state.targets = targets
    app.state.figures = Figures(store, targets, replica, settings.region, settings.region_name, settings.zone,
                                places=places, confirmations=confirmations)
    app.include_router(api.router)
    return app
