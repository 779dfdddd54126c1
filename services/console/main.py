"""Bootstrap of the console: settings, its database, the clients of the three services, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from services.console import web
from services.console.backend import Services
from services.console.config import ConsoleSettings
from services.console.handlers import Accounts
from services.console.mail import Mailer
from services.console.pages import activities, auth, dead_letters, home, inbox, partners, settings_pages
from services.console.store import Invitations, LoginFailures, Sessions, Users
from shared.clock import now_ms
from shared.logging import configure, get_logger
from shared.mongo import connect, ping
from shared.settings import Settings
from shared.tasks import cancel_all
from shared.web import create_app

SERVICE = "console"
HERE = Path(__file__).resolve().parent
# The browser's scripts come from npm packages pinned by package-lock.json (npm ci), served from here.
ASSETS = {"htmx.min.js": Path("htmx.org") / "dist" / "htmx.min.js"}
log = get_logger(__name__)


def build(settings: Settings | None = None, console: ConsoleSettings | None = None,
          transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> FastAPI:
    """``transports`` lets tests put the services in the same process (httpx.ASGITransport)."""
    settings = settings or Settings()
    console = console or ConsoleSettings()
    configure(SERVICE, settings.region, settings.log_level)
    client = connect(settings, SERVICE)
    db = client[settings.database_name(SERVICE)]
    services = Services({"partners": console.partners_url, "activities": console.activities_url,
                         "notifications": console.notifications_url}, settings.auth_secret or "",
                        settings.region, console.token_seconds, console.service_timeout_seconds, transports)
    sessions = Sessions(db)
    failures = LoginFailures(db)
    accounts = Accounts(Users(db), sessions, Invitations(db), failures, services, settings.region,
                        console.invitation_hours, console.login_window_minutes, console.login_failures_per_account,
                        console.login_failures_per_address)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        async def prune() -> None:
            while True:
                await asyncio.sleep(3600)
                try:
                    await sessions.prune(now_ms())
                    await failures.prune(now_ms() - timedelta(minutes=console.login_window_minutes))
                except Exception as exc:  # noqa: BLE001 - a timer must outlive a bad hour
                    log.warning("pruning sessions failed", error=repr(exc))

        task = asyncio.create_task(prune(), name="prune-sessions")
        try:
            yield
        finally:
            await cancel_all([task])
            await services.close()
            await client.close()

    # The console publishes no events and keeps no event log: no audit, replay or dead-letter routes.
    app = create_app(settings, SERVICE, lifespan, description="Konsol Sinergi: the web console for office staff.",
                     event_log=False)
    app.state.console_settings = console
    app.state.services = services
    app.state.sessions = sessions
    app.state.accounts = accounts
    app.state.home_figures = home.Kept()  # the region's figures of the Beranda, kept a few seconds
    app.state.mailer = Mailer(settings.smtp_url, console.mail_from)
    # Ready when its own store and the three services it calls answer (sinergi status shows it).
    app.state.readiness = {"database": lambda: ping(client),
                           **{name: services.answering(name) for name in services.clients}}
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    _install_errors(app)

    @app.get("/static/htmx.min.js", include_in_schema=False)
    async def htmx() -> Response:
        return FileResponse(Path(console.assets_dir) / ASSETS["htmx.min.js"], media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    # After the route above: a mount answers for everything under its path.
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for part in (auth, home, partners, activities, inbox, settings_pages, dead_letters):
        app.include_router(part.router, include_in_schema=False)
    return app


def _install_errors(app: FastAPI) -> None:
    from services.console.backend import Refused

    @app.exception_handler(web.LoginNeeded)
    async def _login(request: Request, exc: Exception) -> Response:
        return web.back_to_login(request)

    @app.exception_handler(web.NotAllowed)
    async def _forbidden(request: Request, exc: Exception) -> Response:
        return web.render(request, "error.html", 403, heading="403", key="forbidden")

    @app.exception_handler(web.CsrfRefused)
    async def _csrf(request: Request, exc: Exception) -> Response:
        return web.render(request, "error.html", 403, heading="403", key="csrf")

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return web.render(request, "error.html", exc.status, heading=str(exc.status), text=exc.detail)
