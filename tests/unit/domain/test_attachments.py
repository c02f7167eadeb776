"""The attachment change functions: claims per object version, finishing, edit checks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from smartnote import etags
from smartnote.clock import utcnow
from smartnote.domain import attachments as domain
from smartnote.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
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
        processing_since=utcnow() - domain.LONGEST_INVOCATION - domain.CLAIM_MARGIN * 2,
    )
    assert domain.find(_apply(stale, domain.claim("a1", "etag:10", "t")), "a1")["claim"] == "t"
    ready = _note(status="ready", source="etag:10", claim="old")
    assert domain.claim("a1", "other:11", "t")(ready) != {}


def test_a_claim_ends_with_its_invocation() -> None:
    deadline = utcnow() + timedelta(seconds=120)  # the image function's timeout
    note = _apply(_note(), domain.claim("a1", "v", "request-1", deadline))
    assert domain.find(note, "a1")["claimed_until"] == deadline + domain.CLAIM_MARGIN
    assert domain.claim("a1", "v", "request-2")(note) == {}  # a duplicate, while it may run
    ended = _apply(note, lambda n: _with(n, claimed_until=utcnow() - timedelta(seconds=1)))
    assert domain.find(_apply(ended, domain.claim("a1", "v", "r3")), "a1")["claim"] == "r3"
    done = _apply(note, domain.finish("a1", "request-1", {"status": "ready"}))
    assert domain.find(done, "a1")["claimed_until"] is None


def test_lambdas_retry_of_a_killed_attempt_takes_its_claim_over_at_once() -> None:
    deadline = utcnow() + timedelta(seconds=120)
    killed = _apply(_note(), domain.claim("a1", "v", "request-1", deadline))
    # Lambda retries with the attempt's request id, once the attempt is over.
    assert domain.claim("a1", "v", "request-1", deadline)(killed) != {}
    done = _apply(killed, domain.finish("a1", "request-1", {"status": "ready"}))
    assert domain.claim("a1", "v", "request-1", deadline)(done) == {}  # done is done


def _with(note: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"attachments": [{**note["attachments"][0], **fields}]}


def test_finish_by_a_delivery_that_lost_its_claim_writes_nothing() -> None:
    note = _apply(_note(), domain.claim("a1", "v", "t1"))
    assert domain.finish("a1", "someone-else", {"status": "ready"})(note) == {}


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("0055AED6DCD90281E5", "0055AED6DCD90281F0"), ("FF", "0100"), ("9", "0A")],
    ids=["same-length", "shorter-is-left-padded", "hexadecimal-not-decimal"],
)
def test_uploads_of_one_key_are_claimed_in_s3s_sequencer_order(earlier: str, later: str) -> None:
    first = _apply(_note(), domain.claim("a1", "etag-1:10", "t1", sequencer=earlier))
    # The later upload takes over from the earlier one; the earlier one's late event does not.
    second = _apply(first, domain.claim("a1", "etag-2:10", "t2", sequencer=later))
    assert domain.find(second, "a1")["claim"] == "t2"
    assert domain.superseded(domain.find(second, "a1"), earlier)
    assert domain.claim("a1", "etag-1:10", "t3", sequencer=earlier)(second) == {}
    # A later write of the same bytes is another upload: claimed even after a finish.
    done = _apply(second, domain.finish("a1", "t2", {"status": "ready"}))
    again = _apply(done, domain.claim("a1", "etag-2:10", "t4", sequencer=later + "0"))
    assert domain.find(again, "a1")["claim"] == "t4"


def test_without_a_usable_sequencer_uploads_are_told_apart_by_version_alone() -> None:
    note = _apply(_note(), domain.claim("a1", "etag-1:10", "t1", sequencer="0055AED6DCD90281F0"))
    for sequencer in (None, "not-hex"):
        assert not domain.superseded(domain.find(note, "a1"), sequencer)
        taken = domain.claim("a1", "etag-2:10", "t2", sequencer=sequencer)(note)
        assert domain.find(taken, "a1")["claim"] == "t2"


def test_a_claim_taken_over_from_another_run_names_that_run() -> None:
    displaced: list[dict[str, Any]] = []
    note = _apply(_note(), domain.claim("a1", "etag-1:10", "t1"))
    domain.claim("a1", "etag-2:10", "t2", displaced=displaced)(note)
    assert displaced == [{"source": "etag-1:10", "claim": "t1"}]
    domain.claim("a1", "etag-1:10", "t1", displaced=displaced)(note)  # its own retry
    assert displaced == []


def test_release_lets_a_retry_claim() -> None:
    note = _apply(_note(), domain.claim("a1", "v", "t1"))
    released = _apply(note, domain.release("a1", "t1"))
    assert domain.find(released, "a1")["status"] == "pending"
    assert domain.claim("a1", "v", "t2")(released) != {}


@pytest.mark.parametrize(
    "was",
    [
        {},  # a new attachment, never claimed
        {"status": "ready", "source": "etag-1:10", "claim": "t0", "processing_since": None},
        {"status": "failed", "error": "The file is empty", "source": "e:0", "claim": "t0"},
    ],
    ids=["pending", "ready", "failed"],
)
def test_a_withdrawn_claim_leaves_the_attachment_as_it_was(was: dict[str, Any]) -> None:
    before: list[dict[str, Any]] = []
    note = _note(**was)
    claimed = _apply(note, domain.claim("a1", "etag-2:10", "t1", sequencer="0A", before=before))
    assert domain.find(claimed, "a1")["status"] == "processing"
    withdrawn = domain.find(_apply(claimed, domain.withdraw("a1", "t1", *before)), "a1")
    original = domain.find(note, "a1")
    for field in ("updated_at", "sequencer"):  # written, and the write's order learned
        withdrawn.pop(field, None)
        original.pop(field, None)
    assert withdrawn == original


def test_a_claim_taken_over_meanwhile_is_not_withdrawn() -> None:
    before: list[dict[str, Any]] = []
    note = _apply(_note(), domain.claim("a1", "etag-1:10", "t1", sequencer="0A", before=before))
    taken = _apply(note, domain.claim("a1", "etag-2:10", "t2", sequencer="0B"))
    assert domain.withdraw("a1", "t1", *before)(taken) == {}


@pytest.mark.parametrize(
    ("source", "etag"),
    [
        ("d41d8cd98f00b204e9800998ecf8427e:10", '"d41d8cd98f00b204e9800998ecf8427e"'),
        ("9b2cf535f27731c974343645a3985328-3:16777216", '"9b2cf535f27731c974343645a3985328-3"'),
        ("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", None),  # a version id names no ETag
        (None, None),
    ],
    ids=["single-part", "multipart", "version-id", "none"],
)
def test_the_etag_a_claims_source_names(source: str | None, etag: str | None) -> None:
    assert domain.source_etag(source) == etag


def test_only_the_etag_of_the_upload_processed_is_adopted() -> None:
    processed = _note(status="ready", source="abc:10")
    adopted = domain.adopt_original_etag("a1", '"abc"')(processed)
    assert domain.find(adopted, "a1")["original_etag"] == '"abc"'
    assert domain.adopt_original_etag("a1", '"def"')(processed) == {}  # a newer upload's
    recorded = _note(status="ready", source="abc:10", original_etag='"abc"')
    assert domain.adopt_original_etag("a1", '"abc"')(recorded) == {}
    in_progress = _note(status="processing", source="abc:10")
    assert domain.adopt_original_etag("a1", '"abc"')(in_progress) == {}


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


def test_crop_is_checked_against_the_size_after_a_resize() -> None:
    attachment = {"width": 400, "height": 300}
    # One side keeps the aspect ratio, rounded as the processor rounds: 300 * 101/400 = 75.75.
    crop = {"op": "crop", "x": 0, "y": 0, "width": 101, "height": 76}
    domain.check_operations(attachment, _operations({"op": "resize", "width": 101}, crop))
    with pytest.raises(ValidationFailed) as caught:
        domain.check_operations(
            attachment, _operations({"op": "resize", "width": 101}, {**crop, "height": 77})
        )
    assert caught.value.details[0]["loc"] == ["body", "operations", 1]
    assert caught.value.details[0]["msg"] == "the image is 101x76 at this step"
    assert "operation 2 (crop)" in caught.value.message
    # Both sides: fit inside the box.
    box = {"op": "resize", "width": 100, "height": 100}
    domain.check_operations(attachment, _operations(box, {**crop, "width": 100, "height": 75}))
    with pytest.raises(ValidationFailed):
        domain.check_operations(attachment, _operations(box, {**crop, "width": 100, "height": 76}))


@pytest.mark.parametrize(
    ("operations", "refused_at"),
    [
        ([{"op": "resize", "width": 7303}], None),  # 7303x5477: 39.99 megapixels
        ([{"op": "resize", "width": 7304}], 0),  # 7304x5478: 40.01
        ([{"op": "rotate", "degrees": 90}, {"op": "resize", "height": 7304}], 1),
        ([{"op": "resize", "width": 100}, {"op": "resize", "width": 20_000}], 1),
        (
            [
                {"op": "crop", "x": 0, "y": 0, "width": 4, "height": 3},
                {"op": "resize", "width": 7304},
            ],
            1,
        ),
    ],
)
def test_a_resize_past_the_pixel_limit_is_refused(
    operations: list[dict[str, Any]], refused_at: int | None
) -> None:
    attachment = {"width": 400, "height": 300}
    if refused_at is None:
        domain.check_operations(attachment, _operations(*operations))
        return
    with pytest.raises(ValidationFailed) as caught:
        domain.check_operations(attachment, _operations(*operations))
    assert caught.value.details[0]["loc"] == ["body", "operations", refused_at]
    assert caught.value.details[0]["type"] == "too_many_pixels"
    assert f"operation {refused_at + 1} (resize)" in caught.value.message


def test_edits_need_a_ready_image_and_a_live_note() -> None:
    ops = _operations({"op": "grayscale"})
    change, derived = domain.add_edit("a1", ops)
    with pytest.raises(Conflict):
        change(_note(status="pending"))
    with pytest.raises(Conflict):
        change({**_note(status="ready"), "trashed": True})
    added = change(_note(status="ready"))
    assert domain.find(added, "a1")["derived"][0]["id"] == derived["id"]


def test_only_processing_that_started_before_the_cutoff_is_failed() -> None:
    cutoff = utcnow()
    since = cutoff - timedelta(seconds=1)
    stuck = _note(status="processing", claim="dead", processing_since=since)
    failed = domain.find(_apply(stuck, domain.fail_stuck(cutoff)), "a1")
    assert (failed["status"], failed["error"], failed["claim"]) == ("failed", domain.STUCK, None)
    assert domain.fail_stuck(since)(stuck) == {}  # started at the cutoff: may still finish
    assert domain.fail_stuck(cutoff)(_note(status="ready", processing_since=None)) == {}


def test_a_stuck_upload_keeps_nothing_of_the_upload_before() -> None:
    """The upload stuck is a new one over processed results: failed, it shows none of them,
    as a failed upload the image function judged (`domain.failed_upload`)."""
    cutoff = utcnow()
    results = {
        "width": 40,
        "height": 20,
        "ocr_text": "zeppelin",
        "ocr_confidence": 0.9,
        "thumbnail_key": "derived/o/n/a1/processed/r/thumbnail.jpg",
        "web_key": "derived/o/n/a1/processed/r/web.jpg",
        "original_etag": '"e1"',
    }
    stuck = _note(
        status="processing", claim="dead", processing_since=cutoff - timedelta(1), **results
    )
    failed = domain.find(_apply(stuck, domain.fail_stuck(cutoff)), "a1")
    assert {name: failed[name] for name in results} == domain.NO_RESULTS
    assert failed | domain.failed_upload(domain.STUCK) == failed


def test_only_uploads_pending_since_before_the_cutoff_are_dropped() -> None:
    cutoff = utcnow()
    before = cutoff - timedelta(seconds=1)
    stale = domain.new_attachment("a1", "k1", "p.jpg", "image/jpeg", 10)
    stale.update(created_at=before, pending_since=before)
    fresh = domain.new_attachment("a2", "k2", "p.jpg", "image/jpeg", 10)
    fresh.update(created_at=cutoff, pending_since=cutoff)
    ready = {**stale, "id": "a3", "status": "ready"}
    note = {"trashed": False, "attachments": [stale, fresh, ready]}
    dropped: list[dict[str, Any]] = []
    assert domain.drop_stale_pending(cutoff, dropped)(note) == {"attachments": [fresh, ready]}
    assert dropped == [stale]
    # Called again on a note that no longer has one (another run, the upload arrived): none.
    assert domain.drop_stale_pending(cutoff, dropped)({"attachments": [fresh, ready]}) == {}
    assert dropped == []


def test_a_released_upload_is_pending_since_its_release_not_its_creation() -> None:
    created = utcnow() - timedelta(days=3)
    claimed = _note(status="ready", created_at=created)
    claimed = _apply(claimed, domain.claim("a1", "etag:new", "t1"))  # a new version arrived
    released = _apply(claimed, domain.release("a1", "t1"))  # its processing raised
    attachment = domain.find(released, "a1")
    assert attachment["status"] == "pending"
    cutoff = utcnow() - timedelta(hours=24)
    assert not domain.stale_pending(attachment, cutoff)  # a day to replay the event
    assert domain.stale_pending(attachment, attachment["pending_since"] + timedelta(seconds=1))
    # Stored before pending_since existed: pending since its creation.
    legacy = {k: v for k, v in attachment.items() if k != "pending_since"}
    assert domain.stale_pending(legacy, cutoff)


def _edit(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": fields.pop("id", "d1"), "status": status, "error": None, **fields}


def test_the_oldest_waiting_edit_is_what_the_cleanup_looks_for() -> None:
    now = utcnow()
    asked, claimed = now - timedelta(hours=3), now - timedelta(hours=1)
    note = _note(
        status="ready",
        derived=[
            _edit("ready", id="d0", created_at=now - timedelta(days=9)),  # ended: not waiting
            _edit(
                "processing",
                id="d1",
                created_at=asked - timedelta(hours=1),
                processing_since=claimed,
            ),
            _edit("pending", id="d2", created_at=asked),
        ],
    )
    assert domain.oldest_waiting_edit(note) == asked  # a claimed edit waits since its claim
    assert domain.oldest_waiting_edit(_note(status="ready")) is None


def test_only_edits_waiting_since_before_the_cutoff_are_failed() -> None:
    cutoff = utcnow()
    before = cutoff - timedelta(seconds=1)
    note = _note(
        status="ready",
        derived=[
            _edit("pending", id="never", created_at=before),
            _edit("processing", id="killed", created_at=before, processing_since=before, claim="x"),
            _edit(
                "processing", id="retried", created_at=before, processing_since=cutoff, claim="y"
            ),
            _edit("ready", id="done", created_at=before),
        ],
    )
    after = {
        d["id"]: d
        for d in domain.find(_apply(note, domain.fail_stuck_edits(cutoff)), "a1")["derived"]
    }
    assert [after[i]["status"] for i in ("never", "killed", "retried", "done")] == [
        "failed",
        "failed",
        "processing",
        "ready",
    ]
    assert after["killed"]["error"] == domain.STUCK_EDIT
    assert after["killed"]["claim"] is None
    assert domain.fail_stuck_edits(before)(note) == {}  # nothing waits since before that


@pytest.mark.parametrize(
    ("content_type", "operations", "refused"),
    [
        ("image/png", [{"op": "grayscale"}], False),  # a PNG stays a PNG: 1 000 000 a side
        ("image/png", [{"op": "convert", "format": "webp"}], True),
        ("image/tiff", [{"op": "grayscale"}], False),  # JPEG: 65500 a side
        ("image/png", [{"op": "crop", "x": 0, "y": 0, "width": 16_383, "height": 100}], False),
        (
            "image/png",
            [
                {"op": "convert", "format": "webp"},
                {"op": "crop", "x": 0, "y": 0, "width": 16_384, "height": 100},
            ],
            True,
        ),
        (
            "image/png",
            [{"op": "convert", "format": "webp"}, {"op": "rotate", "degrees": 90}],
            True,
        ),
        (
            "image/png",
            [{"op": "convert", "format": "webp"}, {"op": "resize", "width": 16_000}],
            False,
        ),
    ],
)
def test_an_edit_longer_than_its_output_format_allows_is_refused(
    content_type: str, operations: list[dict[str, Any]], refused: bool
) -> None:
    attachment = {"width": 17_000, "height": 100, "content_type": content_type}
    if not refused:
        domain.check_operations(attachment, _operations(*operations))
        return
    with pytest.raises(ValidationFailed) as raised:
        domain.check_operations(attachment, _operations(*operations))
    assert raised.value.details[0]["type"] == "edge_too_long"
    assert raised.value.details[0]["loc"] == ["body", "operations", len(operations) - 1]


def _edits(*statuses: str) -> list[dict[str, Any]]:
    return [
        {"id": f"d{i}", "status": status, "key": f"derived/d{i}.png" if status == "ready" else None}
        for i, status in enumerate(statuses)
    ]


def test_failed_edits_make_room_for_a_new_one_oldest_first() -> None:
    """Failed edits cannot be deleted one by one: at the limit they must not block the image
    for good. The oldest failed one goes; the images of the others stay."""
    limit = domain.MAX_DERIVED_PER_ATTACHMENT
    statuses = ["ready", "failed", "ready", "failed"] + ["ready"] * (limit - 4)
    note = _note(status="ready", width=100, height=100, derived=_edits(*statuses))
    ops = EditRequest.model_validate({"operations": [{"op": "grayscale"}]}).operations
    change, added = domain.add_edit("a1", ops)
    derived = domain.find(_apply(note, change), "a1")["derived"]
    assert len(derived) == limit
    assert [d["id"] for d in derived] == ["d0", *[f"d{i}" for i in range(2, limit)], added["id"]]


def test_at_the_limit_with_no_failed_edit_a_new_one_is_refused() -> None:
    edits = _edits(*["ready"] * (domain.MAX_DERIVED_PER_ATTACHMENT - 1), "pending")
    note = _note(status="ready", width=100, height=100, derived=edits)
    ops = EditRequest.model_validate({"operations": [{"op": "grayscale"}]}).operations
    change, _ = domain.add_edit("a1", ops)
    with pytest.raises(Conflict, match="at most"):
        change(note)


def test_an_attachment_of_a_trashed_note_is_kept_and_a_missing_one_is_a_404() -> None:
    """404 before 409: the repeat of a deletion S3 refused (the record already gone) must
    remove the objects, which only a 404 does, also once the note is in the trash."""
    trashed = {**_note(), "trashed": True}
    with pytest.raises(NotFound):
        domain.remove("gone")(trashed)
    with pytest.raises(Conflict):
        domain.remove("a1")(trashed)
    assert domain.remove("a1")(_note()) == {"attachments": []}


def test_a_deletion_is_a_404_when_gone_whatever_its_if_match_then_a_412_when_stale() -> None:
    """The repeat of a deletion S3 refused carries the If-Match the first call met, which the
    first call made stale: only its 404 removes the objects."""
    at_3 = {**_note(), "version": 3}
    if_match_2 = etags.precondition('"2"')
    with pytest.raises(NotFound):
        domain.remove("gone", if_match_2)({**at_3, "trashed": True})
    with pytest.raises(PreconditionFailed):
        domain.remove("a1", if_match_2)({**at_3, "trashed": True})
    assert domain.remove("a1", etags.precondition('"3"'))(at_3) == {"attachments": []}


def test_an_upload_or_edit_s3_never_took_is_forgotten_whatever_the_note_is_now() -> None:
    change, derived = domain.add_edit("a1", _operations({"op": "grayscale"}))
    edited = {**_apply(_note(status="ready"), change), "trashed": True}  # trashed meanwhile
    undone = _apply(edited, domain.forget_edit("a1", derived["id"]))
    assert domain.find(undone, "a1")["derived"] == []
    assert domain.forget("a1")(edited) == {"attachments": []}
    assert domain.forget("gone")(edited) == {}
    assert domain.forget_edit("a1", "gone")(edited) == {}
    assert domain.forget_edit("gone", derived["id"])(edited) == {}
