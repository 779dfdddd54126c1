"""What a person may type for an account (the console's forms, ``sinergi users``), checked as the
services check their bodies: pydantic, with the refusals in the catalogue's words
(``shared.language.refusal`` shows them in Bahasa Indonesia or English)."""

from __future__ import annotations

from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from services.console.accounts import MAX_NAME, MAX_PASSWORD, MIN_PASSWORD, Role
from shared.errors import Invalid
from shared.language import Language, refusal
from shared.regions import is_region_code


def normal_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"{value} is not an e-mail address: {exc}") from None


def _regions(values: list[str]) -> list[str]:
    for value in values:
        if value != "*" and not is_region_code(value):
            raise ValueError(f"{value} is not a dotted Kemendagri region code such as 32.73")
    return list(dict.fromkeys(values))


def _one_line(value: str) -> str:
    return " ".join(value.split())


Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, AfterValidator(normal_email)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME),
                    AfterValidator(_one_line)]
    role: Role
    regions: Annotated[list[str], AfterValidator(_regions)]
    password: Password | None = None


class PasswordIn(BaseModel):
    password: Password


class AccountRefused(Invalid):
    """Input that breaks an account rule; ``shown(language)`` words each field's refusal."""

    def __init__(self, error: ValidationError) -> None:
        self.raw = error.errors()
        super().__init__({self._field(e): refusal(e, "en") for e in self.raw})

    @staticmethod
    def _field(error: dict[str, Any]) -> str:
        return str(error["loc"][0]) if error.get("loc") else "body"

    def shown(self, language: Language) -> dict[str, str]:
        return {self._field(e): refusal(e, language) for e in self.raw}


def parsed(model: type[BaseModel], **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        raise AccountRefused(exc) from None
