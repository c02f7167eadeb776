"""The attachment change functions: claims per object version, finishing, edit checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from smartnote.clock import utcnow
from smartnote.domain import attachments as domain
from smartnote.errors import Conflict, NotFound, ValidationFailed
from smartnote.models.attachments import EditRequest


def _note(**attachment: Any) -> dict[str, Any]:
    document = domain.new_attachment("a1", "uploads/o/n/a1/original", "p.jpg", "image/jpeg", 10)
    document.update(attachment)
    return {"trashed": False, "attachments": [document]}


def _apply(note: dict[str, Any], change: domain.Change) -> dict[str, Any]:
    return {**note, **change(note)}


def test_first_delivery_claims_and_a_duplicate_does_not() -> None:
    note = _apply(_note(), domain.claim("a1", "etag:10", "t1"))
    assert domain.find(note, "a1")["claim"] == "t1"
    assert domain.claim("a1", "etag:10", "t2")(note) == {}  # in progress
    done = _apply(note, domain.finish("a1", "t1", {"status": "ready"}))
    assert domain.claim("a1", "etag:10", "t3")(done) == {}  # already done


def test_stale_claim_and_new_version_are_claimed_again() -> None:
    stale = _note(
        status="processing",
        source="etag:10",
        claim="dead",
        processing_since=utcnow() - domain.STALE_CLAIM - timedelta(seconds=1),
    )
    assert domain.find(_apply(stale, domain.claim("a1", "etag:10", "t")), "a1")["claim"] == "t"
    ready = _note(status="ready", source="etag:10", claim="old")
    assert domain.claim("a1", "other:11", "t")(ready) != {}


def test_finish_by_a_delivery_that_lost_its_claim_writes_nothing() -> None:
    note = _apply(_note(), domain.claim("a1", "v", "t1"))
    assert domain.finish("a1", "someone-else", {"status": "ready"})(note) == {}


def test_release_lets_a_retry_claim() -> None:
    note = _apply(_note(), domain.claim("a1", "v", "t1"))
    released = _apply(note, domain.release("a1", "t1"))
    assert domain.find(released, "a1")["status"] == "pending"
    assert domain.claim("a1", "v", "t2")(released) != {}


def test_claims_on_a_missing_attachment_do_nothing() -> None:
    assert domain.claim("nope", "v", "t")(_note()) == {}
    with pytest.raises(NotFound):
        domain.remove("nope")(_note())


def _operations(*ops: dict[str, Any]) -> Any:
    return EditRequest.model_validate({"operations": list(ops)}).operations


def test_crop_is_checked_against_the_size_after_rotations() -> None:
    attachment = {"width": 400, "height": 300}
    domain.check_operations(
        attachment,
        _operations(
            {"op": "rotate", "degrees": 90},
            {"op": "crop", "x": 0, "y": 0, "width": 300, "height": 400},
        ),
    )
    with pytest.raises(ValidationFailed):
        domain.check_operations(
            attachment, _operations({"op": "crop", "x": 0, "y": 0, "width": 300, "height": 400})
        )
    # After a resize the size is the processor's to know: not refused up front.
    domain.check_operations(
        attachment,
        _operations(
            {"op": "resize", "width": 10}, {"op": "crop", "x": 0, "y": 0, "width": 50, "height": 50}
        ),
    )


def test_edits_need_a_ready_image_and_a_live_note() -> None:
    ops = _operations({"op": "grayscale"})
    change, derived = domain.add_edit("a1", ops)
    with pytest.raises(Conflict):
        change(_note(status="pending"))
    with pytest.raises(Conflict):
        change({**_note(status="ready"), "trashed": True})
    added = change(_note(status="ready"))
    assert domain.find(added, "a1")["derived"][0]["id"] == derived["id"]
