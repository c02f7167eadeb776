"""Settings: production refuses the default JWT secret; every setting is documented."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from smartnote.config import DEFAULT_JWT_SECRET, Settings


@pytest.mark.parametrize("secret", [DEFAULT_JWT_SECRET, "short-secret"])
def test_production_refuses_weak_or_default_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment="production", jwt_secret=secret)


def test_production_accepts_a_secrets_manager_arn() -> None:
    settings = Settings(environment="production", jwt_secret_arn="arn:aws:secretsmanager:x")
    assert settings.is_production


def test_production_accepts_a_strong_secret() -> None:
    assert Settings(environment="production", jwt_secret="s" * 40).is_production


def test_access_tokens_cannot_be_configured_longer_than_15_minutes() -> None:
    with pytest.raises(ValidationError):
        Settings(access_token_ttl_seconds=3600)


@pytest.mark.parametrize("languages", ["eng", "eng+deu", "chi_sim+eng"])
def test_ocr_languages_are_tesseract_codes(languages: str) -> None:
    assert Settings(ocr_languages=languages).ocr_languages == languages


@pytest.mark.parametrize("languages", ["", "eng deu", "eng;rm", "../x", "ENG"])
def test_ocr_languages_refuse_anything_else(languages: str) -> None:
    with pytest.raises(ValidationError):
        Settings(ocr_languages=languages)


@pytest.mark.parametrize(
    "sender", ["noreply@smartnote.local", "noreply@example.com", "no-reply+x@xn--exmple-cua.com"]
)
def test_ses_sender_accepts_a_bare_address(sender: str) -> None:
    assert Settings(ses_sender=sender).ses_sender == sender


@pytest.mark.parametrize(
    "sender",
    [
        "noreply",
        "noreply@",
        "@example.com",
        "noreply@localhost",
        "SmartNote <noreply@example.com>",
        "no reply@example.com",
        "noreply@exämple.com",
        "a..b@example.com",
        "noreply@example.com ",
    ],
)
def test_ses_sender_refuses_what_ses_would_refuse_as_a_source(sender: str) -> None:
    with pytest.raises(ValidationError, match="SES_SENDER"):
        Settings(ses_sender=sender)


def test_every_setting_is_in_the_configuration_reference() -> None:
    reference = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name.upper()}`" not in reference]
    assert missing == [], f"add to docs/configuration.md: {missing}"
