"""AWS clients and secrets, created lazily (boto3 costs ~100 ms to import and build)."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from smartnote.errors import unavailable_on, unavailable_when

if TYPE_CHECKING:
    from smartnote.config import Settings

# A secret is read at a container's start or at its first request that needs it: Secrets
# Manager or SSM not answering costs that request a few seconds and a 503, not the function's
# whole timeout (botocore alone waits 60 s a try, over several tries).
SECRET_TIMEOUT_SECONDS = 3.0


def client(service: str, settings: Settings, timeout_seconds: float | None = None) -> Any:
    """A boto3 client for `service`, pointed at LocalStack/moto when AWS_ENDPOINT_URL is set.

    With `timeout_seconds`, a call gives up after that long without an answer, and once:
    botocore's own timeouts (60 s) and retries would hold its thread for minutes.
    """
    return _client(service, settings.aws_region, settings.aws_endpoint_url, timeout_seconds)


@lru_cache(maxsize=16)
def _client(
    service: str, region: str, endpoint_url: str | None, timeout_seconds: float | None = None
) -> Any:
    import boto3  # noqa: PLC0415 - only functions that talk to AWS pay for boto3
    from botocore.config import Config  # noqa: PLC0415

    config = None
    if timeout_seconds is not None:
        config = Config(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"total_max_attempts": 1},
        )
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]


class LazyClient:
    """Stands for `client(service, settings)` and builds it on first use, so that a request
    which turns out not to need it (no attachment to sign, a 404) never loads boto3."""

    def __init__(self, service: str, settings: Settings) -> None:
        self._service = service
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service, self._settings), name)


def arn_service(arn: str) -> str:
    """The service part of an ARN (`arn:aws:ssm:...` -> "ssm"); "" when it is no ARN."""
    parts = arn.split(":", 5)
    return parts[2] if len(parts) == 6 and parts[0] == "arn" else ""


class SecretUnavailable(RuntimeError):
    """Secrets Manager or SSM could not give a secret now (throttled, unreachable, failing):
    a 503; the read is not cached, so the next request tries again."""


unavailable_on(SecretUnavailable)


def _is_transient(exc: Exception) -> bool:
    """Whether a failed read may succeed when repeated (a missing secret or a denied read
    never does: those stay errors of the deployment)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError  # noqa: PLC0415
    from botocore.retries.standard import (  # noqa: PLC0415
        RetryContext,
        ThrottledRetryableChecker,
    )

    if isinstance(exc, ConnectionError | HTTPClientError):  # unreachable, timed out, dropped
        return True
    if not isinstance(exc, ClientError):
        return False
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    # botocore's own list of the error codes that mean "throttled".
    throttled = ThrottledRetryableChecker().is_retryable(
        RetryContext(1, parsed_response=exc.response)
    )
    return status >= 500 or bool(throttled)


def _unavailable(exc: BaseException) -> bool:
    """Whether `exc` is an AWS call that failed for now (S3 throttled, failing, unreachable):
    a 503 with Retry-After, as for the databases, not a 500 (a route's deletion, repeated,
    finishes). A denied or invalid call stays a 500. Never imports botocore: an error raised
    where it was never loaded is not its."""
    return "botocore" in sys.modules and isinstance(exc, Exception) and _is_transient(exc)


unavailable_when(_unavailable)


@lru_cache(maxsize=8)
def _secret(arn: str, region: str, endpoint_url: str | None) -> str:
    service = "ssm" if arn_service(arn) == "ssm" else "secretsmanager"
    reader = _client(service, region, endpoint_url, SECRET_TIMEOUT_SECONDS)
    try:
        if service == "ssm":  # arn:aws:ssm:<region>:<account>:parameter/<name>
            name = "/" + arn.split(":parameter/", 1)[1]
            response = reader.get_parameter(Name=name, WithDecryption=True)
            return str(response["Parameter"]["Value"])
        return str(reader.get_secret_value(SecretId=arn)["SecretString"])
    except Exception as exc:
        if _is_transient(exc):
            raise SecretUnavailable(f"{service} did not give {arn}: {type(exc).__name__}") from exc
        raise


def secret_value(arn: str, settings: Settings) -> str:
    """The value behind a Secrets Manager secret ARN or an SSM parameter ARN (cached)."""
    if arn_service(arn) not in ("secretsmanager", "ssm"):
        raise ValueError(f"not a Secrets Manager or SSM parameter ARN: {arn!r}")
    return _secret(arn, settings.aws_region, settings.aws_endpoint_url)
