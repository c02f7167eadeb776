"""Several uploads to one attachment's key (its presigned POST stays valid for a while): each
processing writes its own outputs, the record shows one upload's, and nothing is left over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from smartnote import aws, storage
from smartnote.clock import utcnow
from smartnote.domain.attachments import NO_RESULTS, STUCK
from smartnote.jobs.images import REPLACED, S3Object, original_outputs
from tests.integration.attachments.conftest import Scene, Upload, downloaded
from tests.integration.jobs.conftest import ScheduledFunction
from tests.utils.aws_faults import aws_answering
from tests.utils.images import encode, text_strip

# Two uploads told apart by their shape and their grey level (both under the web copy's edge).
LANDSCAPE_DARK: Upload = (np.full((200, 400, 3), 60, np.uint8), (400, 200), 60)
PORTRAIT_LIGHT: Upload = (np.full((400, 200, 3), 190, np.uint8), (200, 400), 190)
FIRST, SECOND = "0055AED6DCD90281E5", "0055AED6DCD90281F0"  # S3's sequencers of one key
OLD_TEXT = "Zeppelin hangar invoice"  # what an upload before says, for search


@pytest.fixture
def paused_web_copy() -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first web copy written waits, once written nothing else, until `resume` is set."""
    paused, resume = threading.Event(), threading.Event()

    def pause_once(params: dict[str, Any]) -> None:
        if params["url_path"].endswith("/web.jpg") and not paused.is_set():
            paused.set()
            resume.wait(120)

    with aws_answering("s3", "PutObject", pause_once, aws.S3_CALLS):
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


def unordered(event: dict[str, Any]) -> dict[str, Any]:
    """`event` without its `sequencer`: the order of the key's writes is not known."""
    for record in event["Records"]:
        del record["s3"]["object"]["sequencer"]
    return event


# What the event of a replaced upload may change of the attachment: when (and that a write of
# that sequencer happened), nothing of what it shows or of who holds it.
NOT_SHOWN = ("updated_at", "sequencer")


def shown(attachment: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in attachment.items() if name not in NOT_SHOWN}


@pytest.mark.parametrize("ordered", [True, False], ids=["sequenced", "unsequenced"])
def test_the_event_of_a_replaced_upload_runs_before_the_newer_ones_and_takes_nothing(
    scene: Scene, ordered: bool
) -> None:
    scene.put(LANDSCAPE_DARK)
    older = scene.event(FIRST)
    scene.put(PORTRAIT_LIGHT)  # before the first upload's event reaches the image function
    before = scene.stored()

    # Not the portrait processed as the landscape's upload: that upload's bytes are gone.
    late = scene.gateway.invoke("image", older if ordered else unordered(older))
    assert late["results"][0]["outcome"] == "skipped (replaced by a newer upload)"
    assert shown(scene.stored()) == shown(before)
    assert scene.derived_keys() == set()

    newer = scene.event(SECOND)
    done = scene.gateway.invoke("image", newer if ordered else unordered(newer))
    assert done["results"][0]["outcome"] == "ready"
    scene.assert_shows(PORTRAIT_LIGHT)
    assert (
        scene.stored()["original_etag"]
        == scene.s3.head_object(Bucket=scene.bucket, Key=scene.key)["ETag"]
    )
    scene.assert_only_recorded_outputs_kept()


def test_the_event_of_a_replaced_upload_after_the_newer_ones_changes_nothing(
    scene: Scene,
) -> None:
    """Events without a sequencer (their order unknown): the late one claims the attachment
    from the ready newer upload, and must give it back as it was."""
    scene.put(LANDSCAPE_DARK)
    older = unordered(scene.event(FIRST))
    scene.put(PORTRAIT_LIGHT)
    assert scene.gateway.invoke("image", unordered(scene.event(SECOND)))["results"][0] == {
        "key": scene.key,
        "outcome": "ready",
    }
    before = scene.stored()

    late = scene.gateway.invoke("image", older)
    assert late["results"][0]["outcome"] == "skipped (replaced by a newer upload)"
    assert shown(scene.stored()) == shown(before)
    scene.assert_shows(PORTRAIT_LIGHT)
    scene.assert_only_recorded_outputs_kept()
    # An edit asked now is of the portrait the client sees.
    assert scene.run_edit(scene.ask_edit(ROTATE)) == "ready"


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


def test_what_a_run_that_died_for_good_wrote_goes_with_the_daily_cleanup(
    scene: Scene, cleanup: ScheduledFunction
) -> None:
    """Every attempt at a new upload was killed after writing its outputs, and no later
    upload came to remove them: the cleanup fails the attachment, which then keeps nothing of
    the upload before (no thumbnail, web copy or text, as a failed upload's record), deletes
    what it wrote and those outputs, and keeps the original. The note is no longer found by
    the text of the upload before."""
    scene.put(encode(text_strip(OLD_TEXT, 24), ".png"))
    assert scene.process(FIRST) == "ready"
    before = scene.stored()
    assert scene.finds("zeppelin")
    scene.put(PORTRAIT_LIGHT)
    second = S3Object.from_record(scene.event(SECOND)["Records"][0])
    scene.claim_as(second.version, "request-1", utcnow(), second.sequencer)
    parsed = storage.parse_upload_key(scene.key)
    assert parsed is not None
    dead = original_outputs(parsed, second.version, "request-1")
    for output in dead:
        scene.s3.put_object(Bucket=scene.bucket, Key=output, Body=encode(PORTRAIT_LIGHT[0]))
    written = max(
        scene.s3.head_object(Bucket=scene.bucket, Key=key)["LastModified"] for key in dead
    )
    assert scene.derived_keys() == {before["thumbnail_key"], before["web_key"], *dead}

    cleanup.clock.set(written + timedelta(days=2))
    result = cleanup.run()
    stored = scene.stored()
    assert (stored["status"], stored["error"]) == ("failed", STUCK)
    assert {name: stored[name] for name in NO_RESULTS} == NO_RESULTS
    assert result["stuck_attachments"] >= 1 and result["unrecorded_outputs"] >= 4
    view = scene.view()
    assert (view["thumbnail_url"], view["web_url"], view["ocr_text"]) == (None, None, None)
    assert scene.derived_keys() == set()
    assert not scene.finds("zeppelin")
    assert scene.s3.head_object(Bucket=scene.bucket, Key=scene.key)["ContentLength"] > 0


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


def _as_processed_before_etags_were_recorded(scene: Scene) -> None:
    """The attachment as the image function stored it before it recorded `original_etag`."""
    scene.notes.update_one(
        {"_id": scene.note_id, "attachments.id": scene.attachment_id},
        {"$unset": {"attachments.$.original_etag": ""}},
    )


def test_an_attachment_processed_before_etags_gets_its_etag_at_its_first_edit(
    scene: Scene,
) -> None:
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    _as_processed_before_etags_were_recorded(scene)
    assert scene.run_edit(scene.ask_edit(ROTATE)) == "ready"  # reads the key as it is
    etag = scene.s3.head_object(Bucket=scene.bucket, Key=scene.key)["ETag"]
    assert scene.stored()["original_etag"] == etag  # the upload its results are of

    # So the next edit is of that upload, whatever lands on the key after it was asked for.
    edit = scene.ask_edit(ROTATE)
    scene.put(PORTRAIT_LIGHT)
    assert scene.run_edit(edit) == f"failed: {REPLACED}"


def test_an_etag_not_of_the_upload_processed_is_never_recorded(scene: Scene) -> None:
    """Another upload on the key (its processing still to come) when the first edit of an
    attachment processed before ETags renders: its ETag is not that of the results shown."""
    scene.put(LANDSCAPE_DARK)
    assert scene.process(FIRST) == "ready"
    _as_processed_before_etags_were_recorded(scene)
    edit = scene.ask_edit(ROTATE)
    scene.put(PORTRAIT_LIGHT)
    scene.run_edit(edit)
    assert scene.stored().get("original_etag") is None
    assert scene.process(SECOND) == "ready"
    etag = scene.s3.head_object(Bucket=scene.bucket, Key=scene.key)["ETag"]
    assert scene.stored()["original_etag"] == etag
