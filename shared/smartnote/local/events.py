"""API Gateway REST (v1) proxy events, EventBridge scheduled events and Lambda contexts, as
AWS builds them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from smartnote.invocation import LAMBDA_PAYLOAD_BYTES

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"

_TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded")
_TEXT_SUFFIXES = ("xml", "javascript", "+json")


def is_text_content_type(content_type: str | None) -> bool:
    """Whether a body of this type travels as text (else base64), like the API's media types."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(_TEXT_SUFFIXES)


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def _encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if is_text_content_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # mislabelled binary: base64 keeps it intact
    return base64.b64encode(body).decode("ascii"), True


def build_rest_event(
    method: str,
    raw_path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes = b"",
    *,
    resource: str,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "local",
) -> dict[str, Any]:
    """The proxy event API Gateway REST v1 sends for a request (`raw_path` may carry a query).

    Its `path` is percent-encoded as the client sent it (unlike an HTTP API's): Mangum
    decodes it, once; `path_parameters` are already decoded (`match_route`)."""
    split = urlsplit(raw_path)
    path = split.path or "/"
    header_pairs = list(headers)
    present = {key.lower() for key, _ in header_pairs}
    # API Gateway always adds these; Mangum takes the scheme from X-Forwarded-Proto.
    header_pairs += [
        (key, value)
        for key, value in (
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Proto", "http"),
        )
        if key.lower() not in present
    ]
    multi_headers = _multi(header_pairs)
    # API Gateway splits a query string at a literal `;` too (its "important notes" for REST).
    query_pairs = parse_qsl(split.query.replace(";", "&"), keep_blank_values=True)
    multi_query = _multi(query_pairs)
    lower = {key.lower(): values[-1] for key, values in multi_headers.items()}
    encoded, is_base64 = _encode_body(body, lower.get("content-type"))
    now = time.time()
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        # AWS keeps the last value of a repeated header/parameter in the single-value maps.
        "headers": {key: values[-1] for key, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {key: values[-1] for key, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "extendedRequestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            # Served without the stage in the URL, like a custom domain: API Gateway then
            # reports the path as is (an execute-api URL would give "/{stage}{path}").
            "path": path,
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent"),
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "domainName": lower.get("host", "localhost"),
            "apiId": LOCAL_API_ID,
        },
        "body": encoded,
        "isBase64Encoded": is_base64,
    }


@dataclass
class LambdaContext:
    """The `context` argument of a Lambda handler."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 3.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    _deadline: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InvalidLambdaResponse(ValueError):
    """The handler returned something API Gateway would reject (it answers 502 then)."""


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def over_lambda_payload_limit(payload: Any) -> int | None:
    """The size of an event or result as Lambda counts it (its JSON) when that is over what
    one synchronous invocation takes or returns (6 MiB), else None."""
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    return size if size > LAMBDA_PAYLOAD_BYTES else None


def parse_lambda_response(result: Any) -> HttpResponse:
    """Turn a proxy integration result into an HTTP response, merging headers like AWS does."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        raise InvalidLambdaResponse(f"malformed Lambda proxy response: {result!r:.200}")
    size = over_lambda_payload_limit(result)
    if size is not None:  # Lambda fails the invocation; API Gateway answers 502
        raise InvalidLambdaResponse(f"the response is {size} bytes, over Lambda's 6 MB")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise InvalidLambdaResponse(f"bad statusCode {result['statusCode']!r}") from exc
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    headers: list[tuple[str, str]] = [
        (str(k), str(v)) for k, values in multi.items() for v in values
    ]
    # When a header is in both maps AWS keeps only the multiValueHeaders values.
    taken = {key.lower() for key in multi}
    headers += [(str(k), str(v)) for k, v in single.items() if k.lower() not in taken]
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode("utf-8")
    return HttpResponse(status, headers, body)


# --- EventBridge -----------------------------------------------------------------------------

SCHEDULER_CONTEXT = (
    "<aws.scheduler.schedule-arn>",
    "<aws.scheduler.scheduled-time>",
    "<aws.scheduler.execution-id>",
    "<aws.scheduler.attempt-number>",
)


def event_time(moment: datetime) -> str:
    """A time as EventBridge writes it: UTC, seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_scheduled_event(
    rule_arn: str, at: datetime, *, source: str = "aws.events", region: str = "us-east-1"
) -> dict[str, Any]:
    """What an EventBridge rule (`Schedule`) sends a Lambda target at scheduled time `at`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": source,
        "account": LOCAL_ACCOUNT_ID,
        "time": event_time(at),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def render_scheduler_input(template: str, schedule_arn: str, at: datetime) -> Any:
    """A `ScheduleV2` Input with EventBridge Scheduler's context attributes filled in."""
    values = dict(
        zip(
            SCHEDULER_CONTEXT,
            (schedule_arn, event_time(at), str(uuid.uuid4()), "1"),
            strict=True,
        )
    )
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return json.loads(template)
