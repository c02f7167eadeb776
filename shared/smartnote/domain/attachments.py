"""What an attachment is inside its note, and how each write changes the note's list.

Attachments are embedded in the note document (`attachments`), so every change here is a
change function for `NotesRepository.update`: it reads the current note and returns the new
list, and the repository applies it against the version it read (retrying on a race) and
recomputes the search terms, which include each attachment's OCR text.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from smartnote.clock import utcnow
from smartnote.errors import Conflict, NotFound, ValidationFailed
from smartnote.models.attachments import Attachment, DerivedImage, Operation

Document = dict[str, Any]
Change = Callable[[Document], Document]

MAX_ATTACHMENTS_PER_NOTE = 50
MAX_DERIVED_PER_ATTACHMENT = 20
ORIGINAL = "original"  # the object name of every upload; the name a client sent is metadata
# A delivery that claimed the work this long ago without finishing is presumed dead.
STALE_CLAIM = timedelta(minutes=15)


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
        "error": None,
        "width": None,
        "height": None,
        "ocr_text": None,
        "ocr_confidence": None,
        "thumbnail_key": None,
        "web_key": None,
        "derived": [],
        "created_at": now,
        "updated_at": now,
    }


def find(note: Document, attachment_id: str) -> Document:
    for attachment in note.get("attachments") or []:
        if attachment["id"] == attachment_id:
            return dict(attachment)
    raise NotFound("Attachment not found")


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


def remove(attachment_id: str) -> Change:
    def change(note: Document) -> Document:
        find(note, attachment_id)  # 404 when absent
        return {"attachments": [a for a in note["attachments"] if a["id"] != attachment_id]}

    return change


def check_operations(attachment: Document, operations: list[Operation]) -> None:
    """422 for a crop that leaves the image, where its size is known (the processor re-checks)."""
    width, height = attachment.get("width"), attachment.get("height")
    for index, operation in enumerate(operations):
        if operation.op == "rotate" and operation.degrees % 180 and width and height:
            width, height = height, width
        elif operation.op == "crop" and width and height:
            if operation.x + operation.width > width or operation.y + operation.height > height:
                raise ValidationFailed(
                    "The crop rectangle leaves the image",
                    details=[
                        {
                            "loc": ["body", "operations", index],
                            "msg": f"the image is {width}x{height} at this step",
                            "type": "crop_out_of_bounds",
                        }
                    ],
                )
            width, height = operation.width, operation.height
        elif operation.op == "resize":
            width, height = None, None  # the result depends on rounding; the processor knows


def add_edit(attachment_id: str, operations: list[Operation]) -> tuple[Change, Document]:
    """The change that queues an edit, and the derived record it adds."""
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
        if attachment["status"] != "ready":
            raise Conflict("The image is not processed yet; edit it once its status is ready")
        check_operations(attachment, operations)
        if len(attachment.get("derived") or []) >= MAX_DERIVED_PER_ATTACHMENT:
            raise Conflict(f"An image has at most {MAX_DERIVED_PER_ATTACHMENT} edited versions")
        attachment["derived"] = [*(attachment.get("derived") or []), derived]
        attachment["updated_at"] = utcnow()
        return _replace(note, attachment)

    return change, derived


# --- the processor's writes ------------------------------------------------------------------


def _claimable(item: Document, source: str, now: datetime) -> bool:
    """Whether this delivery of `source` should do the work (S3 delivers at least once)."""
    if item.get("source") != source:
        return True
    if item["status"] in ("ready", "failed"):
        return False  # done for this very object version: a duplicate delivery
    since = item.get("processing_since")
    return item["status"] != "processing" or since is None or now - since > STALE_CLAIM


def claim(attachment_id: str, source: str, token: str) -> Change:
    """Mark the attachment `processing` by this delivery (`token`) unless already done."""

    def change(note: Document) -> Document:
        try:
            attachment = find(note, attachment_id)
        except NotFound:
            return {}  # deleted meanwhile: nothing to do
        now = utcnow()
        if not _claimable(attachment, source, now):
            return {}
        attachment.update(
            status="processing", source=source, claim=token, processing_since=now, error=None
        )
        attachment["updated_at"] = now
        return _replace(note, attachment)

    return change


def finish(attachment_id: str, token: str, result: Document) -> Change:
    """Store the outcome of the delivery that holds the claim."""

    def change(note: Document) -> Document:
        try:
            attachment = find(note, attachment_id)
        except NotFound:
            return {}
        if attachment.get("claim") != token:
            return {}  # another delivery took over
        attachment.update(result)
        attachment["processing_since"] = None
        attachment["updated_at"] = utcnow()
        return _replace(note, attachment)

    return change


def release(attachment_id: str, token: str) -> Change:
    """Give the claim back after a real failure, so that Lambda's retry can do the work."""
    return finish(attachment_id, token, {"status": "pending", "claim": None, "source": None})


def _update_derived(
    attachment_id: str, derived_id: str, update: Callable[[Document], bool]
) -> Change:
    def change(note: Document) -> Document:
        try:
            attachment = find(note, attachment_id)
        except NotFound:
            return {}
        derived = [dict(d) for d in attachment.get("derived") or []]
        for item in derived:
            if item["id"] == derived_id and update(item):
                attachment["derived"] = derived
                attachment["updated_at"] = utcnow()
                return _replace(note, attachment)
        return {}

    return change


def claim_edit(attachment_id: str, derived_id: str, token: str) -> Change:
    def update(item: Document) -> bool:
        now = utcnow()
        if not _claimable(item, derived_id, now):
            return False
        item.update(
            status="processing", source=derived_id, claim=token, processing_since=now, error=None
        )
        return True

    return _update_derived(attachment_id, derived_id, update)


def finish_edit(attachment_id: str, derived_id: str, token: str, result: Document) -> Change:
    def update(item: Document) -> bool:
        if item.get("claim") != token:
            return False
        item.update(result)
        item["processing_since"] = None
        return True

    return _update_derived(attachment_id, derived_id, update)


def release_edit(attachment_id: str, derived_id: str, token: str) -> Change:
    return finish_edit(
        attachment_id, derived_id, token, {"status": "pending", "claim": None, "source": None}
    )


# --- what clients see ------------------------------------------------------------------------

UrlFor = Callable[[str | None], str | None]


def to_attachment(document: Document, url_for: UrlFor) -> Attachment:
    """The client's view; `url_for` turns an S3 key into a short-lived download URL."""
    derived = [
        DerivedImage.model_validate({**d, "url": url_for(d.get("key"))})
        for d in document.get("derived") or []
    ]
    return Attachment.model_validate(
        {
            **document,
            # Until the upload lands there is nothing to download.
            "original_url": None if document["status"] == "pending" else url_for(document["key"]),
            "thumbnail_url": url_for(document.get("thumbnail_key")),
            "web_url": url_for(document.get("web_key")),
            "derived": derived,
        }
    )
