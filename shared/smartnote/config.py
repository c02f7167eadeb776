"""One settings object for every function, read from the environment."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from smartnote import __version__, aws

# Good enough for a laptop, never for production: Settings refuses it there.
DEFAULT_JWT_SECRET = "smartnote-local-development-secret-change-me"  # noqa: S105
# The shortest HMAC key accepted where it matters: JWT_SECRET in production, and always a key
# read from JWT_SECRET_ARN (a stored secret is a deployed one).
MIN_JWT_SECRET_LENGTH = 32
# SES_SENDER as SES's `Source` and the IAM condition `ses:FromAddress` take it: a bare address
# (no display name), 7-bit ASCII (an internationalised domain in Punycode), dot-atom local
# part, a domain of at least two labels.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
SES_SENDER_PATTERN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


class Settings(BaseSettings):
    """Configuration of a SmartNote function; every field is an environment variable."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["local", "test", "dev", "localstack", "production", "prod"] = "local"
    version: str = __version__

    mongodb_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    # On AWS the connection strings live in Secrets Manager or SSM (SecureString): given an
    # ARN, `get_settings` reads the value once per container and it replaces the plain one.
    mongodb_uri_secret_arn: str = ""
    mongodb_db: str = "smartnote"
    # The longest a MongoDB operation takes, its wait for a server and its retry included:
    # then 503, before the 15 s function timeout (db.mongo.get_client).
    mongodb_timeout_ms: int = Field(default=5000, gt=0)
    database_url: str = "sqlite:///.local/smartnote.db"
    # The longest wait on PostgreSQL (connect, a query): then 503, before the 15 s function
    # timeout (db.sql.engine_arguments).
    sql_timeout_seconds: float = Field(default=10, gt=0)
    database_url_secret_arn: str = ""

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_secret_arn: str = ""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "smartnote"
    access_token_ttl_seconds: int = Field(default=900, gt=0, le=900)
    refresh_token_ttl_days: int = Field(default=30, gt=0)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)

    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, gt=0)

    max_request_body_bytes: int = Field(default=1_048_576, gt=0)
    # Writes (POST/PUT/PATCH/DELETE) per user and window, counted in SQL across containers.
    write_rate_limit: int = Field(default=120, ge=1)
    write_rate_window_seconds: int = Field(default=60, gt=0)
    # Browser origins allowed to call the API with credentials (comma-separated); none = no CORS.
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = ()
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    uploads_bucket: str = "smartnote-uploads"
    upload_url_ttl_seconds: int = Field(default=900, gt=0, le=3600)
    download_url_ttl_seconds: int = Field(default=300, gt=0, le=3600)
    # Tesseract language codes joined by "+" (each needs its traineddata installed).
    ocr_languages: str = Field(default="eng", pattern=r"^[a-z_]{3,8}(\+[a-z_]{3,8})*$")

    # Schedules (functions/reminders, functions/cleanup).
    ses_sender: str = "noreply@smartnote.local"
    app_base_url: str = "http://127.0.0.1:3000"
    reminder_batch_size: int = Field(default=100, ge=1, le=1000)
    # Longer than the reminders function may run: a run that is still sending never sees its
    # claims taken over by the next one. At least its 240 s Timeout (template.yaml): a run
    # stops sending when its lease has 60 s left (`jobs.reminders.SAFETY`), and with a lease of
    # a minute or so every run would release what it claimed, unsent, and succeed.
    reminder_lease_seconds: int = Field(default=600, ge=240)
    # Runs that try an email SES refuses for its recipient before its occurrence is given up.
    reminder_send_attempts: int = Field(default=3, ge=1)
    trash_retention_days: int = Field(default=30, ge=1)
    pending_attachment_max_age_hours: int = Field(default=24, ge=1)
    cleanup_batch_size: int = Field(default=100, ge=1, le=1000)
    # Keys per page of the cleanup's listings of uploads/ and derived/ (S3 gives at most 1000).
    cleanup_listing_page_size: int = Field(default=1000, ge=1, le=1000)

    @property
    def is_production(self) -> bool:
        return self.environment in ("production", "prod")

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _refuse_wildcard_origin(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        # Credentials are allowed, and a wildcard with credentials would let any site act
        # as the user: every origin must be named.
        for origin in origins:
            if "*" in origin or not origin.startswith(("https://", "http://")):
                raise ValueError(f"CORS origins must be explicit http(s) origins, not {origin!r}")
        return tuple(origin.rstrip("/") for origin in origins)

    @field_validator("ses_sender")
    @classmethod
    def _refuse_malformed_sender(cls, sender: str) -> str:
        # SES answers a malformed Source with the same error as a malformed recipient
        # (`InvalidParameterValue`), which the reminders job takes for an address it can never
        # send to: each due reminder would be consumed without an email by a run that
        # succeeds. Refused here, every run fails instead (retries, RemindersErrorsAlarm).
        if not SES_SENDER_PATTERN.fullmatch(sender):
            raise ValueError(
                "SES_SENDER must be a bare email address in ASCII, such as"
                f" noreply@example.com, not {sender!r}"
            )
        return sender

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if not self.is_production or self.jwt_secret_arn:
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == DEFAULT_JWT_SECRET or len(secret) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                "production needs JWT_SECRET_ARN or a JWT_SECRET of at least"
                f" {MIN_JWT_SECRET_LENGTH} characters (the built-in development secret is refused)"
            )
        return self


class WeakJwtSecret(RuntimeError):
    """The JWT key read from JWT_SECRET_ARN is too short to sign tokens with."""


def jwt_secret(settings: Settings) -> str:
    """The JWT signing key: from Secrets Manager/SSM when JWT_SECRET_ARN is set, else JWT_SECRET.

    Settings checks JWT_SECRET when it is read; a key behind an ARN is only known once
    fetched, so it is checked here, on every use (the fetch itself is cached): a function given
    a short one refuses to sign or verify any token.
    """
    if not settings.jwt_secret_arn:
        return settings.jwt_secret.get_secret_value()
    key = aws.secret_value(settings.jwt_secret_arn, settings)
    if len(key) < MIN_JWT_SECRET_LENGTH:
        raise WeakJwtSecret(
            f"the JWT key in {settings.jwt_secret_arn} has {len(key)} characters; at least"
            f" {MIN_JWT_SECRET_LENGTH} are needed (JWT_SECRET_ARN)"
        )
    return key


def resolve_secrets(settings: Settings) -> Settings:
    """`settings` with MONGODB_URI / DATABASE_URL read from the secrets their *_ARN names."""
    updates = {
        field: aws.secret_value(arn, settings)
        for field, arn in (
            ("mongodb_uri", settings.mongodb_uri_secret_arn),
            ("database_url", settings.database_url_secret_arn),
        )
        if arn
    }
    return settings.model_copy(update=updates) if updates else settings


@lru_cache
def get_settings() -> Settings:
    """The settings of this container, read once (secrets fetched once too)."""
    return resolve_secrets(Settings())
