"""The notifications service's own settings: environment prefix ``SINERGI_NOTIFY_``.

Everything has a default that suits a KPU office; tests shrink the intervals. Lists are
comma separated in the environment (``SINERGI_NOTIFY_REMINDER_DAYS=3,1``).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.notifications.domain import RULES
from services.notifications.egress import Allowance
from services.notifications.recipient import QuietHours


def _comma_list(value: object) -> object:
    if isinstance(value, str) and not value.strip().startswith("["):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINERGI_NOTIFY_", extra="ignore")

    # Rules, each on unless named here: SINERGI_NOTIFY_DISABLED_RULES=digest.weekly,coverage.gap
    disabled_rules: Annotated[list[str], NoDecode] = []
    # H-3 and H-1: days before an activity's local date, sent at reminder_time local.
    reminder_days: Annotated[list[int], NoDecode] = [3, 1]
    reminder_time: time = time(8, 0)
    # A held activity not reported this many days after it ended.
    overdue_days: int = Field(3, ge=1, le=60)
    # Days before an agreement's valid_until.
    agreement_days: Annotated[list[int], NoDecode] = [30, 7]
    # Days before voting day the coverage of targeted segments is checked.
    coverage_days: int = Field(30, ge=1, le=365)
    # The weekly digest: 0 = Monday, at digest_time local.
    digest_weekday: int = Field(0, ge=0, le=6)
    digest_time: time = time(7, 0)

    # Deliveries: attempt n waits base * 2**(n-1) seconds (capped, with jitter) after a failure;
    # after max_attempts the delivery is dead.
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    max_attempts: int = Field(6, ge=1, le=50)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # Webhooks go only to public addresses (docs/security.md); these networks and host names are
    # allowed all the same: SINERGI_NOTIFY_WEBHOOK_ALLOW=10.20.0.0/16,hooks.kpu.internal. None by default.
    webhook_allow: Annotated[list[str], NoDecode] = []
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    mail_from: str = "Sinergi KPU <sinergi@localhost>"
    # Where replies to e-mails land (the office's address); none by default.
    mail_reply_to: str | None = None
    # Deliveries in flight at once in one process, and of those at most this many over SMTP.
    concurrency: int = Field(8, ge=1, le=512)
    smtp_concurrency: int = Field(4, ge=1, le=64)

    # Chat (docs/notifications.md, "Chat channels"). A provider is used once its credentials are set;
    # the URLs are the providers' own unless a deployment (or a test) points them elsewhere.
    # WhatsApp Business Cloud API: a template message from the phone number of this id.
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v21.0"
    whatsapp_template: str = "sinergi_notifikasi"  # approved with two body parameters: subject, text
    whatsapp_template_languages: Annotated[list[str], NoDecode] = ["id=id", "en=en"]
    # Or an office's WhatsApp gateway (Fonnte, Wablas...): a POST of two fields with a token header.
    whatsapp_gateway_url: str | None = None
    whatsapp_gateway_token: str | None = None
    whatsapp_gateway_token_header: str = "Authorization"
    whatsapp_gateway_token_prefix: str = ""  # "Bearer " for gateways that want one
    whatsapp_gateway_target_field: str = "target"
    whatsapp_gateway_message_field: str = "message"
    whatsapp_gateway_format: Literal["form", "json"] = "form"
    whatsapp_gateway_target_style: Literal["e164", "digits", "national"] = "digits"
    # Telegram Bot API sendMessage.
    telegram_bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    chat_timeout_seconds: float = Field(15.0, gt=0)
    # Quiet hours of partners' contacts (local HH:MM-HH:MM; none by default): chat waits until they end.
    contact_quiet_hours: str | None = None

    # The scheduler: how often it looks for due work when nothing wakes it, and how long a
    # claim may be held before another process (or this one after a restart) takes it over.
    poll_seconds: float = Field(5.0, gt=0)
    lease_seconds: float = Field(120.0, gt=0)
    # Claims are kept this long, then pruned (hourly).
    claim_retention_days: int = Field(60, ge=1)
    # Sent deliveries move from the working set to the delivery log in batches, at most this often.
    archive_after_seconds: float = Field(5.0, ge=0)

    # Shifts this process's clock (seconds), or follows the offset written in a file, so that
    # several processes move together. Tests and rehearsals only, never in production.
    clock_offset_seconds: float = 0.0
    clock_file: Path | None = None

    @field_validator("disabled_rules", "reminder_days", "agreement_days", "webhook_allow",
                     "whatsapp_template_languages", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _comma_list(value)

    @field_validator("disabled_rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = [rule for rule in value if rule not in RULES]
        if unknown:
            raise ValueError(f"unknown rules {', '.join(unknown)}; the rules are {', '.join(RULES)}")
        return value

    @field_validator("webhook_allow")
    @classmethod
    def _allowance(cls, value: list[str]) -> list[str]:
        Allowance.parse(value)  # fails fast on an entry that is neither a network nor a host name
        return value

    @field_validator("reminder_days", "agreement_days")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if any(day < 0 or day > 365 for day in value):
            raise ValueError("offsets are days between 0 and 365")
        return sorted(set(value), reverse=True)

    @field_validator("contact_quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value:
            QuietHours.parse(value)  # fails fast on anything but HH:MM-HH:MM
        return value or None

    @field_validator("whatsapp_template_languages")
    @classmethod
    def _template_languages(cls, value: list[str]) -> list[str]:
        if any("=" not in pair for pair in value):
            raise ValueError("pairs language=template language, e.g. id=id,en=en_US")
        return value

    def template_language(self, language: str) -> str:
        pairs = dict(pair.split("=", 1) for pair in self.whatsapp_template_languages)
        return pairs.get(language) or pairs.get("id") or language

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled_rules
