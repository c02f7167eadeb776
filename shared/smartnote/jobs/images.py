"""The image function's work: S3 event in, attachment results out.

For each `ObjectCreated` record under uploads/: an original upload is checked, thumbnailed,
copied for the web and read (OCR); an edit request (`.../edits/{id}.json`) renders a derived
image. Bad input ends as `status: "failed"` with a reason and never raises; a real failure
(S3 or MongoDB unavailable) raises, so Lambda retries the event and, after its retries,
hands it to the on-failure destination. S3 delivers at least once: each delivery first claims
the work for its object version (`domain.claim`), so a duplicate does nothing. A claim names
the invocation (its request id, which Lambda keeps on its retries) and ends with the
invocation's deadline: an attempt killed mid-work (timeout, memory) is taken over by its
retry at once, and by any other delivery once its deadline is past.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from pydantic import ValidationError

from smartnote import storage
from smartnote.domain import attachments as domain
from smartnote.errors import NotFound
from smartnote.images import pipeline, transform
from smartnote.invocation import Invocation
from smartnote.models.attachments import MAX_UPLOAD_BYTES, EditRequest
from smartnote.repositories.notes import NotesRepository

logger = logging.getLogger("smartnote.jobs.images")

Document = dict[str, Any]
THUMBNAIL = "thumbnail.jpg"
WEB = "web.jpg"


@dataclass(frozen=True)
class S3Object:
    """One record of an S3 event: which object, and which version of it."""

    bucket: str
    key: str
    size: int
    version: str  # the version id, else eTag:size (unversioned buckets)

    @classmethod
    def from_record(cls, record: Document) -> S3Object:
        s3 = record["s3"]
        obj = s3["object"]
        version = obj.get("versionId") or f"{obj.get('eTag', '')}:{obj.get('size', 0)}"
        # Keys arrive URL-encoded with '+' for spaces.
        return cls(s3["bucket"]["name"], unquote_plus(obj["key"]), int(obj.get("size", 0)), version)


def created_objects(event: Document) -> list[S3Object]:
    """The created objects an S3 event names (none for S3's test event)."""
    if event.get("Event") == "s3:TestEvent":
        return []
    return [
        S3Object.from_record(record)
        for record in event.get("Records") or []
        if record.get("eventSource") == "aws:s3"
        and str(record.get("eventName", "")).startswith("ObjectCreated")
    ]


class ImageJob:
    """Processes uploads and edit requests of the uploads bucket."""

    def __init__(self, notes: NotesRepository, s3: Any, languages: str = "eng") -> None:
        self._notes = notes
        self._s3 = s3
        self._languages = languages

    async def handle(self, event: Document, invocation: Invocation | None = None) -> list[Document]:
        """Process every record; returns one outcome per record (for logs and tests)."""
        invocation = invocation or Invocation.of(None)
        outcomes = []
        for obj in created_objects(event):
            outcome = await self._handle_object(obj, invocation)
            logger.info("s3://%s/%s: %s", obj.bucket, obj.key, outcome)
            outcomes.append({"key": obj.key, "outcome": outcome})
        return outcomes

    async def _handle_object(self, obj: S3Object, invocation: Invocation) -> str:
        parsed = storage.parse_upload_key(obj.key)
        if parsed is None:
            return "ignored (not an upload key)"
        if parsed.edit_id is not None:
            return await self._edit(obj, parsed, parsed.edit_id, invocation)
        if parsed.name == domain.ORIGINAL:
            return await self._original(obj, parsed, invocation)
        return "ignored (unknown object)"

    async def _update(self, parsed: storage.UploadKey, change: domain.Change) -> Document | None:
        try:
            return await self._notes.update(parsed.owner_id, parsed.note_id, change)
        except NotFound:
            return None  # the note is gone: so is the work

    def _read(self, bucket: str, key: str) -> bytes | None:
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        # Never more than the limit + 1 byte in memory, whatever the object's size.
        return bytes(response["Body"].read(MAX_UPLOAD_BYTES + 1))

    async def _original(
        self, obj: S3Object, parsed: storage.UploadKey, invocation: Invocation
    ) -> str:
        token = invocation.request_id
        claim = domain.claim(parsed.attachment_id, obj.version, token, invocation.deadline)
        note = await self._update(parsed, claim)
        attachment = _find(note, parsed.attachment_id)
        if attachment is None:
            # Deleted (or never recorded): an upload that belongs to nothing is not kept, nor
            # what an earlier run of it, interrupted before `finish`, wrote after the deletion.
            self._discard(obj.bucket, [obj.key, *_original_outputs(parsed)])
            return "skipped (no such attachment)"
        if attachment.get("claim") != token:
            return "skipped (already processed or in progress)"
        try:
            result = self._process_original(obj, parsed)
        except BaseException:
            await self._update(parsed, domain.release(parsed.attachment_id, token))
            raise
        saved = await self._update(parsed, domain.finish(parsed.attachment_id, token, result))
        if _find(saved, parsed.attachment_id) is None:
            # Deleted while we worked. A deletion removes the record before the objects
            # (routes), so ours may have been written after its objects were deleted.
            self._discard(obj.bucket, [obj.key, *_original_outputs(parsed)])
            return "discarded (attachment deleted meanwhile)"
        return str(result["status"]) + (f": {result['error']}" if result.get("error") else "")

    def _process_original(self, obj: S3Object, parsed: storage.UploadKey) -> Document:
        if obj.size > MAX_UPLOAD_BYTES:  # known from the event: no need to download it
            limit = MAX_UPLOAD_BYTES // (1024 * 1024)
            return _failed_original(f"The file is larger than {limit} MB")
        data = self._read(obj.bucket, obj.key)
        if data is None:
            return _failed_original("The upload is gone")
        try:
            processed = pipeline.process(data, self._languages)
        except pipeline.ImageRejected as exc:
            return _failed_original(exc.reason, size=len(data))
        except Exception:  # a decoder bug on hostile input must not loop retries
            logger.exception("processing %s failed", obj.key)
            return _failed_original("The image could not be processed", size=len(data))
        thumbnail_key = self._put(obj.bucket, parsed, THUMBNAIL, processed.thumbnail)
        web_key = self._put(obj.bucket, parsed, WEB, processed.web)
        return {
            "status": "ready",
            "error": None,
            "size": len(data),
            "content_type": processed.content_type,
            "width": processed.width,
            "height": processed.height,
            "ocr_text": processed.ocr_text,
            "ocr_confidence": processed.ocr_confidence,
            "thumbnail_key": thumbnail_key,
            "web_key": web_key,
        }

    def _discard(self, bucket: str, keys: list[str | None]) -> None:
        objects = [{"Key": key} for key in keys if key]
        if objects:
            self._s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})

    def _put(
        self,
        bucket: str,
        parsed: storage.UploadKey,
        name: str,
        data: bytes,
        content_type: str = "image/jpeg",
    ) -> str:
        key = storage.derived_key(parsed.owner_id, parsed.note_id, parsed.attachment_id, name)
        self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return key

    async def _edit(
        self, obj: S3Object, parsed: storage.UploadKey, edit_id: str, invocation: Invocation
    ) -> str:
        token = invocation.request_id
        claim = domain.claim_edit(parsed.attachment_id, edit_id, token, invocation.deadline)
        note = await self._update(parsed, claim)
        attachment = _find(note, parsed.attachment_id)
        derived = _find_derived(attachment, edit_id)
        if attachment is None or derived is None:
            self._discard(obj.bucket, [obj.key, *_edit_outputs(parsed, edit_id)])
            return "skipped (no such attachment or edit)"
        if derived.get("claim") != token:
            return "skipped (already processed or in progress)"
        try:
            result = self._render(obj, parsed, attachment, edit_id)
        except BaseException:
            await self._update(parsed, domain.release_edit(parsed.attachment_id, edit_id, token))
            raise
        saved = await self._update(
            parsed, domain.finish_edit(parsed.attachment_id, edit_id, token, result)
        )
        if _find_derived(_find(saved, parsed.attachment_id), edit_id) is None:
            self._discard(obj.bucket, [obj.key, *_edit_outputs(parsed, edit_id)])
            return "discarded (attachment or edit deleted meanwhile)"
        return str(result["status"]) + (f": {result['error']}" if result.get("error") else "")

    def _render(
        self, obj: S3Object, parsed: storage.UploadKey, attachment: Document, edit_id: str
    ) -> Document:
        raw = self._read(obj.bucket, obj.key)
        try:
            request = EditRequest.model_validate(json.loads(raw or b"null"))
        except (ValueError, ValidationError):
            return _failed("The edit request is invalid")
        original = self._read(obj.bucket, attachment["key"])
        if original is None:
            return _failed("The original image is gone")
        try:
            rendered = pipeline.apply_edits(original, request.operations)
        except pipeline.ImageRejected as exc:
            return _failed(exc.reason)
        except Exception:  # see _process_original
            logger.exception("edit %s failed", obj.key)
            return _failed("The edit could not be applied")
        key = self._put(
            obj.bucket,
            parsed,
            _edit_output(edit_id, rendered.format),
            rendered.data,
            rendered.content_type,
        )
        return {
            "status": "ready",
            "error": None,
            "key": key,
            "content_type": rendered.content_type,
            "width": rendered.width,
            "height": rendered.height,
        }


def _original_outputs(parsed: storage.UploadKey) -> list[str]:
    """Every object processing an original writes."""
    return [
        storage.derived_key(parsed.owner_id, parsed.note_id, parsed.attachment_id, name)
        for name in (THUMBNAIL, WEB)
    ]


def _edit_output(edit_id: str, fmt: str) -> str:
    return f"edits/{edit_id}.{fmt}"


def _edit_outputs(parsed: storage.UploadKey, edit_id: str) -> list[str]:
    """Every object rendering the edit may write (its format is the edit's to choose)."""
    return [
        storage.derived_key(
            parsed.owner_id, parsed.note_id, parsed.attachment_id, _edit_output(edit_id, fmt)
        )
        for fmt in transform.CONTENT_TYPES
    ]


def _failed(reason: str, **extra: Any) -> Document:
    return {"status": "failed", "error": reason, **extra}


def _failed_original(reason: str, **extra: Any) -> Document:
    """A failed original keeps nothing of an earlier upload's results (domain.NO_RESULTS)."""
    return _failed(reason, **domain.NO_RESULTS, **extra)


def _find(note: Document | None, attachment_id: str) -> Document | None:
    try:
        return None if note is None else domain.find(note, attachment_id)
    except NotFound:
        return None


def _find_derived(attachment: Document | None, derived_id: str) -> Document | None:
    for item in (attachment or {}).get("derived") or []:
        if item["id"] == derived_id:
            return dict(item)
    return None
