"""Lambda's asynchronous invocation, locally: how S3 notifications and schedules reach a function.

S3 and EventBridge hand the event to Lambda and are done with it. Lambda runs it once, under
one request id, and retries it only after it failed (an error or a timeout): as many times as
the function's `EventInvokeConfig.MaximumRetryAttempts` (2 by default). When the last try
fails too, Lambda sends a record of the failure to the function's on-failure destination.
AWS waits a minute before the first retry and two before the second; locally a second, so a
failure shows at once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartnote.local.containers import lambda_error
from smartnote.local.events import LOCAL_ACCOUNT_ID
from smartnote.local.services import AwsService
from smartnote.local.template import FunctionSpec, Template

logger = logging.getLogger("smartnote.local.async_invoke")

# (function name, event, request id) -> the result; raises what the invocation raised.
Invoke = Callable[[str, dict[str, Any], str], Any]

DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's, when EventInvokeConfig says nothing
RETRY_AFTER_SECONDS = 1.0
EXECUTED_VERSION = "$LATEST"


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """A function's `EventInvokeConfig`: its retries and where a failed event goes."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    on_failure_queue: str | None = None  # an SQS queue name

    @classmethod
    def of(cls, template: Template, fn: FunctionSpec) -> AsyncInvokeConfig:
        raw = template.raw["Resources"][fn.logical_id].get("Properties") or {}
        config: Mapping[str, Any] = raw.get("EventInvokeConfig") or {}
        retries = int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        return cls(retries, _queue_name(template, on_failure.get("Destination")))


def _queue_name(template: Template, destination: Any) -> str | None:
    """The local name of an SQS destination given as `!GetAtt Queue.Arn`."""
    if isinstance(destination, Mapping) and "Fn::GetAtt" in destination:
        logical_id = destination["Fn::GetAtt"][0]
        if logical_id in template.resources:
            return template.queue(logical_id).queue_name
    return None


def failure_record(
    fn: FunctionSpec,
    event: dict[str, Any],
    request_id: str,
    invocations: int,
    error: BaseException,
) -> dict[str, Any]:
    """The record Lambda sends an on-failure destination once an event's retries are spent."""
    arn = f"arn:aws:lambda:us-east-1:{LOCAL_ACCOUNT_ID}:function:{fn.logical_id}"
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{arn}:{EXECUTED_VERSION}",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": invocations,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,  # Lambda accepted the invocation; the function failed
            "executedVersion": EXECUTED_VERSION,
            "functionError": "Unhandled",
        },
        "responsePayload": lambda_error(error),
    }


class AsyncInvoker:
    """Runs events as Lambda's asynchronous invocations of the template's functions."""

    def __init__(
        self,
        template: Template,
        invoke: Invoke,
        aws: AwsService | None = None,
        *,
        workers: int = 2,
        retry_after: float = RETRY_AFTER_SECONDS,
    ) -> None:
        self._template = template
        self._invoke = invoke
        self._aws = aws  # None: a failed event is only logged
        self._retry_after = retry_after
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="async-invoke")

    def invoke(self, function: str, event: dict[str, Any]) -> None:
        """Hand `event` over for an asynchronous invocation of `function`, and return."""
        self._workers.submit(self._run, self._template.function(function), event)

    def stop(self) -> None:
        """Wait for the invocations that run; drop the retries still to come."""
        self._stop.set()
        self._workers.shutdown(wait=True, cancel_futures=True)

    def _run(self, fn: FunctionSpec, event: dict[str, Any]) -> None:
        config = AsyncInvokeConfig.of(self._template, fn)
        request_id = str(uuid.uuid4())  # every try of one event is one invocation to Lambda
        tries = config.retry_attempts + 1
        for attempt in range(1, tries + 1):
            try:
                result = self._invoke(fn.name, event, request_id)
            except Exception as exc:
                logger.exception("%s failed (try %d of %d)", fn.logical_id, attempt, tries)
                if attempt == tries:
                    self._send_failure(config, failure_record(fn, event, request_id, tries, exc))
                elif self._stop.wait(self._retry_after):
                    return  # the stack is stopping
            else:
                logger.info("%s (request %s) -> %.200s", fn.logical_id, request_id, result)
                return

    def _send_failure(self, config: AsyncInvokeConfig, record: dict[str, Any]) -> None:
        if config.on_failure_queue is None or self._aws is None:
            return
        sqs = self._aws.client("sqs")
        url = sqs.get_queue_url(QueueName=config.on_failure_queue)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
