"""What an attachment is inside its note, and how each write changes the note's list.

Attachments are embedded in the note document (`attachments`), so every change here is a
change function for `NotesRepository.update`: it reads the current note and returns the new
list, and the repository applies it against the version it read (retrying on a race) and
recomputes the search terms, which include each attachment's OCR text.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from smartnote.clock import utcnow
from smartnote.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from smartnote.etags import Precondition
from smartnote.models.attachments import (
    MAX_PIXELS,
    Attachment,
    DerivedImage,
    Operation,
    edit_output_format,
    too_long_to_encode,
)

Document = dict[str, Any]
Change = Callable[[Document], Document]

MAX_ATTACHMENTS_PER_NOTE = 50
MAX_DERIVED_PER_ATTACHMENT = 20
# A claim lasts as long as the invocation that took it can run (its deadline, passed in by
# the image function) plus this: clocks of two containers and a write in flight at the
# deadline differ by less. Without a known deadline, Lambda's longest timeout bounds it.
CLAIM_MARGIN = timedelta(seconds=10)
LONGEST_INVOCATION = timedelta(minutes=15)


# What processing an original makes of it: none yet, or none any more after a failure (a new
# upload at the same key must not keep the previous one's thumbnail or searchable text).
# `original_etag` is the S3 ETag of the bytes it processed: an edit renders those bytes only.
NO_RESULTS: Document = {
    "width": None,
    "height": None,
    "ocr_text": None,
    "ocr_confidence": None,
    "thumbnail_key": None,
    "web_key": None,
    "original_etag": None,
}


def failed_upload(reason: str) -> Document:
    """What the record of an upload that failed holds: the reason, and none of the results an
    earlier upload at the key left (the image function's refusals, the cleanup's stuck runs)."""
    return {"status": "failed", "error": reason, **NO_RESULTS}


def new_attachment_id() -> str:
    return secrets.token_hex(8)


def new_attachment(
    attachment_id: str, key: str, filename: str, content_type: str, size: int
) -> Document:
    now = utcnow()
    return {
        "id": attachment_id,
        "key": key,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "status": "pending",
        "pending_since": now,
        "error": None,
        **NO_RESULTS,
        "derived": [],
        "created_at": now,
        "updated_at": now,
    }


def find(note: Document, attachment_id: str) -> Document:
    found = find_or_none(note, attachment_id)
    if found is None:
        raise NotFound("Attachment not found")
    return found


def find_or_none(note: Document, attachment_id: str) -> Document | None:
    """A copy of the note's attachment, or None (deleted meanwhile: a job's change is then
    nothing to do)."""
    for attachment in note.get("attachments") or []:
        if attachment["id"] == attachment_id:
            return dict(attachment)
    return None


def _held(note: Document, attachment_id: str, token: str) -> Document | None:
    """A copy of the attachment while the delivery `token` holds its claim, else None."""
    attachment = find_or_none(note, attachment_id)
    return attachment if attachment is not None and attachment.get("claim") == token else None


def _replace(note: Document, attachment: Document) -> Document:
    attachments = [
        attachment if a["id"] == attachment["id"] else a for a in note.get("attachments") or []
    ]
    return {"attachments": attachments}


def _refuse_trashed(note: Document) -> None:
    if note.get("trashed"):
        raise Conflict("The note is in the trash; restore it before changing its attachments")


def add(attachment: Document) -> Change:
    def change(note: Document) -> Document:
        _refuse_trashed(note)
        existing = note.get("attachments") or []
        if len(existing) >= MAX_ATTACHMENTS_PER_NOTE:
            raise Conflict(f"A note has at most {MAX_ATTACHMENTS_PER_NOTE} attachments")
        return {"attachments": [*existing, attachment]}

    return change


def remove(attachment_id: str, precondition: Precondition | None = None) -> Change:
    """Delete the attachment: a 404 when absent, whatever the note's state or version (the
    repeat of a deletion that S3 answered with a 503, with the If-Match it sent, must still
    remove the objects), then a 412 when the note fails `precondition` (If-Match), a 409 in
    the trash."""

    def change(note: Document) -> Document:
        find(note, attachment_id)
        if precondition is not None and not precondition(note["version"]):
            raise PreconditionFailed()
        _refuse_trashed(note)
        return {"attachments": [a for a in note["attachments"] if a["id"] != attachment_id]}

    return change


def forget(attachment_id: str) -> Change:
    """Remove the attachment if it is there, whatever the note's state: the undo of an `add`
    whose upload never reached S3 (a client told to retry finds no ghost of it)."""

    def change(note: Document) -> Document:
        attachments = note.get("attachments") or []
        kept = [a for a in attachments if a["id"] != attachment_id]
        return {"attachments": kept} if len(kept) < len(attachments) else {}

    return change


def forget_edit(attachment_id: str, derived_id: str) -> Change:
    """Remove the edit if it is there: the undo of an `add_edit` whose request never reached
    S3, so it would never run (it would wait `pending` for the cleanup to fail it)."""

    def change(note: Document) -> Document:
        attachment = find_or_none(note, attachment_id)
        if attachment is None:
            return {}
        edits = attachment.get("derived") or []
        kept = [edit for edit in edits if edit["id"] != derived_id]
        if len(kept) == len(edits):
            return {}
        attachment["derived"] = kept
        return _replace(note, attachment)

    return change


def stored_keys(attachment: Mapping[str, Any]) -> set[str]:
    """Every S3 key the attachment's record points at: its upload, thumbnail and web copy,
    and its edits' results."""
    keys = [attachment.get(name) for name in ("key", "thumbnail_key", "web_key")]
    keys += [edit.get("key") for edit in attachment.get("derived") or []]
    return {key for key in keys if key}


def _refused(index: int, message: str, detail: str, kind: str) -> ValidationFailed:
    location = ["body", "operations", index]
    return ValidationFailed(message, details=[{"loc": location, "msg": detail, "type": kind}])


def check_operations(attachment: Document, operations: list[Operation]) -> None:
    """422 for an edit the processor would refuse, where the image's size is known: the size
    and the output format are followed through every operation as the processor computes
    them (which re-checks)."""
    width, height = attachment.get("width"), attachment.get("height")
    if not (width and height):
        return
    fmt = edit_output_format(attachment.get("content_type") or "")
    for index, operation in enumerate(operations):
        step = f"operation {index + 1} ({operation.op})"
        if operation.op == "convert":
            fmt = operation.format
        elif operation.op == "rotate" and operation.degrees % 180:
            width, height = height, width
        elif operation.op == "crop":
            if operation.x + operation.width > width or operation.y + operation.height > height:
                raise _refused(
                    index,
                    f"The crop rectangle of {step} leaves the image",
                    f"the image is {width}x{height} at this step",
                    "crop_out_of_bounds",
                )
            width, height = operation.width, operation.height
        elif operation.op == "resize":
            width, height = operation.size_for(width, height)
            if width * height > MAX_PIXELS:
                raise _refused(
                    index,
                    f"The resize of {step} would make a {width}x{height} image",
                    f"at most {MAX_PIXELS // 1_000_000} megapixels are accepted",
                    "too_many_pixels",
                )
    if refusal := too_long_to_encode(fmt, width, height):
        raise _refused(
            len(operations) - 1,
            refusal,
            "resize or crop it, or convert it to another format",
            "edge_too_long",
        )


def _room_for_one_more(edits: list[Document]) -> list[Document]:
    """The image's edits with room for one more: at the limit, the oldest failed one goes (it
    holds no image, only its failure, which the client has had the chance to see); with none
    failed, a 409. Failed edits cannot be deleted one by one, so they must not fill the image
    for good."""
    if len(edits) < MAX_DERIVED_PER_ATTACHMENT:
        return edits
    oldest_failed = next((edit for edit in edits if edit["status"] == "failed"), None)
    if oldest_failed is None:
        raise Conflict(f"An image has at most {MAX_DERIVED_PER_ATTACHMENT} edited versions")
    return [edit for edit in edits if edit is not oldest_failed]


def add_edit(attachment_id: str, operations: list[Operation]) -> tuple[Change, Document]:
    """The change that queues an edit, and the derived record it adds. The edit is of the
    upload whose results the attachment shows (`original_etag`): another upload to the same
    key before it is rendered does not become its source (jobs/images.py)."""
    derived: Document = {
        "id": new_attachment_id(),
        "status": "pending",
        "error": None,
        "operations": [op.model_dump() for op in operations],
        "content_type": None,
        "key": None,
        "width": None,
        "height": None,
        "created_at": utcnow(),
    }

    def change(note: Document) -> Document:
        _refuse_trashed(note)
        attachment = find(note, attachment_id)
        if attachment["status"] == "failed":
            raise Conflict("The image could not be processed, so it cannot be edited")
        if attachment["status"] != "ready":
            raise Conflict("The image is not processed yet; edit it once its status is ready")
        check_operations(attachment, operations)
        derived["original_etag"] = attachment.get("original_etag")
        attachment["derived"] = [*_room_for_one_more(attachment.get("derived") or []), derived]
        attachment["updated_at"] = utcnow()
        return _replace(note, attachment)

    return change, derived


# --- the processor's writes ------------------------------------------------------------------


def _claimable(item: Document, source: str, token: str, now: datetime) -> bool:
    """Whether this delivery of `source` should do the work (S3 delivers at least once).

    A claim held by `token` itself was taken by an earlier attempt of this invocation: Lambda
    retries with the same request id once that attempt is over (killed by its timeout or for
    memory), so the retry takes it over at once. Another delivery waits for the claim's end.
    """
    if item.get("source") != source:
        return True
    if item["status"] in ("ready", "failed"):
        return False  # done for this very object version: a duplicate delivery
    if item["status"] != "processing" or item.get("claim") == token:
        return True
    return now > claim_end(item)


def claim_end(item: Document) -> datetime:
    """When a claim on `item` is over at the latest (its holder can no longer be running)."""
    until: datetime | None = item.get("claimed_until")
    if until is not None:
        return until
    since: datetime = item.get("processing_since") or datetime.min.replace(tzinfo=UTC)
    return since + LONGEST_INVOCATION + CLAIM_MARGIN


# What a claim sets (`_claimed`), and `withdraw` puts back.
CLAIM_FIELDS = ("status", "source", "claim", "processing_since", "claimed_until", "error")


def _claimed(item: Document, source: str, token: str, deadline: datetime | None) -> None:
    now = utcnow()
    until = (deadline or now + LONGEST_INVOCATION) + CLAIM_MARGIN
    item.update(
        status="processing",
        source=source,
        claim=token,
        processing_since=now,
        claimed_until=until,
        error=None,
    )


def _sequence(sequencer: str | None) -> int | None:
    """S3's `sequencer` as a number: hexadecimal, compared once the shorter one is left-padded
    with zeros, i.e. by value. None when absent (or not hexadecimal): then no order is known."""
    try:
        return None if not sequencer else int(sequencer, 16)
    except ValueError:
        return None


def superseded(attachment: Document, sequencer: str | None) -> bool:
    """Whether the upload whose S3 event carries `sequencer` was overwritten by one already
    claimed here (a later write to the same key): its event came late and has nothing to do."""
    ours, latest = _sequence(sequencer), _sequence(attachment.get("sequencer"))
    return ours is not None and latest is not None and ours < latest


def _upload_claimable(
    attachment: Document, source: str, sequencer: str | None, token: str, now: datetime
) -> bool:
    """`_claimable` for the upload of one S3 event, in the order S3 wrote the key's uploads:
    an earlier one never takes over from a later one, and a later one always does (even of
    the same bytes: its event is another write)."""
    if superseded(attachment, sequencer):
        return False
    ours, latest = _sequence(sequencer), _sequence(attachment.get("sequencer"))
    if ours is not None and latest is not None and ours > latest:
        return True
    return _claimable(attachment, source, token, now)


def claim(
    attachment_id: str,
    source: str,
    token: str,
    deadline: datetime | None = None,
    *,
    sequencer: str | None = None,
    displaced: list[Document] | None = None,
    before: list[Document] | None = None,
) -> Change:
    """Mark the attachment `processing` by this delivery (`token`, its invocation's request
    id) until `deadline` (when the invocation is stopped), unless the work is done or held,
    or a later upload (`sequencer`, the S3 event's) was claimed already. `displaced` gets the
    claim this one took over from another delivery (`source` and `claim`), whose outputs are
    not going to be recorded, and `before` the claim's fields as they were (for `withdraw`):
    the last call's, i.e. those of the write applied."""
    displaced = [] if displaced is None else displaced
    before = [] if before is None else before

    def change(note: Document) -> Document:
        displaced.clear()
        before.clear()
        attachment = find_or_none(note, attachment_id)
        if attachment is None:
            return {}  # deleted meanwhile: nothing to do
        if not _upload_claimable(attachment, source, sequencer, token, utcnow()):
            return {}
        if attachment["status"] == "processing" and attachment.get("claim") not in (None, token):
            displaced.append({"source": attachment.get("source"), "claim": attachment["claim"]})
        before.append({field: attachment[field] for field in CLAIM_FIELDS if field in attachment})
        _claimed(attachment, source, token, deadline)
        if sequencer is not None:
            attachment["sequencer"] = sequencer
        attachment["updated_at"] = attachment["processing_since"]
        return _replace(note, attachment)

    return change


def finish(attachment_id: str, token: str, result: Document) -> Change:
    """Store the outcome of the delivery that holds the claim."""

    def change(note: Document) -> Document:
        attachment = _held(note, attachment_id, token)
        if attachment is None:
            return {}  # deleted meanwhile, or another delivery took over
        attachment.update(result)
        attachment.update(processing_since=None, claimed_until=None)
        attachment["updated_at"] = utcnow()
        return _replace(note, attachment)

    return change


def release(attachment_id: str, token: str) -> Change:
    """Give the claim back after a real failure, so that Lambda's retry can do the work.
    Pending again from now: the cleanup's day of grace (time to replay the event from the
    dead-letter queue) starts at the failure, not when the attachment was created."""
    result = {"status": "pending", "pending_since": utcnow(), "claim": None, "source": None}
    return finish(attachment_id, token, result)


def withdraw(attachment_id: str, token: str, before: Document) -> Change:
    """Give the claim back as if it had never been taken: the claim's fields as `claim` found
    them (`before`). For a delivery whose upload turned out to be replaced by another before
    it was read: that one's own event does the work, and until then the attachment shows
    what it showed (results, or `pending`, or a failure), not a run of an upload that is
    gone. Nothing when the claim is no longer this delivery's."""

    def change(note: Document) -> Document:
        attachment = _held(note, attachment_id, token)
        if attachment is None:
            return {}
        for field in CLAIM_FIELDS:
            if field in before:
                attachment[field] = before[field]
            else:
                attachment.pop(field, None)
        attachment["updated_at"] = utcnow()
        return _replace(note, attachment)

    return change


def source_etag(source: str | None) -> str | None:
    """The ETag (quoted, as S3 answers it) of the upload a claim's `source` names by its
    ETag and size (the bucket keeps no versions); None for any other source."""
    etag, _, size = (source or "").rpartition(":")
    return f'"{etag}"' if etag and size.isdigit() else None


def adopt_original_etag(attachment_id: str, etag: str) -> Change:
    """Record `etag`, of the bytes an edit read from the key of an attachment processed
    before `original_etag` was recorded, as its `original_etag` when it is the ETag of the
    upload those results are of (the processing claim's `source`): later edits are then of
    those bytes only. Any other (a newer upload on the key) is not recorded."""

    def change(note: Document) -> Document:
        attachment = find_or_none(note, attachment_id)
        if attachment is None:
            return {}
        if attachment.get("original_etag") or attachment["status"] != "ready":
            return {}
        if source_etag(attachment.get("source")) != etag:
            return {}
        attachment["original_etag"] = etag
        return _replace(note, attachment)

    return change


STUCK = "The image could not be processed in time; upload it again"
STUCK_EDIT = "The edit could not be processed in time; ask for it again"
UNFINISHED = ("pending", "processing")


def stuck_processing(attachment: Document, cutoff: datetime) -> bool:
    """Whether the attachment's processing started before `cutoff` and never ended: every
    attempt at it was killed (timeout, memory) and no retry is coming any more."""
    since: datetime | None = attachment.get("processing_since")
    return attachment.get("status") == "processing" and since is not None and since < cutoff


def fail_stuck(cutoff: datetime) -> Change:
    """Fail, with a reason, the note's attachments stuck in `processing` since before `cutoff`.
    What is stuck is an upload newer than any results recorded (those of the same upload are
    never claimed again), so, failed, it keeps none of them (`failed_upload`)."""

    def change(note: Document) -> Document:
        now = utcnow()
        attachments = [dict(a) for a in note.get("attachments") or []]
        stuck = [a for a in attachments if stuck_processing(a, cutoff)]
        for attachment in stuck:
            attachment.update(failed_upload(STUCK), claim=None, updated_at=now)
            attachment.update(processing_since=None, claimed_until=None)
        return {"attachments": attachments} if stuck else {}

    return change


def edit_waiting_since(edit: Document) -> datetime | None:
    """Since when an unfinished edit has waited in its state: asked for (`pending`, also after
    a failed attempt gave it back) or taken by a run (`processing`); None once it ended."""
    if edit.get("status") not in UNFINISHED:
        return None
    since: datetime | None = edit.get(
        "processing_since" if edit["status"] == "processing" else "created_at"
    )
    return since


def oldest_waiting_edit(note: Mapping[str, Any]) -> datetime | None:
    """The longest wait of the note's unfinished edits (`repositories.notes.derived_fields`
    stores it: the cleanup finds stuck edits in one index range)."""
    waits = [
        since
        for attachment in note.get("attachments") or []
        for edit in attachment.get("derived") or []
        if (since := edit_waiting_since(edit)) is not None
    ]
    return min(waits, default=None)


def fail_stuck_edits(cutoff: datetime) -> Change:
    """Fail, with a reason, the note's edits waiting since before `cutoff`: a request that
    never reached the image function (its S3 object was not written) or whose every attempt
    was killed. A client polling the attachment sees them end instead of waiting forever."""

    def change(note: Document) -> Document:
        now = utcnow()
        attachments = [dict(a) for a in note.get("attachments") or []]
        failed = 0
        for attachment in attachments:
            edits = [dict(e) for e in attachment.get("derived") or []]
            stuck = [e for e in edits if (since := edit_waiting_since(e)) and since < cutoff]
            for edit in stuck:
                edit.update(status="failed", error=STUCK_EDIT, claim=None)
                edit.update(processing_since=None, claimed_until=None)
            if stuck:
                attachment.update(derived=edits, updated_at=now)
                failed += len(stuck)
        return {"attachments": attachments} if failed else {}

    return change


def stale_pending(attachment: Document, cutoff: datetime) -> bool:
    """Whether the attachment is still `pending` (never uploaded, or its upload released
    after a failure) since before `cutoff`, as `repositories.notes.stale_pending_filter`.
    Pending since its creation, or since its last release (`pending_since`, which
    attachments stored before it existed do not have)."""
    created: datetime | None = attachment.get("created_at")
    if attachment.get("status") != "pending" or created is None or created >= cutoff:
        return False
    since: datetime | None = attachment.get("pending_since")
    return since is None or since < cutoff


def drop_stale_pending(cutoff: datetime, dropped: list[Document]) -> Change:
    """Remove the note's attachments pending since before `cutoff`; `dropped` holds those the
    last call removed, i.e. those of the write applied (an upload finishing meanwhile stays)."""

    def change(note: Document) -> Document:
        attachments = note.get("attachments") or []
        dropped[:] = [a for a in attachments if stale_pending(a, cutoff)]
        kept = [a for a in attachments if not stale_pending(a, cutoff)]
        return {"attachments": kept} if dropped else {}

    return change


def _update_derived(
    attachment_id: str, derived_id: str, update: Callable[[Document], bool]
) -> Change:
    def change(note: Document) -> Document:
        attachment = find_or_none(note, attachment_id)
        if attachment is None:
            return {}
        derived = [dict(d) for d in attachment.get("derived") or []]
        for item in derived:
            if item["id"] == derived_id and update(item):
                attachment["derived"] = derived
                attachment["updated_at"] = utcnow()
                return _replace(note, attachment)
        return {}

    return change


def claim_edit(
    attachment_id: str, derived_id: str, token: str, deadline: datetime | None = None
) -> Change:
    def update(item: Document) -> bool:
        if not _claimable(item, derived_id, token, utcnow()):
            return False
        _claimed(item, derived_id, token, deadline)
        return True

    return _update_derived(attachment_id, derived_id, update)


def finish_edit(attachment_id: str, derived_id: str, token: str, result: Document) -> Change:
    def update(item: Document) -> bool:
        if item.get("claim") != token:
            return False
        item.update(result)
        item.update(processing_since=None, claimed_until=None)
        return True

    return _update_derived(attachment_id, derived_id, update)


def release_edit(attachment_id: str, derived_id: str, token: str) -> Change:
    return finish_edit(
        attachment_id, derived_id, token, {"status": "pending", "claim": None, "source": None}
    )


# --- what clients see ------------------------------------------------------------------------


class UrlFor(Protocol):
    """An S3 key to a short-lived download URL (None for None), served as `content_type`
    and named `filename` when given."""

    def __call__(
        self, key: str | None, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None: ...


def to_attachment(document: Document, url_for: UrlFor) -> Attachment:
    """The client's view; `url_for` turns an S3 key into a short-lived download URL."""
    derived = [
        DerivedImage.model_validate({**d, "url": url_for(d.get("key"))})
        for d in document.get("derived") or []
    ]
    attachment = Attachment.model_validate(
        {
            **document,
            "thumbnail_url": url_for(document.get("thumbnail_key")),
            "web_url": url_for(document.get("web_key")),
            "derived": derived,
        }
    )
    # Until the upload lands there is nothing to download. Served as the type processing
    # found and under the name the attachment shows.
    if document["status"] != "pending":
        attachment.original_url = url_for(
            document["key"], content_type=attachment.content_type, filename=attachment.filename
        )
    return attachment
