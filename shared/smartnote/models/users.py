"""Users and auth payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from smartnote.models.common import NOT_NULL, InputModel, OutputModel, refuse_nulls
from smartnote.models.text import ONE_LINE_SCHEMA, one_line, visible
from smartnote.passwords import MAX_PASSWORD_LENGTH, check_password_strength

# Files of a system's zoneinfo folder that ZoneInfo opens but that are no IANA zone names:
# the server's own zone, the POSIX rules template, and the posix/ and right/ mirror folders.
_NOT_ZONE_NAMES = frozenset({"localtime", "posixrules"})
_NOT_ZONE_FOLDERS = frozenset({"posix", "right"})


def _valid_timezone(name: str) -> str:
    try:
        if name in _NOT_ZONE_NAMES or name.split("/", 1)[0] in _NOT_ZONE_FOLDERS:
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    # A folder of the tz database ("Europe") escapes as IsADirectoryError when the zone comes
    # from the tzdata package (CPython 3.10 to 3.13 alike): it is an unknown zone too.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name like Europe/Paris") from exc
    return name


TimeZoneName = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_valid_timezone)
]
# A name is one line of text that a reader sees, as a filename is.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(one_line),
    AfterValidator(visible),
    Field(json_schema_extra=ONE_LINE_SCHEMA),
]


def _address_alone(value: object) -> object:
    """EmailStr also takes `Name <address>` and keeps the address: refused here instead, as
    an account's email is an address (and what the client sent must be what it logs in with)."""
    if isinstance(value, str) and ("<" in value or ">" in value):
        raise ValueError("give the email address alone, without a name or angle brackets")
    return value


AccountEmail = Annotated[EmailStr, BeforeValidator(_address_alone)]
NewPassword = Annotated[
    str, Field(max_length=MAX_PASSWORD_LENGTH), AfterValidator(check_password_strength)
]
AnyPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class UserRegister(InputModel):
    email: AccountEmail
    password: NewPassword = Field(description="At least 10 characters, not a common password.")
    display_name: DisplayName | None = None
    timezone: TimeZoneName = "UTC"


class UserUpdate(InputModel):
    """Only the fields sent change; `display_name: null` clears it."""

    display_name: DisplayName | None = None
    timezone: Annotated[TimeZoneName | None, NOT_NULL] = None
    email_reminders: Annotated[StrictBool | None, NOT_NULL] = None

    @model_validator(mode="after")
    def _only_display_name_is_nullable(self) -> UserUpdate:
        refuse_nulls(self, "timezone", "email_reminders")
        return self


class PasswordChange(InputModel):
    current_password: AnyPassword
    new_password: NewPassword


class AccountDeletion(InputModel):
    password: AnyPassword


class UserOut(OutputModel):
    id: str
    email: str
    display_name: str | None
    timezone: str
    email_reminders: bool
    created_at: datetime


class TokenPair(OutputModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Seconds until the access token expires (at most 900).")
    refresh_token: str


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LogoutRequest(InputModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None


class SessionOut(OutputModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    current: bool = Field(description="True for the session of the token making this call.")
