"""AWS clients and secrets, created lazily (boto3 costs ~100 ms to import and build)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from smartnote.config import Settings


def client(service: str, settings: Settings) -> Any:
    """A boto3 client for `service`, pointed at LocalStack/moto when AWS_ENDPOINT_URL is set."""
    return _client(service, settings.aws_region, settings.aws_endpoint_url)


@lru_cache(maxsize=16)
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    import boto3  # noqa: PLC0415 - only functions that talk to AWS pay for boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]


@lru_cache(maxsize=4)
def _secret_from_secrets_manager(arn: str, region: str, endpoint_url: str | None) -> str:
    response = _client("secretsmanager", region, endpoint_url).get_secret_value(SecretId=arn)
    return str(response["SecretString"])


def jwt_secret(settings: Settings) -> str:
    """The JWT signing key: from Secrets Manager when JWT_SECRET_ARN is set, else JWT_SECRET."""
    if settings.jwt_secret_arn:
        return _secret_from_secrets_manager(
            settings.jwt_secret_arn, settings.aws_region, settings.aws_endpoint_url
        )
    return settings.jwt_secret.get_secret_value()
