"""Answers of AWS services that moto does not give, and hooks that order concurrent runs,
injected at botocore's client boundary."""

from __future__ import annotations

import contextlib
import io
import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError

from smartnote import aws
from smartnote.config import get_settings

# A request (botocore's serialized params) -> (HTTP status, parsed answer), or None to let it
# through to moto.
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None]
Limits = float | aws.CallLimits | None  # those of the client under test (`aws.client`)


@contextlib.contextmanager
def aws_answering(
    service: str, operation: str, answer: Answer, limits: Limits = None
) -> Iterator[None]:
    """For the block, each `operation` call of the functions' `service` client that `answer`
    answers gets that answer; every other call still goes to moto. `limits` names the client
    (`aws.client`) when the code under test uses one with limits (`aws.S3_CALLS` for S3).

    The answer is given where botocore's Stubber gives its own (`before-call`, on the client),
    so all of SmartNote's code, botocore's error parsing included, runs as with AWS.
    """

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        answered = answer(params)
        if answered is None:
            return None
        status, parsed = answered
        response = AWSResponse(None, status, {}, None)  # type: ignore[arg-type]
        return response, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}

    with _hooked(service, "before-call", operation, before_call, limits):
        yield


@contextlib.contextmanager
def aws_answered(
    service: str, operation: str, seen: Callable[[dict[str, Any]], None], limits: Limits = None
) -> Iterator[None]:
    """For the block, `seen(parsed answer)` runs after each `operation` call of the functions'
    `service` client (`limits`: as for `aws_answering`) has its answer, before the caller gets
    it (to order two runs)."""

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        seen(parsed)

    with _hooked(service, "after-call", operation, after_call, limits):
        yield


@contextlib.contextmanager
def aws_answer_lost(service: str, operation: str, limits: Limits = None) -> Iterator[None]:
    """For the block, each `operation` call of the functions' `service` client reaches the
    service (moto), which does what it was asked, but its answer is lost on the way back: the
    connection closes before it arrives (a dropped connection, a proxy timing out). The caller
    cannot tell whether it was done; botocore then retries as it would with AWS.

    Given where botocore sends each attempt (`before-send`), so its retries run as with AWS.
    """

    def before_send(request: AWSPreparedRequest, **_: Any) -> None:
        body = request.body  # a query API's form (SES, SQS...): text or bytes
        if isinstance(body, io.IOBase):  # S3's object: a file, which botocore's retry reads again
            start = body.tell()
            content = body.read()
            body.seek(start)
            body = content
        assert isinstance(body, str | bytes), type(body)
        httpx.request(
            request.method, request.url, headers=dict(request.headers), content=body, timeout=30
        ).raise_for_status()
        raise ConnectionClosedError(endpoint_url=request.url)

    with _hooked(service, "before-send", operation, before_send, limits):
        yield


@contextlib.contextmanager
def _hooked(
    service: str,
    stage: str,
    operation: str,
    handler: Callable[..., Any],
    limits: Limits = None,
) -> Iterator[None]:
    client = aws.client(service, get_settings(), limits)
    # botocore names its events by service id ("secrets-manager"), not by client name.
    event = f"{stage}.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    hook = f"hook-{secrets.token_hex(4)}"
    client.meta.events.register(event, handler, unique_id=hook)
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id=hook)


@contextlib.contextmanager
def aws_silent(monkeypatch: pytest.MonkeyPatch, backlog: int = 8) -> Iterator[None]:
    """Every AWS call goes to an endpoint that accepts connections and never answers (a route
    that drops the answers, a VPC without a route to the service)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
        get_settings.cache_clear()
        try:
            yield
        finally:  # a block that fails must not leave the settings cached on the dead endpoint
            monkeypatch.undo()
            get_settings.cache_clear()
