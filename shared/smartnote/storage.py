"""Where attachment objects live in S3, and deleting them by owner or note.

Layout (the image function is triggered on `uploads/` only):
    uploads/{owner_id}/{note_id}/{attachment_id}/{name}   what the API writes or lets write:
        original                                                  the upload (any client name)
        edits/{edit_id}.json                                      one edit's request
    derived/{owner_id}/{note_id}/{attachment_id}/{name}   what the image function makes:
        processed/{run}/thumbnail.jpg, processed/{run}/web.jpg   one run's, of one upload
        edits/{edit_id}.{format}                                  one edit's result
    (and thumbnail.jpg, web.jpg right under the attachment: written by versions before runs)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from smartnote.concurrency import run_blocking
from smartnote.errors import NotFound, unavailable_on

UPLOADS = "uploads"
DERIVED = "derived"
# S3 DeleteObjects takes at most 1000 keys, and its answer takes longer the more it deletes;
# a quarter of that keeps each call well within `aws.S3_CALLS`' 2 s to answer, so that a
# large deletion is not a timeout retried in vain (each request is billed alike).
_DELETE_BATCH = 250
# How precisely S3 times an object (LastModified): to the second, the fraction dropped.
LAST_MODIFIED_RESOLUTION = timedelta(seconds=1)
_OUR_PREFIX = re.compile(r"[A-Za-z0-9/-]+/")  # made of our ids: uuids, hex
ORIGINAL = "original"  # the object name of every upload; the name a client sent is metadata
PROCESSED = "processed"
THUMBNAIL = "thumbnail.jpg"
WEB = "web.jpg"
# The names written under an attachment (the layout above), by prefix, and nothing else: what
# a sweep of the objects no record points at may delete.
_OUR_NAMES = {
    UPLOADS: re.compile(rf"{ORIGINAL}|edits/[0-9a-f]+\.json"),
    DERIVED: re.compile(r"(?:processed/[0-9a-f]+/)?(?:thumbnail|web)\.jpg|edits/[0-9a-f]+\.[a-z]+"),
}


def upload_key(owner_id: str, note_id: str, attachment_id: str, name: str) -> str:
    return f"{UPLOADS}/{owner_id}/{note_id}/{attachment_id}/{name}"


def derived_key(owner_id: str, note_id: str, attachment_id: str, name: str) -> str:
    return f"{DERIVED}/{owner_id}/{note_id}/{attachment_id}/{name}"


def run_output_name(run: str, name: str) -> str:
    """The name of one processing run's output (THUMBNAIL or WEB) under its attachment."""
    return f"{PROCESSED}/{run}/{name}"


def edit_output_name(edit_id: str, fmt: str) -> str:
    """The name of an edit's result (`fmt`: its format, the file's extension)."""
    return f"edits/{edit_id}.{fmt}"


@dataclass(frozen=True)
class AttachmentObject:
    """An object of the layout above (an upload, an edit request, an image output), found by
    its key."""

    key: str
    owner_id: str
    note_id: str
    attachment_id: str
    last_modified: datetime  # as S3 gives it: to the second, truncated

    def written_before(self, moment: datetime) -> bool:
        """Whether the object was written before `moment` for certain: the whole second S3
        gives as its time (it may have been written at its end) is before `moment`."""
        return self.last_modified + LAST_MODIFIED_RESOLUTION <= moment


def attachment_object(key: str, last_modified: datetime) -> AttachmentObject | None:
    """`key` as an attachment's object (`uploads/` or `derived/`, then
    `{owner}/{note}/{attachment}/` and a name written there), or None for any other key."""
    parts = key.split("/", 4)
    if len(parts) != 5 or parts[0] not in _OUR_NAMES or not all(parts[1:]):
        return None
    if not _OUR_NAMES[parts[0]].fullmatch(parts[4]):
        return None
    return AttachmentObject(key, parts[1], parts[2], parts[3], last_modified)


@dataclass(frozen=True)
class ListedPage:
    """A page of a listing: its attachments' objects, and the last key it listed, of any
    layout (where the listing goes on; None when the page listed none)."""

    objects: list[AttachmentObject]
    last_key: str | None


def attachment_objects(
    s3: Any, bucket: str, top: str, start_after: str | None = None, page_size: int = 1000
) -> Iterator[ListedPage]:
    """Every attachment's object under `top` (UPLOADS or DERIVED), a listing's page at a
    time, in key order; only those after `start_after` when given (S3's `StartAfter`: any
    string, compared with the keys, which need not hold it)."""
    paginator = s3.get_paginator("list_objects_v2")
    start = {"StartAfter": start_after} if start_after else {}
    pages = paginator.paginate(
        Bucket=bucket, Prefix=f"{top}/", PaginationConfig={"PageSize": page_size}, **start
    )
    for page in pages:
        items = page.get("Contents", [])
        found = (attachment_object(item["Key"], item["LastModified"]) for item in items)
        objects = [found_object for found_object in found if found_object is not None]
        yield ListedPage(objects, items[-1]["Key"] if items else None)


def owner_prefixes(owner_id: str) -> list[str]:
    return [f"{UPLOADS}/{owner_id}/", f"{DERIVED}/{owner_id}/"]


def note_prefixes(owner_id: str, note_id: str) -> list[str]:
    return [f"{UPLOADS}/{owner_id}/{note_id}/", f"{DERIVED}/{owner_id}/{note_id}/"]


def attachment_prefixes(owner_id: str, note_id: str, attachment_id: str) -> list[str]:
    return [f"{prefix}{attachment_id}/" for prefix in note_prefixes(owner_id, note_id)]


class ObjectsNotDeleted(Exception):
    """S3 refused to delete some objects; the deletion must be retried, not reported done."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0]
        super().__init__(
            f"{len(errors)} object(s) not deleted, first {first.get('Key')}: {first.get('Code')}"
        )


unavailable_on(ObjectsNotDeleted)  # a 503: the same call, repeated, finishes the deletion


class DeletionUnfinished(Exception):
    """The request's time ran out before every object was deleted (many pages, a slow S3):
    what was deleted stays deleted, and the same call, repeated, goes on from there."""


unavailable_on(DeletionUnfinished)  # a 503, with Retry-After

HasTime = Callable[[], bool]
"""Whether one more S3 call still ends in time (before the invocation must answer)."""


def _unbounded() -> bool:
    return True


def delete_prefixes(
    s3: Any, bucket: str, prefixes: list[str], has_time: HasTime = _unbounded
) -> int:
    """Delete every object under `prefixes` (idempotent); returns how many were deleted.
    Each S3 call (a page of the listing, a batch of deletions) is made only if `has_time`,
    else DeletionUnfinished."""
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        pages = iter(paginator.paginate(Bucket=bucket, Prefix=prefix))
        while page := _next(pages, has_time):
            keys = [item["Key"] for item in page.get("Contents", [])]
            deleted += delete_keys(s3, bucket, keys, has_time)
    return deleted


def _next(pages: Iterator[dict[str, Any]], has_time: HasTime) -> dict[str, Any] | None:
    """The next page of a listing (one S3 call), None after the last."""
    _ensure(has_time)
    return next(pages, None)


def _ensure(has_time: HasTime) -> None:
    if not has_time():
        raise DeletionUnfinished("out of time before every object was deleted")


def delete_keys(s3: Any, bucket: str, keys: list[str], has_time: HasTime = _unbounded) -> int:
    """Delete the objects at `keys` (idempotent); returns how many keys; ObjectsNotDeleted when
    S3 refused any, DeletionUnfinished when not `has_time` for the next batch."""
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
        _ensure(has_time)
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):  # DeleteObjects succeeds even when some keys failed
            raise ObjectsNotDeleted(answer["Errors"])
    return len(keys)


@contextlib.asynccontextmanager
async def objects_deleted_even_if_gone(
    s3: Any, bucket: str, prefixes: list[str], has_time: HasTime = _unbounded
) -> AsyncIterator[None]:
    """Delete the objects under `prefixes` once the body has deleted the record they belong
    to, and also when it finds that record gone already (NotFound, re-raised: a 404). So the
    call a 503 asks to repeat (the record deleted, some objects not: ObjectsNotDeleted,
    DeletionUnfinished, an S3 error) finishes the deletion, where nothing else would.
    `prefixes` are the caller's own (its owner id): a 404 for someone else's note deletes
    nothing of theirs, and one for an id we never make (not letters, digits and dashes)
    reaches no S3 call at all."""
    try:
        yield
    except NotFound:
        if all(_OUR_PREFIX.fullmatch(prefix) for prefix in prefixes):
            await run_blocking(delete_prefixes, s3, bucket, prefixes, has_time)
        raise
    await run_blocking(delete_prefixes, s3, bucket, prefixes, has_time)


def edit_request_key(owner_id: str, note_id: str, attachment_id: str, edit_id: str) -> str:
    """An edit request: an object under uploads/, so S3 triggers the image function with it."""
    return upload_key(owner_id, note_id, attachment_id, f"edits/{edit_id}.json")


@dataclass(frozen=True)
class UploadKey:
    """The parts of a key under uploads/ (the image function gets nothing else)."""

    owner_id: str
    note_id: str
    attachment_id: str
    name: str

    @property
    def edit_id(self) -> str | None:
        """The edit id when this is an edit request, else None (an original upload)."""
        if self.name.startswith("edits/") and self.name.endswith(".json"):
            return self.name[len("edits/") : -len(".json")]
        return None


def parse_upload_key(key: str) -> UploadKey | None:
    """`uploads/{owner}/{note}/{attachment}/{name}` split up, or None for any other key."""
    parts = key.split("/", 4)
    if len(parts) != 5 or parts[0] != UPLOADS or not all(parts[1:]):
        return None
    return UploadKey(parts[1], parts[2], parts[3], parts[4])


def presigned_post(
    s3: Any, bucket: str, key: str, content_type: str, max_bytes: int, expires_in: int
) -> dict[str, Any]:
    """A browser-style POST upload whose policy pins the key, the type and the size."""
    conditions: list[Any] = [
        {"Content-Type": content_type},
        ["content-length-range", 1, max_bytes],
    ]
    # boto3 adds the bucket and the exact key to the conditions itself.
    post: dict[str, Any] = s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=conditions,
        ExpiresIn=expires_in,
    )
    return post


def presigned_get(
    s3: Any,
    bucket: str,
    key: str,
    expires_in: int,
    *,
    content_type: str | None = None,
    filename: str | None = None,
) -> str:
    """A short-lived GET of `key`. With `content_type`, S3 answers with it rather than the
    type stored with the object (an upload's, as its client declared it, which processing may
    have found wrong); with `filename`, a browser that saves the file names it so."""
    params: dict[str, str] = {"Bucket": bucket, "Key": key}
    if content_type:
        params["ResponseContentType"] = content_type
    if filename:
        params["ResponseContentDisposition"] = inline_disposition(filename)
    url: str = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
    return url


def inline_disposition(filename: str) -> str:
    """`Content-Disposition: inline` naming `filename` (RFC 6266): an ASCII fallback for old
    clients, and the exact name percent-encoded as UTF-8 (RFC 8187). The fallback has no
    quote or backslash (escaping is not implemented by some agents) and no percent sign
    (some decode `%22` into a quote): RFC 6266 appendix D."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in filename
    )
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
