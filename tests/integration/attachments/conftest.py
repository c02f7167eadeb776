"""Helpers for attachment tests: notes, uploads, and the image handler fed real S3 events."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from smartnote.config import get_settings
from smartnote.local.gateway import Gateway
from smartnote.local.services import AwsService
from tests.conftest import ApiUser

EVENTS = Path(__file__).resolve().parents[2] / "events"


def s3_event(
    key: str, size: int, etag: str = "0123456789abcdef", bucket: str = ""
) -> dict[str, Any]:
    """The real S3 event of tests/events/ for one object, encoded the way S3 encodes keys."""
    event: dict[str, Any] = json.loads((EVENTS / "s3-object-created.json").read_text())
    record = copy.deepcopy(event["Records"][0])
    record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size, eTag=etag)
    if bucket:
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    event["Records"] = [record]
    return event


@pytest.fixture
def bucket(gateway: Gateway) -> str:
    return get_settings().uploads_bucket


@pytest.fixture
def s3(aws: AwsService) -> Any:
    return aws.client("s3")


@pytest.fixture
def note(api: httpx.Client, user: ApiUser) -> dict[str, Any]:
    created = api.post("/notes", json={"title": "Receipts"}, headers=user.headers)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


@pytest.fixture
def process(gateway: Gateway, s3: Any, bucket: str) -> Callable[..., dict[str, Any]]:
    """Deliver the S3 event of an object to the image function, as S3 would."""

    def deliver(key: str) -> dict[str, Any]:
        head = s3.head_object(Bucket=bucket, Key=key)
        event = s3_event(key, head["ContentLength"], head["ETag"].strip('"'), bucket)
        result: dict[str, Any] = gateway.invoke("image", event)
        return result

    return deliver


def upload(
    api: httpx.Client, user: ApiUser, note_id: str, data: bytes, name: str = "page.jpg"
) -> dict[str, Any]:
    """A multipart upload through the API; returns the attachment."""
    response = api.post(
        f"/notes/{note_id}/attachments/upload",
        files={"file": (name, data, "application/octet-stream")},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload_key(user: ApiUser, note_id: str, attachment_id: str) -> str:
    return f"uploads/{user.id}/{note_id}/{attachment_id}/original"
