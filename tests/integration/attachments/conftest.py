"""Helpers for attachment tests: notes, uploads, and the image handler fed real S3 events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from pymongo.collection import Collection

from smartnote.config import get_settings
from smartnote.domain import attachments as domain
from smartnote.local.gateway import Gateway
from smartnote.local.services import AwsService
from tests.conftest import ApiUser, object_event
from tests.integration.jobs.conftest import (  # noqa: F401 - fixtures here too
    cleanup,
    job_positions,
    notes_collection,
)
from tests.utils.images import encode


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


def downloaded(url: str) -> Any:
    """The pixels (BGR) of the image a presigned URL serves."""
    return cv2.imdecode(np.frombuffer(httpx.get(url).content, np.uint8), cv2.IMREAD_COLOR)


# Two uploads told apart by their shape and their grey level (both under the web copy's edge).
Upload = tuple[Any, tuple[int, int], int]  # pixels, (width, height), grey level


@dataclass
class Scene:
    """One announced attachment of a user's note, its upload key, and what sees it."""

    api: httpx.Client
    user: ApiUser
    note_id: str
    attachment_id: str
    key: str
    s3: Any
    bucket: str
    gateway: Gateway
    notes: Collection[dict[str, Any]]

    def put(self, body: bytes | Upload) -> None:
        """Upload to the attachment's key (what a client's presigned POST does)."""
        data = body if isinstance(body, bytes) else encode(body[0])
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=data)

    def event(self, sequencer: str) -> dict[str, Any]:
        return object_event(self.s3, self.bucket, self.key, sequencer)

    def process(self, sequencer: str) -> str:
        """Deliver the event of the object now at the key; returns the function's outcome."""
        outcome: str = self.gateway.invoke("image", self.event(sequencer))["results"][0]["outcome"]
        return outcome

    def stored(self) -> dict[str, Any]:
        """The attachment as the database holds it."""
        note = self.notes.find_one({"_id": self.note_id})
        assert note is not None
        return next(a for a in note["attachments"] if a["id"] == self.attachment_id)

    def claim_as(
        self, version: str, request_id: str, deadline: datetime, sequencer: str | None = None
    ) -> None:
        """Record a claim of upload `version` by invocation `request_id` (that never ended)."""
        note = self.notes.find_one({"_id": self.note_id})
        assert note is not None
        claim = domain.claim(self.attachment_id, version, request_id, deadline, sequencer=sequencer)
        self.notes.update_one({"_id": self.note_id}, {"$set": claim(note), "$inc": {"version": 1}})

    def ask_edit(self, operations: list[dict[str, Any]]) -> str:
        """Ask the API for an edit of the attachment; returns the id of its derived image."""
        path = f"/notes/{self.note_id}/attachments/{self.attachment_id}/edits"
        response = self.api.post(path, json={"operations": operations}, headers=self.user.headers)
        assert response.status_code == 202, response.text
        derived_id: str = response.json()["derived"]["id"]
        return derived_id

    def run_edit(self, derived_id: str) -> str:
        """Deliver the event of an edit's request object; returns the function's outcome."""
        key = f"uploads/{self.user.id}/{self.note_id}/{self.attachment_id}/edits/{derived_id}.json"
        event = object_event(self.s3, self.bucket, key)
        outcome: str = self.gateway.invoke("image", event)["results"][0]["outcome"]
        return outcome

    def view(self) -> dict[str, Any]:
        """The attachment as the API serves it."""
        path = f"/notes/{self.note_id}/attachments/{self.attachment_id}"
        response = self.api.get(path, headers=self.user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def finds(self, words: str) -> bool:
        """Whether the owner's search for `words` finds the note."""
        response = self.api.get("/notes", params={"q": words}, headers=self.user.headers)
        assert response.status_code == 200, response.text
        return self.note_id in [note["id"] for note in response.json()["items"]]

    def derived_keys(self) -> set[str]:
        prefix = f"derived/{self.user.id}/{self.note_id}/{self.attachment_id}/"
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"] for item in listed.get("Contents", [])}

    def assert_only_recorded_outputs_kept(self) -> None:
        stored = self.stored()
        assert self.derived_keys() == {stored["thumbnail_key"], stored["web_key"]}

    def assert_shows(self, upload: Upload) -> None:
        """The attachment's size, thumbnail and web copy, as the API serves them, are all
        those of `upload`."""
        view = self.view()
        _, (width, height), grey = upload
        assert view["status"] == "ready"
        assert (view["width"], view["height"]) == (width, height)
        for url in (view["thumbnail_url"], view["web_url"]):
            image = downloaded(url)
            assert image.shape[:2] == (height, width), url
            assert abs(float(image.mean()) - grey) < 8, url


@pytest.fixture
def scene(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    gateway: Gateway,
    notes_collection: Collection[dict[str, Any]],  # noqa: F811 - the fixture imported above
) -> Scene:
    attachment = announce(api, user, note["id"])
    key = upload_key(user, note["id"], attachment["id"])
    return Scene(
        api, user, note["id"], attachment["id"], key, s3, bucket, gateway, notes_collection
    )
