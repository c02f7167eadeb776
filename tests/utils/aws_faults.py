"""Answers of AWS services that moto does not give, injected at botocore's client boundary."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

from smartnote import aws
from smartnote.config import get_settings

# A request (botocore's serialized params) -> (HTTP status, parsed answer), or None to let it
# through to moto.
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None]


@contextlib.contextmanager
def aws_answering(service: str, operation: str, answer: Answer) -> Iterator[None]:
    """For the block, each `operation` call of the functions' `service` client that `answer`
    answers gets that answer; every other call still goes to moto.

    The answer is given where botocore's Stubber gives its own (`before-call`, on the client),
    so all of SmartNote's code, botocore's error parsing included, runs as with AWS.
    """
    client = aws.client(service, get_settings())
    event = f"before-call.{service}.{operation}"
    hook = f"answer-{secrets.token_hex(4)}"

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        answered = answer(params)
        if answered is None:
            return None
        status, parsed = answered
        response = AWSResponse(None, status, {}, None)  # type: ignore[arg-type]
        return response, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(event, before_call, unique_id=hook)
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id=hook)
