"""The image function's handler fed real S3 events (tests/events/): odd events, bad files,
decompression bombs, oversize objects, keys with spaces."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from smartnote import storage
from smartnote.clock import utcnow
from smartnote.config import get_settings
from smartnote.jobs.images import S3Object, original_outputs
from smartnote.lambda_events import UnsupportedEvent
from smartnote.local.containers import FunctionRuntime
from smartnote.local.gateway import Gateway
from smartnote.local.services import free_port
from smartnote.local.template import Template
from tests.conftest import EVENTS, ApiUser, object_event, s3_event
from tests.integration.attachments.conftest import Scene, announce, upload_key
from tests.utils.images import (
    HEIC_START,
    animated_gif,
    encode,
    jpeg_of_scans,
    jpeg_with_orientation,
    pillow,
    png_bomb_header,
    tiled_tiff,
)
from tests.utils.lambda_events import FOREIGN_EVENTS, event_file

Process = Callable[..., dict[str, Any]]


def _put_and_process(
    api: httpx.Client,
    user: ApiUser,
    note_id: str,
    s3: Any,
    bucket: str,
    process: Process,
    data: bytes,
) -> tuple[str, dict[str, Any]]:
    attachment = announce(api, user, note_id)
    key = upload_key(user, note_id, attachment["id"])
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    outcome = process(key)["results"][0]["outcome"]
    got = api.get(f"/notes/{note_id}/attachments/{attachment['id']}", headers=user.headers)
    result: dict[str, Any] = got.json()
    return outcome, result


def test_s3_test_event_is_ignored(gateway: Gateway) -> None:
    event = json.loads((EVENTS / "s3-test-event.json").read_text())
    assert gateway.invoke("image", event) == {"results": []}


def test_s3_test_event_is_ignored_without_reaching_mongo(
    gateway: Gateway, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 sends it when the stack puts the bucket's notification: with Atlas not reachable
    yet (its network access is a deploy step), it failed, was retried, and parked in
    ImageFailuresQueue as if an upload had failed."""
    event = json.loads((EVENTS / "s3-test-event.json").read_text())
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{free_port()}/")
    monkeypatch.setenv("MONGODB_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    container = FunctionRuntime(template.function("image"), pool_size=1)
    try:
        assert container.invoke(event) == {"results": []}
    finally:
        container.shutdown()
        monkeypatch.undo()
        get_settings.cache_clear()


NOT_S3: dict[str, Callable[[], Any]] = {
    **FOREIGN_EVENTS,
    "empty": dict,
    "scheduled": lambda: event_file("reminders"),
    "api-request": lambda: event_file("users"),
    "records-not-a-list": lambda: {"Records": "x"},
    "sqs-records": lambda: {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
    "s3-record-without-object": lambda: {
        "Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]
    },
}


@pytest.mark.parametrize("kind", list(NOT_S3))
def test_an_event_that_is_not_an_s3_one_is_refused_by_name(gateway: Gateway, kind: str) -> None:
    """Before, most of these "succeeded" with no result: a failure record replayed whole
    (instead of its requestPayload) left its upload unprocessed and its message deleted."""
    with pytest.raises(UnsupportedEvent, match="S3 event"):
        gateway.invoke("image", NOT_S3[kind]())


def test_keys_outside_uploads_are_ignored(gateway: Gateway, bucket: str) -> None:
    result = gateway.invoke("image", s3_event("derived/a/b/c/thumbnail.jpg", 10, bucket=bucket))
    assert result["results"][0]["outcome"].startswith("ignored")


def test_event_for_a_deleted_note_is_skipped(gateway: Gateway, bucket: str, user: ApiUser) -> None:
    key = f"uploads/{user.id}/{'0' * 24}/abc/original"
    result = gateway.invoke("image", s3_event(key, 10, bucket=bucket))
    assert result["results"][0]["outcome"].startswith("skipped")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (png_bomb_header(), "50000x50000 (2500 megapixels)"),
        (animated_gif(), "Animated images are not accepted"),
        (pillow(Image.new("RGB", (300, 200), "red"), "GIF"), "GIF images are not accepted"),
        (HEIC_START, "HEIC images are not accepted (JPEG, PNG, WebP, TIFF, BMP are)"),
        (b"", "empty"),
        (encode(np.zeros((50, 50, 3), np.uint8), ".png")[:60], "corrupt or truncated"),
        (jpeg_of_scans(101), "The JPEG has 101 scans; at most 100 are accepted"),
    ],
    ids=[
        "bomb-header",
        "animated-gif",
        "still-gif",
        "heic-announced-as-jpeg",
        "empty",
        "truncated-png",
        "jpeg-of-too-many-scans",
    ],
)
def test_bad_files_fail_with_a_reason(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    process: Process,
    data: bytes,
    reason: str,
) -> None:
    outcome, attachment = _put_and_process(api, user, note["id"], s3, bucket, process, data)
    assert outcome.startswith("failed")
    assert attachment["status"] == "failed"
    assert reason in attachment["error"]


def test_oversize_object_fails_without_being_read(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], gateway: Gateway, bucket: str
) -> None:
    attachment = announce(api, user, note["id"])
    key = upload_key(user, note["id"], attachment["id"])
    # The event's size alone decides: the object is never downloaded (it does not even exist).
    result = gateway.invoke("image", s3_event(key, 21 * 1024 * 1024, bucket=bucket))
    assert result["results"][0]["outcome"] == "failed: The file is larger than 20 MB"


def test_one_pixel_image_is_ready_without_text(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    data = encode(np.full((1, 1, 3), 200, np.uint8), ".png")
    outcome, attachment = _put_and_process(api, user, note["id"], s3, bucket, process, data)
    assert outcome == "ready"
    assert (attachment["width"], attachment["height"]) == (1, 1)
    assert attachment["ocr_text"] == ""
    assert attachment["content_type"] == "image/png"


def test_exif_orientation_is_applied(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    stored = np.zeros((300, 600, 3), np.uint8)
    stored[:, :300] = 255  # left half white as stored; EXIF 6 = turn 90 degrees clockwise
    data = jpeg_with_orientation(stored, 6)
    outcome, attachment = _put_and_process(api, user, note["id"], s3, bucket, process, data)
    assert outcome == "ready"
    assert (attachment["width"], attachment["height"]) == (300, 600)
    thumb = cv2.imdecode(np.frombuffer(httpx.get(attachment["thumbnail_url"]).content, np.uint8), 1)
    assert thumb.shape[:2] == (512, 256)
    assert thumb[:200].mean() > 200 and thumb[-200:].mean() < 50  # white on top once upright


def test_a_tiled_tiff_is_ready_with_its_colours(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    """A reviewer's 64 x 80 RGB TIFF in 16 x 16 tiles (tifffile's) failed as "corrupt or
    truncated"."""
    rgb = np.zeros((80, 64, 3), np.uint8)
    rgb[:40] = (200, 30, 40)  # the top half red, the bottom black
    data = tiled_tiff(rgb, (16, 16), None)
    outcome, attachment = _put_and_process(api, user, note["id"], s3, bucket, process, data)
    assert outcome == "ready"
    assert (attachment["width"], attachment["height"], attachment["content_type"]) == (
        64,
        80,
        "image/tiff",
    )
    thumb = cv2.imdecode(np.frombuffer(httpx.get(attachment["thumbnail_url"]).content, np.uint8), 1)
    assert np.abs(thumb[5:35].reshape(-1, 3).mean(axis=0) - (40, 30, 200)).max() < 4
    assert thumb[45:].max() < 10


def test_declared_type_is_replaced_by_the_real_one(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    data = encode(np.full((40, 60, 3), 90, np.uint8), ".jpg")  # announced as PNG
    outcome, attachment = _put_and_process(api, user, note["id"], s3, bucket, process, data)
    assert outcome == "ready"
    assert attachment["content_type"] == "image/jpeg"


def test_key_with_encoded_characters_is_decoded(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], gateway: Gateway, bucket: str
) -> None:
    attachment = announce(api, user, note["id"])
    key = f"uploads/{user.id}/{note['id']}/{attachment['id']}/edits/no such edit.json"
    event = s3_event(key, 10, bucket=bucket)
    assert "+" in event["Records"][0]["s3"]["object"]["key"]  # S3 encodes spaces as '+'
    result = gateway.invoke("image", event)
    assert result["results"][0]["key"] == key


def test_late_upload_of_a_deleted_attachment_is_removed(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    attachment = announce(api, user, note["id"])
    key = upload_key(user, note["id"], attachment["id"])
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.delete(path, headers=user.headers).status_code == 204
    # The presigned POST is still valid for a while: the upload lands after the deletion.
    s3.put_object(Bucket=bucket, Key=key, Body=encode(np.zeros((20, 20, 3), np.uint8)))
    assert process(key)["results"][0]["outcome"] == "skipped (no such attachment)"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0


def test_retry_of_a_run_cut_short_after_a_delete_removes_what_it_wrote(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, gateway: Gateway
) -> None:
    attachment = announce(api, user, note["id"])
    key = upload_key(user, note["id"], attachment["id"])
    image = encode(np.zeros((20, 20, 3), np.uint8))
    s3.put_object(Bucket=bucket, Key=key, Body=image)
    event = object_event(s3, bucket, key)
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.delete(path, headers=user.headers).status_code == 204
    # A run that had read the upload wrote its outputs after the API deleted the objects,
    # then died before `finish` (timeout); Lambda's retry brings the same event again.
    derived = f"derived/{user.id}/{note['id']}/{attachment['id']}/"
    parsed = storage.parse_upload_key(key)
    assert parsed is not None
    version = S3Object.from_record(event["Records"][0]).version
    for output in original_outputs(parsed, version, "request-1"):
        s3.put_object(Bucket=bucket, Key=output, Body=image)
    s3.put_object(Bucket=bucket, Key=key, Body=image)
    retry = gateway.invoke("image", event, request_id="request-1")
    assert retry["results"][0]["outcome"] == "skipped (no such attachment)"
    for prefix in (key, derived):
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


def test_lambdas_retry_of_an_attempt_killed_mid_work_processes_the_upload(scene: Scene) -> None:
    scene.put(encode(np.full((64, 64, 3), 128, np.uint8)))
    event = object_event(scene.s3, scene.bucket, scene.key)
    version = S3Object.from_record(event["Records"][0]).version
    # The first attempt claimed the upload and was killed by Lambda's timeout (120 s): neither
    # `finish` nor the release on an exception ran. Its claim runs to its deadline.
    scene.claim_as(version, "request-1", utcnow() + timedelta(seconds=120))

    # Another delivery of the same upload (S3 delivers at least once) leaves it be...
    duplicate = scene.gateway.invoke("image", event, request_id="request-2")
    assert duplicate["results"][0]["outcome"] == "skipped (already processed or in progress)"
    # ...while Lambda's retry, a minute later with the same request id, does the work.
    retry = scene.gateway.invoke("image", event, request_id="request-1")
    assert retry["results"][0]["outcome"] == "ready"
    assert scene.stored()["status"] == "ready"
