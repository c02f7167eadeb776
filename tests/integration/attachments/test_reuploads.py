"""Several uploads to one attachment's key (its presigned POST stays valid for a while): each
processing writes its own outputs, the record shows one upload's, and nothing is left over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from smartnote import storage
from smartnote.clock import utcnow
from smartnote.jobs.images import REPLACED, S3Object, original_outputs
from tests.integration.attachments.conftest import Scene, Upload, downloaded
from tests.utils.aws_faults import aws_answering
from tests.utils.images import encode

# Two uploads told apart by their shape and their grey level (both under the web copy's edge).
LANDSCAPE_DARK: Upload = (np.full((200, 400, 3), 60, np.uint8), (400, 200), 60)
PORTRAIT_LIGHT: Upload = (np.full((400, 200, 3), 190, np.uint8), (200, 400), 190)
FIRST, SECOND = "0055AED6DCD90281E5", "0055AED6DCD90281F0"  # S3's sequencers of one key


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
    scene: Scene, paused_web_copy: tuple[threading.Event, threading.Event]
) -> None:
    paused, resume = paused_web_copy
    scene.put(LANDSCAPE_DARK)
    first = scene.gateway.runtime("image").start(scene.event(FIRST))
    # The first run has read its upload and written its thumbnail; its web copy waits while
    # a second upload lands on the same key and is processed from start to end.
    assert paused.wait(120)
    scene.put(PORTRAIT_LIGHT)
    assert scene.process(SECOND) == "ready"
    resume.set()
    outcome = first.result(timeout=120)["results"][0]["outcome"]
    assert outcome == "discarded (claimed by a newer upload meanwhile)"

    scene.assert_shows(PORTRAIT_LIGHT)
    scene.assert_only_recorded_outputs_kept()  # the first run's are gone


def test_an_older_uploads_event_arriving_late_changes_nothing(scene: Scene) -> None:
    scene.put(LANDSCAPE_DARK)
    older = scene.event(FIRST)
    scene.put(PORTRAIT_LIGHT)
    assert scene.process(SECOND) == "ready"
    before = scene.stored()

    # S3 does not deliver events in order: the first upload's comes after the second's.
    late = scene.gateway.invoke("image", older)
    assert late["results"][0]["outcome"] == "skipped (superseded by a newer upload)"
    assert scene.stored() == before
    scene.assert_shows(PORTRAIT_LIGHT)


def test_a_new_upload_replaces_the_outputs_of_the_one_before(scene: Scene) -> None:
    for upload, sequencer in ((LANDSCAPE_DARK, FIRST), (PORTRAIT_LIGHT, SECOND)):
        scene.put(upload)
        assert scene.process(sequencer) == "ready"
        scene.assert_shows(upload)
        scene.assert_only_recorded_outputs_kept()


def test_a_failed_upload_over_a_processed_one_leaves_no_outputs(scene: Scene) -> None:
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    scene.put(b"not an image at all")
    assert scene.process(SECOND).startswith("failed")
    # The record points at no thumbnail or web copy any more: none may stay in the bucket.
    assert scene.derived_keys() == set()


def test_a_later_upload_removes_what_a_run_that_died_wrote(scene: Scene) -> None:
    scene.put(LANDSCAPE_DARK)
    first = S3Object.from_record(scene.event(FIRST)["Records"][0])
    # A run of the first upload claimed it, wrote its outputs and was killed (its deadline is
    # past, no retry came): nothing recorded them.
    scene.claim_as(first.version, "request-1", utcnow(), first.sequencer)
    parsed = storage.parse_upload_key(scene.key)
    assert parsed is not None
    for output in original_outputs(parsed, first.version, "request-1"):
        scene.s3.put_object(Bucket=scene.bucket, Key=output, Body=encode(LANDSCAPE_DARK[0]))

    scene.put(PORTRAIT_LIGHT)
    assert scene.process(SECOND) == "ready"
    scene.assert_only_recorded_outputs_kept()


ROTATE = [{"op": "rotate", "degrees": 90}]


@pytest.mark.parametrize("new_upload_processed", ["before the edit", "after the edit"])
def test_an_edit_of_an_upload_replaced_before_it_ran_fails_and_the_new_upload_stays(
    scene: Scene, new_upload_processed: str
) -> None:
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    edit = scene.ask_edit(ROTATE)  # of the dark landscape, the upload the client sees
    # Another upload lands on the key before the edit's request reaches the image function:
    # the bytes the edit was asked of are gone (the bucket keeps no versions).
    scene.put(PORTRAIT_LIGHT)
    if new_upload_processed == "before the edit":
        assert scene.process(SECOND) == "ready"
        outcome = scene.run_edit(edit)
    else:
        outcome = scene.run_edit(edit)
        assert scene.process(SECOND) == "ready"

    # Not the light portrait rotated, presented as an edit of the dark landscape.
    assert outcome == f"failed: {REPLACED}"
    (derived,) = scene.view()["derived"]
    assert (derived["id"], derived["status"], derived["error"]) == (edit, "failed", REPLACED)
    assert derived["url"] is None and derived["width"] is None
    scene.assert_shows(PORTRAIT_LIGHT)
    scene.assert_only_recorded_outputs_kept()  # and no edited image of either upload


def test_an_edit_of_an_upload_sent_again_unchanged_is_rendered(scene: Scene) -> None:
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    edit = scene.ask_edit(ROTATE)
    scene.put(LANDSCAPE_DARK)  # the same bytes again (a client's retry): the same image
    assert scene.process(SECOND) == "ready"

    assert scene.run_edit(edit) == "ready"
    (derived,) = scene.view()["derived"]
    assert (derived["width"], derived["height"]) == (200, 400)
    assert abs(float(downloaded(derived["url"]).mean()) - LANDSCAPE_DARK[2]) < 8


def test_an_edit_rendered_before_a_new_upload_keeps_the_pixels_it_was_asked_of(
    scene: Scene,
) -> None:
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    edit = scene.ask_edit(ROTATE)
    assert scene.run_edit(edit) == "ready"
    scene.put(PORTRAIT_LIGHT)
    assert scene.process(SECOND) == "ready"

    (derived,) = scene.view()["derived"]
    assert (derived["id"], derived["width"], derived["height"]) == (edit, 200, 400)
    assert abs(float(downloaded(derived["url"]).mean()) - LANDSCAPE_DARK[2]) < 8
    scene.assert_shows(PORTRAIT_LIGHT)
