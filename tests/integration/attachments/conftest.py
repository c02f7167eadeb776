"""Helpers for attachment tests: notes, uploads, and the image handler fed real S3 events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smartnote.config import get_settings
from smartnote.local.gateway import Gateway
from smartnote.local.services import AwsService
from tests.conftest import ApiUser
from tests.integration.jobs.conftest import notes_collection  # noqa: F401 - a fixture here too


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
def process(deliver_upload: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """Deliver the S3 event of an object to the image function, as S3 would."""
    return deliver_upload


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


def announce(api: httpx.Client, user: ApiUser, note_id: str) -> dict[str, Any]:
    """An attachment announced for a presigned upload (pending); returns the attachment."""
    response = api.post(
        f"/notes/{note_id}/attachments",
        json={"filename": "x.png", "content_type": "image/png", "size": 1000},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    attachment: dict[str, Any] = response.json()["attachment"]
    return attachment


def upload_key(user: ApiUser, note_id: str, attachment_id: str) -> str:
    return f"uploads/{user.id}/{note_id}/{attachment_id}/original"
