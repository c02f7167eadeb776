"""AWS clients and secrets, created lazily (boto3 costs ~100 ms to import and build)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from smartnote.errors import unavailable_on, unavailable_when

if TYPE_CHECKING:
    from smartnote.config import Settings

# A secret is read at a container's start or at its first request that needs it: Secrets
# Manager or SSM not answering costs that request a few seconds and a 503, not the function's
# whole timeout (botocore alone waits 60 s a try, over several tries).
SECRET_TIMEOUT_SECONDS = 3.0

# botocore waits this long for S3's "100 Continue" before it sends a PutObject body anyway.
_EXPECT_CONTINUE_SECONDS = 1.0


@dataclass(frozen=True)
class CallLimits:
    """How long one AWS call may take: each attempt gives up after `connect_seconds` without
    a connection (or with a request body it cannot send on) and `read_seconds` without an
    answer, and botocore's standard mode makes at most `attempts`, retrying throttling, 5xx,
    timeouts and dropped connections."""

    connect_seconds: float
    read_seconds: float
    attempts: int = 1

    @property
    def worst_case(self) -> timedelta:
        """The longest one call can take: every attempt connects, waits for a "100 Continue"
        (PutObject) and then in vain for its answer, with standard mode's longest backoffs
        between them (after a throttled answer: up to 1 s, 2 s, 4 s ...)."""
        attempt = self.connect_seconds + _EXPECT_CONTINUE_SECONDS + self.read_seconds
        backoffs = sum(min(2.0**i, 20.0) for i in range(self.attempts - 1))
        return timedelta(seconds=self.attempts * attempt + backoffs)


# Every S3 client of the functions (the API routes, the image and cleanup jobs; /health has
# its own). botocore's defaults (60 s connect and read timeouts, several attempts) let an S3
# that does not answer hold a request for minutes: past the API functions' 15 s Timeout
# (template.yaml Globals; API Gateway's own limit is 29 s), so the client got the gateway's
# 502 instead of a 503 to retry, and an image run past its 120 s, killed with its claim held.
# S3 answers small requests in tens of ms; AWS's advice is to retry a GET or PUT not answered
# within 2 s (S3 performance guidelines, "Timeouts and retries for latency-sensitive
# applications"), on a new connection, as botocore does after a timeout. A connect within the
# region takes ms; 1 s allows for one lost SYN's resend. Two attempts: one call ends within
# 2 x (1 s connect + 1 s "100 Continue" + 2 s answer) + 1 s backoff = 9 s (`worst_case`),
# which leaves a route its own work (a password hash, MongoDB, SQL: well under 2 s) before
# the 15 s (tests/unit/test_aws.py holds the template to that). A route that makes many
# calls (deleting an account's objects, a page of 1000 at a time) starts another only while
# one more `worst_case` fits before its invocation's deadline (`deps.s3_has_time`), so no
# route outlives its function either; the 503 it answers otherwise is repeated to go on.
# A call that keeps trickling bytes (each read within 2 s) is not bounded by this; nor is a
# DNS lookup, which botocore's timeouts do not cover.
S3_CALLS = CallLimits(connect_seconds=1.0, read_seconds=2.0, attempts=2)


def client(service: str, settings: Settings, limits: float | CallLimits | None = None) -> Any:
    """A boto3 client for `service`, pointed at LocalStack/moto when AWS_ENDPOINT_URL is set.

    With `limits`, a call gives up within them (a number: that many seconds to connect and to
    answer, one attempt): botocore's own timeouts (60 s) and retries would hold its thread for
    minutes.
    """
    return _client(service, settings.aws_region, settings.aws_endpoint_url, _as_limits(limits))


def _as_limits(limits: float | CallLimits | None) -> CallLimits | None:
    """`limits` as one cache key of `_client`: a number is that many seconds, one attempt."""
    return CallLimits(limits, limits) if isinstance(limits, int | float) else limits


@lru_cache(maxsize=16)
def _client(
    service: str, region: str, endpoint_url: str | None, limits: CallLimits | None = None
) -> Any:
    import boto3  # noqa: PLC0415 - only functions that talk to AWS pay for boto3
    from botocore.config import Config  # noqa: PLC0415

    config = Config(**_s3_signing(endpoint_url)) if service == "s3" else None
    if limits is not None:
        bounded = Config(
            connect_timeout=limits.connect_seconds,
            read_timeout=limits.read_seconds,
            retries={"mode": "standard", "total_max_attempts": limits.attempts},
        )
        config = bounded if config is None else config.merge(bounded)
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=config)  # type: ignore[call-overload]


def _s3_signing(endpoint_url: str | None) -> dict[str, Any]:
    """How S3 requests, and the presigned URLs browsers take to S3, are signed and addressed.

    SigV4 always: botocore presigns with SigV2 where a region still lists it (us-east-1,
    us-west-2...), and buckets created since June 2020 refuse SigV2. On AWS, the bucket's
    regional host: botocore names the global one, which a bucket outside us-east-1 answers
    with a 307 for up to a day after its creation (a presigned POST is not followed there, a
    GET's signature covers the host). An endpoint of our own (LocalStack, moto) keeps
    botocore's addressing: path-style on an IP address or localhost.
    """
    signing: dict[str, Any] = {"signature_version": "s3v4"}
    if endpoint_url is None:
        signing["s3"] = {"addressing_style": "virtual"}
    return signing


class LazyClient:
    """Stands for `client(service, settings, limits)` and builds it on first use, so that a
    request which turns out not to need it (no attachment to sign, a 404) never loads boto3."""

    def __init__(self, service: str, settings: Settings, limits: CallLimits | None = None) -> None:
        self._service = service
        self._settings = settings
        self._limits = limits

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service, self._settings, self._limits), name)


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


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` is an AWS call that failed for now (S3 throttled, failing, unreachable,
    or not answering within the client's limits: botocore's timeout errors): a 503 with
    Retry-After, as for the databases, not a 500 (a route's deletion, repeated, finishes).
    A denied or invalid call stays a 500. Never imports botocore: an error raised where it
    was never loaded is not its."""
    return "botocore" in sys.modules and isinstance(exc, Exception) and _is_transient(exc)


unavailable_when(unavailable)


@lru_cache(maxsize=8)
def _secret(arn: str, region: str, endpoint_url: str | None) -> str:
    service = "ssm" if arn_service(arn) == "ssm" else "secretsmanager"
    reader = _client(service, region, endpoint_url, _as_limits(SECRET_TIMEOUT_SECONDS))
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
