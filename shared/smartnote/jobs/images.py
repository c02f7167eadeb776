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

The same key may be uploaded to again while its presigned POST lasts, and two runs of one
attachment may then overlap. So a run writes its thumbnail and web copy under keys of its own
claim (`original_outputs`: the object's version and the request id; a Lambda retry writes the
same ones again) and records them, with all the rest it found, in one conditional write that
only the claim's holder can make: the record shows one upload's results, whatever the
interleaving. S3's `sequencer` orders the uploads of one key, so the event of an earlier one
arriving late claims nothing. A run reads its upload with If-Match on the event's ETag: when
another upload replaced it since, the run gives its claim back as it found it and does nothing
(the replacing upload has its own event), never processes the newer bytes as the older upload.
The outputs no record points at are deleted: a run's own when another took its claim, the
previous upload's once a later one is recorded, and those of a claim taken over from a run
that died.

An edit is of the upload whose results the attachment showed when it was asked for: the run
records the ETag of the bytes it processed, the edit takes it over, and rendering reads the
key with If-Match on it. Another upload to the key before the edit runs makes it fail with a
reason (the bucket keeps no versions: those bytes are gone), never render the new bytes as an
edit of the old ones.

What a run swallows to keep the attachment's answer (a catch-all of the pipeline: a decoder or
library bug; an OCR failure: the image is `ready` without text) succeeds as far as Lambda
knows, so each invocation writes its counts of them as one metric record (`smartnote.metrics`),
each watched by an alarm in template.yaml: a deploy that broke OpenCV or Tesseract shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from pydantic import ValidationError

from smartnote import metrics, storage
from smartnote.domain import attachments as domain
from smartnote.errors import NotFound
from smartnote.images import pipeline, transform
from smartnote.invocation import Invocation
from smartnote.lambda_events import UnsupportedEvent, describe
from smartnote.models.attachments import MAX_UPLOAD_BYTES, EditRequest
from smartnote.repositories.notes import NotesRepository

logger = logging.getLogger("smartnote.jobs.images")

Document = dict[str, Any]
_RUN_DIGITS = 16
REPLACED = "The image was replaced by a new upload after this edit was asked for; ask again"
# An invocation's failures as metrics, each watched by an alarm in template.yaml.
PROCESSING_ERRORS_METRIC = "ImageProcessingErrors"
OCR_FAILURES_METRIC = "ImageOcrFailures"


@dataclass
class ImageCounts:
    """What an invocation swallowed: images and edits the pipeline failed on unexpectedly
    (not those it refused with a reason), and uploads it could not read the text of."""

    processing_errors: int = 0
    ocr_failures: int = 0


def failure_metrics(counts: ImageCounts) -> dict[str, int]:
    """What of an invocation's `counts` is written as metrics."""
    return {
        PROCESSING_ERRORS_METRIC: counts.processing_errors,
        OCR_FAILURES_METRIC: counts.ocr_failures,
    }


class Replaced(Exception):
    """The object at a key is no longer the upload asked for (S3 answered 412 to If-Match)."""


@dataclass(frozen=True)
class Fetched:
    """An object's bytes (at most the upload limit + 1) and the ETag of the object read."""

    data: bytes
    etag: str


@dataclass(frozen=True)
class S3Object:
    """One record of an S3 event: which object, and which version of it."""

    bucket: str
    key: str
    size: int
    version: str  # the version id, else eTag:size (unversioned buckets)
    sequencer: str | None = None  # orders the writes of one key (S3's hexadecimal string)
    etag: str | None = None  # of the object written, as GetObject gives it (quoted)

    @classmethod
    def from_record(cls, record: Document) -> S3Object:
        s3 = record["s3"]
        obj = s3["object"]
        version = obj.get("versionId") or f"{obj.get('eTag', '')}:{obj.get('size', 0)}"
        # Keys arrive URL-encoded with '+' for spaces.
        key, size = unquote_plus(obj["key"]), int(obj.get("size", 0))
        # Events give the ETag without its quotes; GetObject, and If-Match by RFC 9110, quoted.
        etag = str(obj.get("eTag") or "").strip('"')
        sequencer = obj.get("sequencer") or None
        return cls(
            s3["bucket"]["name"], key, size, version, sequencer, f'"{etag}"' if etag else None
        )


def created_objects(event: Any) -> list[S3Object]:
    """The created objects an S3 event names: none for S3's test event, nor for records of
    other S3 events. Anything else is `UnsupportedEvent`, raised before any work: a failure
    record replayed whole, say, must fail, not succeed with nothing done."""
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records") if isinstance(event, dict) else None
    s3_records = [
        r for r in records or [] if isinstance(r, dict) and r.get("eventSource") == "aws:s3"
    ]
    if not isinstance(records, list) or not s3_records:
        raise UnsupportedEvent(f"this function takes S3 event notifications; got {describe(event)}")
    try:
        return [
            S3Object.from_record(record)
            for record in s3_records
            if str(record.get("eventName", "")).startswith("ObjectCreated")
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnsupportedEvent(
            f"a malformed S3 event record ({type(exc).__name__}: {exc})"
        ) from None


class ImageJob:
    """Processes uploads and edit requests of the uploads bucket."""

    def __init__(self, notes: NotesRepository, s3: Any, languages: str = "eng") -> None:
        self._notes = notes
        self._s3 = s3
        self._languages = languages

    async def handle(
        self, objects: Sequence[S3Object], invocation: Invocation | None = None
    ) -> list[Document]:
        """Process the created `objects` of an event (`created_objects`); returns one outcome
        per object (for logs and tests). Its counts are written as one metric record, also
        when an object fails the invocation."""
        invocation = invocation or Invocation.of(None)
        outcomes = []
        counts = ImageCounts()
        try:
            for obj in objects:
                outcome = await self._handle_object(obj, invocation, counts)
                logger.info("s3://%s/%s: %s", obj.bucket, obj.key, outcome)
                outcomes.append({"key": obj.key, "outcome": outcome})
        finally:
            metrics.write_counts(failure_metrics(counts))
        return outcomes

    async def _handle_object(
        self, obj: S3Object, invocation: Invocation, counts: ImageCounts
    ) -> str:
        parsed = storage.parse_upload_key(obj.key)
        if parsed is None:
            return "ignored (not an upload key)"
        if parsed.edit_id is not None:
            return await self._edit(obj, parsed, parsed.edit_id, invocation, counts)
        if parsed.name == storage.ORIGINAL:
            return await self._original(obj, parsed, invocation, counts)
        return "ignored (unknown object)"

    async def _update(self, parsed: storage.UploadKey, change: domain.Change) -> Document | None:
        try:
            return await self._notes.update(parsed.owner_id, parsed.note_id, change)
        except NotFound:
            return None  # the note is gone: so is the work

    def _read(self, bucket: str, key: str, if_match: str | None = None) -> Fetched | None:
        """The object at `key`, None when there is none; with `if_match`, only if it is still
        the object of that ETag, else Replaced (one request: no other write slips between)."""
        try:
            response = self._s3.get_object(
                Bucket=bucket, Key=key, **({"IfMatch": if_match} if if_match else {})
            )
        except self._s3.exceptions.NoSuchKey:
            return None
        except self._s3.exceptions.ClientError as exc:
            if if_match and exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise Replaced(key) from exc
            raise
        # Never more than the limit + 1 byte in memory, whatever the object's size.
        data = bytes(response["Body"].read(MAX_UPLOAD_BYTES + 1))
        return Fetched(data, str(response["ETag"]))

    async def _original(
        self, obj: S3Object, parsed: storage.UploadKey, invocation: Invocation, counts: ImageCounts
    ) -> str:
        token = invocation.request_id
        ours = original_outputs(parsed, obj.version, token)
        displaced: list[Document] = []
        before: list[Document] = []
        claim = domain.claim(
            parsed.attachment_id,
            obj.version,
            token,
            invocation.deadline,
            sequencer=obj.sequencer,
            displaced=displaced,
            before=before,
        )
        note = await self._update(parsed, claim)
        attachment = _find(note, parsed.attachment_id)
        if attachment is None:
            # Deleted (or never recorded): an upload that belongs to nothing is not kept, nor
            # what an earlier run of it, interrupted before `finish`, wrote after the deletion.
            self._discard(obj.bucket, [obj.key, *ours])
            return "skipped (no such attachment)"
        if attachment.get("claim") != token:
            # What an earlier attempt of this invocation wrote, if any, is recorded by none.
            self._discard(obj.bucket, _unrecorded(ours, attachment))
            if domain.superseded(attachment, obj.sequencer):
                return "skipped (superseded by a newer upload)"
            return "skipped (already processed or in progress)"
        for taken in displaced:  # its run died (or finds its claim gone and cleans up itself)
            outputs = original_outputs(parsed, taken["source"] or "", taken["claim"])
            self._discard(obj.bucket, _unrecorded(outputs, attachment))
        try:
            result = self._process_original(obj, parsed, ours, counts)
        except Replaced:
            # Another upload to the key since this event: its own event does the work.
            for fields in before:  # none when an earlier attempt of ours finished already
                await self._update(parsed, domain.withdraw(parsed.attachment_id, token, fields))
            return "skipped (replaced by a newer upload)"
        except BaseException:
            await self._update(parsed, domain.release(parsed.attachment_id, token))
            raise
        saved = await self._update(parsed, domain.finish(parsed.attachment_id, token, result))
        return self._settle(obj, ours, attachment, _find(saved, parsed.attachment_id), result)

    def _settle(
        self,
        obj: S3Object,
        ours: list[str],
        claimed: Document,
        saved: Document | None,
        result: Document,
    ) -> str:
        """Delete what no record points at after `finish`: ours if it was not recorded, else
        the outputs recorded before (`claimed`: the attachment as our claim left it)."""
        if saved is None:
            # Deleted while we worked. A deletion removes the record before the objects
            # (routes), so ours may have been written after its objects were deleted.
            self._discard(obj.bucket, [obj.key, *ours])
            return "discarded (attachment deleted meanwhile)"
        if saved.get("claim") != claimed.get("claim"):  # another run took our claim
            self._discard(obj.bucket, _unrecorded(ours, saved))
            return "discarded (claimed by a newer upload meanwhile)"
        self._discard(obj.bucket, _unrecorded(_recorded_outputs(claimed), saved))
        return str(result["status"]) + (f": {result['error']}" if result.get("error") else "")

    def _process_original(
        self, obj: S3Object, parsed: storage.UploadKey, outputs: list[str], counts: ImageCounts
    ) -> Document:
        """Check, thumbnail, copy and read the upload; its thumbnail and web copy are written
        to `outputs` (in this order). What it swallows is added to `counts`. Replaced when
        the key holds another upload than the event's by now."""
        if obj.size > MAX_UPLOAD_BYTES:  # known from the event: no need to download it
            limit = MAX_UPLOAD_BYTES // (1024 * 1024)
            return _failed_original(f"The file is larger than {limit} MB")
        fetched = self._read(obj.bucket, obj.key, obj.etag)
        if fetched is None:
            return _failed_original("The upload is gone")
        data = fetched.data
        try:
            processed = pipeline.process(data, self._languages)
        except pipeline.ImageRejected as exc:
            return _failed_original(exc.reason, size=len(data))
        except Exception:  # a decoder bug on hostile input must not loop retries
            logger.exception("processing %s failed", obj.key)
            counts.processing_errors += 1
            return _failed_original("The image could not be processed", size=len(data))
        if processed.ocr_failed:  # logged by the pipeline; still `ready`, without text
            counts.ocr_failures += 1
        thumbnail_key, web_key = outputs
        self._put(obj.bucket, thumbnail_key, processed.thumbnail)
        self._put(obj.bucket, web_key, processed.web)
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
            "original_etag": fetched.etag,  # what edits of these results render
        }

    def _discard(self, bucket: str, keys: Sequence[str | None]) -> None:
        objects = [{"Key": key} for key in keys if key]
        if objects:
            self._s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})

    def _put(self, bucket: str, key: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    async def _edit(
        self,
        obj: S3Object,
        parsed: storage.UploadKey,
        edit_id: str,
        invocation: Invocation,
        counts: ImageCounts,
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
            result = self._render(obj, parsed, attachment, derived, counts)
        except BaseException:
            await self._update(parsed, domain.release_edit(parsed.attachment_id, edit_id, token))
            raise
        saved = await self._update(
            parsed, domain.finish_edit(parsed.attachment_id, edit_id, token, result)
        )
        if _find_derived(_find(saved, parsed.attachment_id), edit_id) is None:
            self._discard(obj.bucket, [obj.key, *_edit_outputs(parsed, edit_id)])
            return "discarded (attachment or edit deleted meanwhile)"
        if not derived.get("original_etag") and result.get("original_etag"):
            # Processed before ETags were recorded: what later edits are of, when verified.
            etag = result["original_etag"]
            await self._update(parsed, domain.adopt_original_etag(parsed.attachment_id, etag))
        return str(result["status"]) + (f": {result['error']}" if result.get("error") else "")

    def _render(
        self,
        obj: S3Object,
        parsed: storage.UploadKey,
        attachment: Document,
        derived: Document,
        counts: ImageCounts,
    ) -> Document:
        """The edit `derived` of the upload it was asked of: the bytes of the ETag it recorded
        (edits recorded before it was, none: the object at the key). The bucket keeps no
        versions, so once another upload replaced them the edit fails, and says so."""
        raw = self._read(obj.bucket, obj.key)
        try:
            request = EditRequest.model_validate(json.loads(raw.data if raw else b"null"))
        except (ValueError, ValidationError):
            return _failed("The edit request is invalid")
        try:
            original = self._read(obj.bucket, attachment["key"], derived.get("original_etag"))
        except Replaced:
            return _failed(REPLACED)
        if original is None:
            return _failed("The original image is gone")
        try:
            rendered = pipeline.apply_edits(original.data, request.operations)
        except pipeline.ImageRejected as exc:
            return _failed(exc.reason)
        except Exception:  # see _process_original
            logger.exception("edit %s failed", obj.key)
            counts.processing_errors += 1
            return _failed("The edit could not be applied")
        key = storage.derived_key(
            parsed.owner_id,
            parsed.note_id,
            parsed.attachment_id,
            storage.edit_output_name(derived["id"], rendered.format),
        )
        self._put(obj.bucket, key, rendered.data, rendered.content_type)
        return {
            "status": "ready",
            "error": None,
            "key": key,
            "content_type": rendered.content_type,
            "width": rendered.width,
            "height": rendered.height,
            "original_etag": original.etag,  # the bytes it is of
        }


def original_outputs(parsed: storage.UploadKey, source: str, token: str) -> list[str]:
    """The thumbnail and web copy keys of the claim of upload `source` (the object's version)
    by invocation `token`: no other claim writes them, so a run that loses its claim deletes
    them without touching another's, and Lambda's retry of the run overwrites them."""
    run = hashlib.sha256(f"{source}\n{token}".encode()).hexdigest()[:_RUN_DIGITS]
    return [
        storage.derived_key(
            parsed.owner_id,
            parsed.note_id,
            parsed.attachment_id,
            storage.run_output_name(run, name),
        )
        for name in (storage.THUMBNAIL, storage.WEB)
    ]


def _recorded_outputs(attachment: Document) -> list[str]:
    return [attachment.get("thumbnail_key") or "", attachment.get("web_key") or ""]


def _unrecorded(keys: list[str], attachment: Document) -> list[str]:
    """Those of `keys` that `attachment` does not point at."""
    recorded = set(_recorded_outputs(attachment))
    return [key for key in keys if key not in recorded]


def _edit_outputs(parsed: storage.UploadKey, edit_id: str) -> list[str]:
    """Every object rendering the edit may write (its format is the edit's to choose)."""
    return [
        storage.derived_key(
            parsed.owner_id,
            parsed.note_id,
            parsed.attachment_id,
            storage.edit_output_name(edit_id, fmt),
        )
        for fmt in transform.CONTENT_TYPES
    ]


def _failed(reason: str, **extra: Any) -> Document:
    return {"status": "failed", "error": reason, **extra}


def _failed_original(reason: str, **extra: Any) -> Document:
    """A failed original keeps nothing of an earlier upload's results (domain.failed_upload)."""
    return {**domain.failed_upload(reason), **extra}


def _find(note: Document | None, attachment_id: str) -> Document | None:
    return None if note is None else domain.find_or_none(note, attachment_id)


def _find_derived(attachment: Document | None, derived_id: str) -> Document | None:
    for item in (attachment or {}).get("derived") or []:
        if item["id"] == derived_id:
            return dict(item)
    return None
