"""Bootstrap of the notifications service: settings, clients, wiring, lifespan."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from ulid import ULID

from services.notifications import answer_page, api, consumers, preferences_api
from services.notifications.channels import Mailer, SmtpServer, WebhookSender
from services.notifications.clock import Clock
from services.notifications.config import NotifySettings
from services.notifications.egress import Allowance, Egress, PinnedTransport
from services.notifications.events import SERVICE
from services.notifications.handlers import Handlers, ReadModels, RecipientCommands
from services.notifications.invitations import Answers
from services.notifications.notifier import DeliveryRunner, Metrics, Notifier
from services.notifications.readmodels import Activity, Election, Partner, Targets
from services.notifications.scheduler import Scheduler
from services.notifications.store import Claims, Deliveries, Inboxes, Jobs, Recipients, Snapshots
from services.notifications.texts import Texts
from shared.clock import now_ms
from shared.group_insert import LINGER
from shared.logging import configure
from shared.outbox import WriteLeases
from shared.runtime import Infrastructure
from shared.settings import Settings
from shared.web import create_app


def build(settings: Settings | None = None, config: NotifySettings | None = None) -> FastAPI:
    settings = settings or Settings()
    config = config or NotifySettings()
    configure(SERVICE, settings.region, settings.log_level)
    infra = Infrastructure(settings, SERVICE)
    clock = Clock(timedelta(seconds=config.clock_offset_seconds), config.clock_file)
    egress = Egress(Allowance.parse(config.webhook_allow), timeout=config.webhook_timeout_seconds)
    # Redirects are not followed (a 3xx is a failed attempt), and no proxy from the environment
    # stands between the check of a target and the connection to it.
    http = httpx.AsyncClient(transport=PinnedTransport(egress, httpx.Limits(max_connections=config.concurrency)),
                             follow_redirects=False, trust_env=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await infra.start()
        await handlers.ensure_digest()
        await scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await infra.stop()
            await http.aclose()
            await runner.chat.aclose()

    app = create_app(settings, SERVICE, lifespan, description="Automated notifications to staff and systems.")

    def wake() -> None:
        scheduler.wake()

    def expect(due: datetime) -> None:
        scheduler.expect(due)

    def hand(deliveries: list[dict[str, Any]]) -> None:
        scheduler.hand(deliveries)

    metrics = Metrics(app.state.registry)
    recipients = Recipients(infra.db["recipients"])
    # Several processes update one notification (each its own delivery's outcome): a lease each write.
    inboxes = Inboxes(infra.db, WriteLeases(infra.db["write_leases"]) if settings.processes > 1 else None)
    deliveries = Deliveries(infra.aggregates("deliveries"), infra.db["delivery_log"])
    jobs = Jobs(infra.db["jobs"], several_processes=settings.processes > 1)
    claims = Claims(infra.db["claims"])
    notifier = Notifier(recipients, inboxes, deliveries, Texts(settings.zone, settings.region_name), clock, config,
                        settings.region, wake, metrics, hand)
    mailer = Mailer(SmtpServer.from_url(settings.smtp_url), config.mail_from, config.smtp_timeout_seconds,
                    domain=f"sinergi-{settings.region_digits}.local", reply_to=config.mail_reply_to)
    runner = DeliveryRunner(deliveries, inboxes, recipients, mailer, WebhookSender(http, config.webhook_timeout_seconds),
                            clock, config, metrics, wake)
    sole = settings.processes <= 1  # one process alone writes the read models: no read back per event
    # A partner's first version waits for others to share its insert (a staff member registers partners
    # one after another, a few ms apart); nothing waits for it but the copy. An activity's does not:
    # its schedule often follows its plan at once, and the scheduled notification would wait behind it.
    models = ReadModels(Snapshots(infra.db["partners"], Partner, sole, first_linger=LINGER),
                        Snapshots(infra.db["activities"], Activity, sole),
                        Snapshots(infra.db["targets"], Targets, sole), Snapshots(infra.db["elections"], Election, sole))
    handlers = Handlers(models, jobs, notifier, clock, config, settings, expect)
    scheduler = Scheduler(jobs, claims, deliveries, runner, handlers.run_job, clock, config,
                          owner=f"{socket.gethostname()}:{os.getpid()}:{ULID()}",
                          several_processes=settings.processes > 1)
    consumers.register(infra, handlers)

    async def prune_claims() -> int:
        return await claims.prune(now_ms() - timedelta(days=config.claim_retention_days))

    infra.every("prune-claims", 3600.0, prune_claims)

    app.state.infra = infra
    app.state.idempotency = infra.idempotency
    app.state.readiness = {"database": infra.database_ready, "broker": infra.broker_ready}
    app.state.clock = clock
    app.state.recipients = recipients
    app.state.inboxes = inboxes
    app.state.deliveries = deliveries
    app.state.jobs = jobs
    app.state.egress = egress
    app.state.recipient_commands = RecipientCommands(recipients, inboxes, egress, runner.forget)
    app.state.runner = runner
    # Invitation answers (answer_page.py): the links' signer, the answers and their outbox, what the page shows.
    app.state.invitation_links = handlers.signer
    app.state.invitation_answers = Answers(infra.aggregates("invitation_answers"), settings.region)
    app.state.activity_models = models.activities
    app.state.texts = notifier.texts
    app.state.scheduler = scheduler
    app.include_router(api.router)
    app.include_router(answer_page.router)
    app.include_router(preferences_api.router)
    return app
