"""`/notes/{id}/attachments`: image uploads (presigned S3 POST or multipart), their
processing results with short-lived download URLs, edits, and deletion.

Processing happens elsewhere (the image function, triggered by S3); nothing here decodes an
image, so this function stays light (no OpenCV, no numpy).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, Response, UploadFile, status

from smartnote import filetypes, storage
from smartnote.concurrency import run_blocking
from smartnote.config import Settings
from smartnote.deps import S3Client, S3HasTime, SettingsDep, WritePrecondition
from smartnote.deps.mongo import Notes
from smartnote.deps.sql import CurrentPrincipal
from smartnote.domain import attachments as domain
from smartnote.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from smartnote.etags import Precondition
from smartnote.models.attachments import (
    ACCEPTED_CONTENT_TYPES,
    MAX_MULTIPART_BYTES,
    MAX_UPLOAD_BYTES,
    Attachment,
    AttachmentCreate,
    AttachmentCreated,
    DerivedImage,
    EditAccepted,
    EditRequest,
    UploadTicket,
    canonical_content_type,
    upload_filename,
)
from smartnote.models.common import KEPT_CHANGING, error_responses

logger = logging.getLogger("smartnote.routes.attachments")
router = APIRouter(prefix="/notes/{note_id}/attachments", tags=["attachments"])

NOT_FOUND = error_responses((404, "No such note or attachment (or not yours)"))
# Each write of an attachment is a new version of its note: If-Match takes the note's ETag.
STALE = error_responses((412, "If-Match names no current version of the note"))
REFUSED = error_responses(
    (409, f"The note is in the trash or has too many attachments, or {KEPT_CHANGING}"),
    (413, "Larger than allowed"),
    (415, "Not an accepted image type"),
)
# The created attachment's path (`_located`), declared on the 201.
LOCATED: dict[int | str, dict[str, Any]] = {
    201: {
        "headers": {
            "Location": {
                "description": "The path of the new attachment",
                "schema": {"type": "string"},
            }
        }
    }
}
IN_TRASH = error_responses(
    (409, f"The note is in the trash (restore it first), or {KEPT_CHANGING}")
)
_READ_CHUNK = 1024 * 1024


def _url_for(s3: Any, settings: Settings) -> domain.UrlFor:
    def url_for(
        key: str | None, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        if not key:
            return None
        return storage.presigned_get(
            s3,
            settings.uploads_bucket,
            key,
            settings.download_url_ttl_seconds,
            content_type=content_type,
            filename=filename,
        )

    return url_for


@contextlib.asynccontextmanager
async def _undone_if_failed(
    notes: Notes, owner_id: str, note_id: str, undo: domain.Change
) -> AsyncIterator[None]:
    """Apply `undo` to the note when the body fails (the S3 write of what a record announces),
    then let the failure through: the client is told to retry and finds no record of the
    attempt. Should S3 have taken the write after all, the image function finds no record
    and discards it (jobs/images.py)."""
    try:
        yield
    except Exception:
        try:
            await notes.update(owner_id, note_id, undo)
        except NotFound:
            pass  # the note is gone, and the record with it
        except Exception:  # the failure to report is the first one; the cleanup ends the rest
            logger.exception("could not undo a record of note %s", note_id)
        raise


def _located(response: Response, request: Request, note_id: str, attachment_id: str) -> None:
    """`Location` of a created attachment: a path, right behind any host and stage prefix."""
    path = request.url_for("get_attachment", note_id=note_id, attachment_id=attachment_id).path
    response.headers["Location"] = path


async def _create(
    notes: Notes,
    owner_id: str,
    note_id: str,
    upload: tuple[str, str, int],
    condition: Precondition | None,
) -> dict[str, Any]:
    """Record a pending attachment of `upload` (filename, content type, size) if the note
    meets `condition`; it must exist before its upload can trigger processing."""
    attachment_id = domain.new_attachment_id()
    key = storage.upload_key(owner_id, note_id, attachment_id, storage.ORIGINAL)
    document = domain.new_attachment(attachment_id, key, *upload)
    await notes.update(owner_id, note_id, domain.add(document), condition)
    return document


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={**LOCATED, **NOT_FOUND, **STALE, **REFUSED},
)
async def create_attachment(
    note_id: str,
    body: AttachmentCreate,
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    settings: SettingsDep,
    request: Request,
    response: Response,
    condition: WritePrecondition,
) -> AttachmentCreated:
    """Announce an upload; answers with a presigned S3 POST that enforces its type and size,
    and the attachment's path in `Location`.

    POST `upload.fields` and then the `file` part as multipart/form-data to `upload.url`.
    Processing starts when the upload lands; poll the attachment for its `status`.
    """
    content_type = canonical_content_type(body.content_type)
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaType("Accepted: " + ", ".join(ACCEPTED_CONTENT_TYPES))
    if body.size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"An image has at most {MAX_UPLOAD_BYTES} bytes")
    upload = (body.filename, content_type, body.size)
    document = await _create(notes, principal.user.id, note_id, upload, condition)
    post = storage.presigned_post(
        s3,
        settings.uploads_bucket,
        document["key"],
        content_type,
        body.size,
        settings.upload_url_ttl_seconds,
    )
    _located(response, request, note_id, document["id"])
    return AttachmentCreated(
        attachment=domain.to_attachment(document, _url_for(s3, settings)),
        upload=UploadTicket(
            url=post["url"], fields=post["fields"], expires_in=settings.upload_url_ttl_seconds
        ),
    )


async def _read_limited(file: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := await file.read(_READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"A direct upload has at most {limit} bytes; use the S3 upload")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    responses={**LOCATED, **NOT_FOUND, **STALE, **REFUSED},
)
async def upload_attachment(
    note_id: str,
    file: Annotated[
        UploadFile,
        File(
            description="A JPEG, PNG, WebP, TIFF or BMP, at most 4 MiB (what fits in one Lambda"
            " invocation once API Gateway has base64-encoded it; larger: the presigned POST)"
        ),
    ],
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    settings: SettingsDep,
    request: Request,
    response: Response,
    condition: WritePrecondition,
) -> Attachment:
    """Upload an image through the API (for clients that cannot reach S3, e.g. Swagger UI);
    answers with the attachment's path in `Location`."""
    data = await _read_limited(file, MAX_MULTIPART_BYTES)
    fmt = filetypes.sniff_format(data)
    if fmt not in filetypes.ACCEPTED_FORMATS:
        raise UnsupportedMediaType(
            "The file is not a JPEG, PNG, WebP, TIFF or BMP image (judged by its content)"
        )
    content_type = filetypes.MIME_TYPES[fmt]
    filename = upload_filename(file.filename)
    owner_id = principal.user.id
    upload = (filename, content_type, len(data))
    document = await _create(notes, owner_id, note_id, upload, condition)
    async with _undone_if_failed(notes, owner_id, note_id, domain.forget(document["id"])):
        await run_blocking(
            s3.put_object,
            Bucket=settings.uploads_bucket,
            Key=document["key"],
            Body=data,
            ContentType=content_type,
        )
    _located(response, request, note_id, document["id"])
    return domain.to_attachment(document, _url_for(s3, settings))


@router.get("", responses=NOT_FOUND)
async def list_attachments(
    note_id: str, principal: CurrentPrincipal, notes: Notes, s3: S3Client, settings: SettingsDep
) -> list[Attachment]:
    """The note's attachments with their processing status and download URLs."""
    note = await notes.get(principal.user.id, note_id)
    url_for = _url_for(s3, settings)
    return [domain.to_attachment(a, url_for) for a in note.get("attachments") or []]


@router.get("/{attachment_id}", responses=NOT_FOUND)
async def get_attachment(
    note_id: str,
    attachment_id: str,
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    settings: SettingsDep,
) -> Attachment:
    """One attachment: status (`failed` carries a reason in `error`), OCR text, size, URLs."""
    note = await notes.get(principal.user.id, note_id)
    return domain.to_attachment(domain.find(note, attachment_id), _url_for(s3, settings))


@router.post(
    "/{attachment_id}/edits",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **NOT_FOUND,
        **STALE,
        **error_responses(
            (409, f"Not processed yet, in the trash, or too many edits, or {KEPT_CHANGING}")
        ),
    },
)
async def edit_attachment(
    note_id: str,
    attachment_id: str,
    body: EditRequest,
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    settings: SettingsDep,
    condition: WritePrecondition,
) -> EditAccepted:
    """Queue edits (applied in order to the original); the result becomes a derived image.

    The edit is of the upload the attachment shows now. If another upload to its key replaces
    it before the edit is rendered, the derived image ends `failed` with a reason, never
    rendered from the new upload: ask again once that one is `ready`.
    """
    owner_id = principal.user.id
    change, derived = domain.add_edit(attachment_id, body.operations)
    await notes.update(owner_id, note_id, change, condition)
    # The request object under uploads/ triggers the image function, on AWS and locally alike.
    request = {"operations": derived["operations"]}
    undo = domain.forget_edit(attachment_id, derived["id"])
    async with _undone_if_failed(notes, owner_id, note_id, undo):
        await run_blocking(
            s3.put_object,
            Bucket=settings.uploads_bucket,
            Key=storage.edit_request_key(owner_id, note_id, attachment_id, derived["id"]),
            Body=json.dumps(request).encode(),
            ContentType="application/json",
        )
    return EditAccepted(attachment_id=attachment_id, derived=DerivedImage.model_validate(derived))


@router.delete(
    "/{attachment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **STALE, **IN_TRASH},
)
async def delete_attachment(
    note_id: str,
    attachment_id: str,
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    has_time: S3HasTime,
    settings: SettingsDep,
    condition: WritePrecondition,
) -> Response:
    """Delete the attachment and all its S3 objects (original, thumbnail, copies, edits); the
    trash keeps a note as it was, so restore it first. If-Match takes the note's ETag; an
    attachment gone already is a 404 whatever it says (the repeat after a 503 finishes)."""
    owner_id = principal.user.id
    # The record first, its objects after: an image run that writes an output after the
    # objects are gone finds the record gone too when it finishes, and deletes the output
    # itself (jobs/images.py), so no interleaving leaves an object behind.
    prefixes = storage.attachment_prefixes(owner_id, note_id, attachment_id)
    bucket = settings.uploads_bucket
    async with storage.objects_deleted_even_if_gone(s3, bucket, prefixes, has_time):
        # The condition inside the change: a 404 for the attachment gone comes before it.
        await notes.update(owner_id, note_id, domain.remove(attachment_id, condition))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
