"""Several uploads to one attachment's key (its presigned POST stays valid for a while): each
processing writes its own outputs, the record shows one upload's, and nothing is left over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from pymongo.collection import Collection

from smartnote import storage
from smartnote.clock import utcnow
from smartnote.domain import attachments as domain
from smartnote.jobs.images import S3Object, original_outputs
from smartnote.local.gateway import Gateway
from tests.conftest import ApiUser, object_event
from tests.integration.attachments.conftest import announce, upload_key
from tests.utils.aws_faults import aws_answering
from tests.utils.images import encode

# Two uploads told apart by their shape and their grey level (both under the web copy's edge).
LANDSCAPE_DARK = (np.full((200, 400, 3), 60, np.uint8), (400, 200), 60)
PORTRAIT_LIGHT = (np.full((400, 200, 3), 190, np.uint8), (200, 400), 190)
FIRST, SECOND = "0055AED6DCD90281E5", "0055AED6DCD90281F0"  # S3's sequencers of one key


@pytest.fixture
def attachment(api: httpx.Client, user: ApiUser, note: dict[str, Any]) -> dict[str, Any]:
    return announce(api, user, note["id"])


@pytest.fixture
def key(user: ApiUser, note: dict[str, Any], attachment: dict[str, Any]) -> str:
    return upload_key(user, note["id"], attachment["id"])


def _stored(notes: Collection[dict[str, Any]], note_id: str, attachment_id: str) -> dict[str, Any]:
    stored = notes.find_one({"_id": note_id})
    assert stored is not None
    found: dict[str, Any] = next(a for a in stored["attachments"] if a["id"] == attachment_id)
    return found


def _derived_keys(
    s3: Any, bucket: str, user: ApiUser, note_id: str, attachment_id: str
) -> set[str]:
    prefix = f"derived/{user.id}/{note_id}/{attachment_id}/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for item in listed.get("Contents", [])}


def _process(gateway: Gateway, s3: Any, bucket: str, key: str, sequencer: str) -> str:
    """Deliver the event of the object now at `key`; returns the image function's outcome."""
    result = gateway.invoke("image", object_event(s3, bucket, key, sequencer))
    outcome: str = result["results"][0]["outcome"]
    return outcome


def _image(url: str) -> Any:
    return cv2.imdecode(np.frombuffer(httpx.get(url).content, np.uint8), cv2.IMREAD_COLOR)


def _assert_shows(view: dict[str, Any], upload: tuple[Any, tuple[int, int], int]) -> None:
    """The attachment's size, thumbnail and web copy are all those of `upload`."""
    _, (width, height), grey = upload
    assert view["status"] == "ready"
    assert (view["width"], view["height"]) == (width, height)
    for url in (view["thumbnail_url"], view["web_url"]):
        image = _image(url)
        assert image.shape[:2] == (height, width), url
        assert abs(float(image.mean()) - grey) < 8, url


@pytest.fixture
def paused_web_copy() -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first web copy written waits, once written nothing else, until `resume` is set."""
    paused, resume = threading.Event(), threading.Event()

    def pause_once(params: dict[str, Any]) -> None:
        if params["url_path"].endswith("/web.jpg") and not paused.is_set():
            paused.set()
            resume.wait(120)

    with aws_answering("s3", "PutObject", pause_once):
        try:
            yield paused, resume
        finally:
            resume.set()


def test_two_uploads_processed_at_once_leave_one_consistent_set(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    attachment: dict[str, Any],
    key: str,
    s3: Any,
    bucket: str,
    gateway: Gateway,
    notes_collection: Collection[dict[str, Any]],
    paused_web_copy: tuple[threading.Event, threading.Event],
) -> None:
    paused, resume = paused_web_copy
    s3.put_object(Bucket=bucket, Key=key, Body=encode(LANDSCAPE_DARK[0]))
    first = gateway.runtime("image").start(object_event(s3, bucket, key, FIRST))
    # The first run has read its upload and written its thumbnail; its web copy waits while
    # a second upload lands on the same key and is processed from start to end.
    assert paused.wait(120)
    s3.put_object(Bucket=bucket, Key=key, Body=encode(PORTRAIT_LIGHT[0]))
    assert _process(gateway, s3, bucket, key, SECOND) == "ready"
    resume.set()
    outcome = first.result(timeout=120)["results"][0]["outcome"]
    assert outcome == "discarded (claimed by a newer upload meanwhile)"

    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    _assert_shows(api.get(path, headers=user.headers).json(), PORTRAIT_LIGHT)
    stored = _stored(notes_collection, note["id"], attachment["id"])
    kept = _derived_keys(s3, bucket, user, note["id"], attachment["id"])
    assert kept == {stored["thumbnail_key"], stored["web_key"]}  # the first run's are gone


def test_an_older_uploads_event_arriving_late_changes_nothing(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    attachment: dict[str, Any],
    key: str,
    s3: Any,
    bucket: str,
    gateway: Gateway,
    notes_collection: Collection[dict[str, Any]],
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=encode(LANDSCAPE_DARK[0]))
    older = object_event(s3, bucket, key, FIRST)
    s3.put_object(Bucket=bucket, Key=key, Body=encode(PORTRAIT_LIGHT[0]))
    assert _process(gateway, s3, bucket, key, SECOND) == "ready"
    before = _stored(notes_collection, note["id"], attachment["id"])

    # S3 does not deliver events in order: the first upload's comes after the second's.
    late = gateway.invoke("image", older)
    assert late["results"][0]["outcome"] == "skipped (superseded by a newer upload)"
    assert _stored(notes_collection, note["id"], attachment["id"]) == before
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    _assert_shows(api.get(path, headers=user.headers).json(), PORTRAIT_LIGHT)


def test_a_new_upload_replaces_the_outputs_of_the_one_before(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    attachment: dict[str, Any],
    key: str,
    s3: Any,
    bucket: str,
    gateway: Gateway,
    notes_collection: Collection[dict[str, Any]],
) -> None:
    for upload, sequencer in ((LANDSCAPE_DARK, FIRST), (PORTRAIT_LIGHT, SECOND)):
        s3.put_object(Bucket=bucket, Key=key, Body=encode(upload[0]))
        assert _process(gateway, s3, bucket, key, sequencer) == "ready"
        path = f"/notes/{note['id']}/attachments/{attachment['id']}"
        _assert_shows(api.get(path, headers=user.headers).json(), upload)
        stored = _stored(notes_collection, note["id"], attachment["id"])
        kept = _derived_keys(s3, bucket, user, note["id"], attachment["id"])
        assert kept == {stored["thumbnail_key"], stored["web_key"]}


def test_a_failed_upload_over_a_processed_one_leaves_no_outputs(
    user: ApiUser,
    note: dict[str, Any],
    attachment: dict[str, Any],
    key: str,
    s3: Any,
    bucket: str,
    gateway: Gateway,
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=encode(LANDSCAPE_DARK[0]))
    assert _process(gateway, s3, bucket, key, FIRST) == "ready"
    s3.put_object(Bucket=bucket, Key=key, Body=b"not an image at all")
    assert _process(gateway, s3, bucket, key, SECOND).startswith("failed")
    # The record points at no thumbnail or web copy any more: none may stay in the bucket.
    assert _derived_keys(s3, bucket, user, note["id"], attachment["id"]) == set()


def test_a_later_upload_removes_what_a_run_that_died_wrote(
    user: ApiUser,
    note: dict[str, Any],
    attachment: dict[str, Any],
    key: str,
    s3: Any,
    bucket: str,
    gateway: Gateway,
    notes_collection: Collection[dict[str, Any]],
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=encode(LANDSCAPE_DARK[0]))
    first = S3Object.from_record(object_event(s3, bucket, key, FIRST)["Records"][0])
    # A run of the first upload claimed it, wrote its outputs and was killed (its deadline is
    # past, no retry came): nothing recorded them.
    stored = notes_collection.find_one({"_id": note["id"]})
    assert stored is not None
    claim = domain.claim(
        attachment["id"], first.version, "request-1", utcnow(), sequencer=first.sequencer
    )
    notes_collection.update_one(
        {"_id": note["id"]}, {"$set": claim(stored), "$inc": {"version": 1}}
    )
    parsed = storage.parse_upload_key(key)
    assert parsed is not None
    for output in original_outputs(parsed, first.version, "request-1"):
        s3.put_object(Bucket=bucket, Key=output, Body=encode(LANDSCAPE_DARK[0]))

    s3.put_object(Bucket=bucket, Key=key, Body=encode(PORTRAIT_LIGHT[0]))
    assert _process(gateway, s3, bucket, key, SECOND) == "ready"
    stored_attachment = _stored(notes_collection, note["id"], attachment["id"])
    kept = _derived_keys(s3, bucket, user, note["id"], attachment["id"])
    assert kept == {stored_attachment["thumbnail_key"], stored_attachment["web_key"]}
