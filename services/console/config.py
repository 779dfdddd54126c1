"""The console's own settings, prefix ``SINERGI_CONSOLE_`` (the shared ones come from
:class:`shared.settings.Settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.serve import APPS


def _local(service: str) -> str:
    return f"http://127.0.0.1:{APPS[service]}"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_CONSOLE_", extra="ignore")

    # Where the three services answer (the console calls them over HTTP, never their databases).
    partners_url: str = _local("partners")
    activities_url: str = _local("activities")
    notifications_url: str = _local("notifications")
    # The address people open, for the links in invitation e-mails; also decides Secure cookies.
    public_url: str = Field(default_factory=lambda: _local("console"))
    session_hours: float = Field(12.0, gt=0)
    # Each call to a service carries a token minted for the person signed in, valid this long.
    token_seconds: int = Field(120, ge=10, le=3600)
    invitation_hours: float = Field(72.0, gt=0)
    # Failed logins within the window before the next attempt is refused, per account and per address.
    login_window_minutes: float = Field(15.0, gt=0)
    login_failures_per_account: int = Field(5, ge=1)
    login_failures_per_address: int = Field(30, ge=1)
    mail_from: str = "Konsol Sinergi <sinergi@localhost>"
    service_timeout_seconds: float = Field(10.0, gt=0)
    # Where `npm ci` put the browser's packages (the image copies them elsewhere; see the Dockerfile).
    assets_dir: str = str(Path(__file__).resolve().parent / "node_modules")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")
