"""`/notes` and `/tags`: the caller's notes, with search, paging, trash and concurrency control."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from smartnote import storage
from smartnote.cursors import MAX_CURSOR_LENGTH
from smartnote.deps import PageLimit, S3Client, S3HasTime, SettingsDep, WritePrecondition
from smartnote.deps.mongo import Notes
from smartnote.deps.sql import CurrentPrincipal
from smartnote.domain import notes as domain
from smartnote.etags import etag, matches_none
from smartnote.models.common import KEPT_CHANGING, Page, Timestamp, error_responses
from smartnote.models.notes import (
    MAX_TAG_FILTERS,
    Note,
    NoteCreate,
    NotePatch,
    SortKey,
    TagCount,
    TagFilter,
)
from smartnote.repositories.notes import NoteQuery

router = APIRouter(tags=["notes"])

NOT_FOUND = error_responses((404, "No such note (or not yours)"))
STALE = error_responses((412, "If-Match names no current version of the note"))
BUSY = error_responses((409, KEPT_CHANGING.capitalize()))
EDIT_REFUSED = error_responses(
    (409, f"The note is in the trash (restore it first), or {KEPT_CHANGING}")
)
# How far back from the newest `updated_at` it saw a sync must ask again. A write is stamped
# just before it commits, so a write stamped earlier can commit after one stamped later, by
# as long as a write can take: a request's writes end with its function (15 s timeout,
# template.yaml), the scheduled and image functions stamp each write right before its one
# database operation. Four times the request timeout, with room for two containers' clocks.
SYNC_OVERLAP = timedelta(seconds=60)
UPDATED_SINCE = (
    "Notes changed at or after this time, trashed and archived ones included (for sync). A"
    " write is stamped just before it commits, so one stamped earlier can commit after one"
    " stamped later: as the next `updated_since`, keep the newest `updated_at` seen minus"
    f" {SYNC_OVERLAP.seconds} s (longer than any write takes), and skip notes seen again"
    " with an `id` and `version` you already have. Notes deleted for good are not listed."
)


def _with_etag(response: Response, note: Note) -> Note:
    response.headers["ETag"] = etag(note.version)
    return note


@router.post(
    "/notes",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses((413, "Body too large")),
)
async def create_note(
    body: NoteCreate,
    principal: CurrentPrincipal,
    notes: Notes,
    request: Request,
    response: Response,
) -> Note:
    """Create a note; answers with `Location` and `ETag`."""
    note = domain.to_note(await notes.create(principal.user.id, domain.new_note_fields(body)))
    # A path, not a URL: right behind any host, scheme and stage prefix.
    response.headers["Location"] = request.url_for("get_note", note_id=note.id).path
    return _with_etag(response, note)


@router.get("/notes")
async def list_notes(
    principal: CurrentPrincipal,
    notes: Notes,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words in title, content, tags and attachment text (empty: no filter)",
        ),
    ] = None,
    tag: Annotated[
        TagFilter | None,
        Query(
            description=f"Repeatable; all must match (at most {MAX_TAG_FILTERS} distinct tags,"
            " each as stored: trimmed, lower-cased, NFC)"
        ),
    ] = None,
    pinned: bool | None = None,
    archived: Annotated[
        bool | None,
        Query(
            description="Default false; with `trashed=true` or `updated_since`, archived and"
            " unarchived notes alike (the trash shows every note that cleanup will purge)"
        ),
    ] = None,
    trashed: Annotated[bool | None, Query(description="Default false")] = None,
    updated_since: Annotated[Timestamp | None, Query(description=UPDATED_SINCE)] = None,
    sort: Annotated[
        SortKey,
        Query(
            description="`updated_at` (default) and `created_at`: newest first, pinned notes"
            " first; `title`: A to Z ignoring case, pinned or not (ties by id)"
        ),
    ] = "updated_at",
    limit: PageLimit = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="`next_cursor` of the previous page, by the same user with the same"
            " filters and sort, else 422 (the same as read: tags in any order or case, `q`'s"
            " words in any order, case or accents, defaults sent or not, `updated_since` at any"
            " offset). Pages are read after the cursor's sort key: a note changed (by"
            " `updated_at`), renamed (by `title`) or pinned meanwhile moves, and may be missed"
            " or met again; `updated_since` sees every change.",
        ),
    ] = None,
) -> Page[Note]:
    """The caller's notes, pinned first (except by title), a page at a time."""
    query = NoteQuery(
        q=q,
        tags=tag or [],
        pinned=pinned,
        archived=archived,
        trashed=trashed,
        updated_since=updated_since,
        sort=sort,
    )
    found, next_cursor = await notes.page(principal.user.id, query, limit, cursor)
    return Page[Note](items=[domain.to_note(d) for d in found], next_cursor=next_cursor)


@router.get(
    "/notes/{note_id}",
    response_model=Note,
    responses={**NOT_FOUND, 304: {"description": "Not modified"}},
)
async def get_note(
    note_id: str,
    principal: CurrentPrincipal,
    notes: Notes,
    response: Response,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Note | Response:
    """One note, with its `ETag`; `If-None-Match` with the current one answers 304."""
    note = domain.to_note(await notes.get(principal.user.id, note_id))
    if matches_none(if_none_match, note.version):
        return Response(
            status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag(note.version)}
        )
    return _with_etag(response, note)


@router.patch("/notes/{note_id}", responses={**NOT_FOUND, **STALE, **EDIT_REFUSED})
async def patch_note(
    note_id: str,
    body: NotePatch,
    principal: CurrentPrincipal,
    notes: Notes,
    response: Response,
    condition: WritePrecondition,
) -> Note:
    """Change some fields; unknown fields are refused (422). Inside `reminder` too only the
    fields sent change: `{"reminder": {"at": ...}}` moves a reminder and keeps its repeat."""
    saved = await notes.update(principal.user.id, note_id, domain.patch(body), condition)
    return _with_etag(response, domain.to_note(saved))


@router.put("/notes/{note_id}", responses={**NOT_FOUND, **STALE, **EDIT_REFUSED})
async def replace_note(
    note_id: str,
    body: NoteCreate,
    principal: CurrentPrincipal,
    notes: Notes,
    response: Response,
    condition: WritePrecondition,
) -> Note:
    """Replace every editable field (fields not sent get their defaults)."""
    saved = await notes.update(principal.user.id, note_id, domain.replace(body), condition)
    return _with_etag(response, domain.to_note(saved))


@router.delete(
    "/notes/{note_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **STALE, **BUSY},
)
async def delete_note(
    note_id: str,
    principal: CurrentPrincipal,
    notes: Notes,
    s3: S3Client,
    has_time: S3HasTime,
    settings: SettingsDep,
    condition: WritePrecondition,
    permanent: Annotated[
        bool, Query(description="Delete now, with its attachments, instead of trashing it")
    ] = False,
) -> Response:
    """Move the note to the trash, or delete it and its attachments with `?permanent=true`."""
    if permanent:
        owner_id = principal.user.id
        # The note before its objects, as for one attachment (routes/attachments.py).
        prefixes = storage.note_prefixes(owner_id, note_id)
        bucket = settings.uploads_bucket
        async with storage.objects_deleted_even_if_gone(s3, bucket, prefixes, has_time):
            await notes.delete(owner_id, note_id, condition)
    else:
        await notes.update(principal.user.id, note_id, domain.trash, condition)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/notes/{note_id}/restore", responses={**NOT_FOUND, **STALE, **BUSY})
async def restore_note(
    note_id: str,
    principal: CurrentPrincipal,
    notes: Notes,
    response: Response,
    condition: WritePrecondition,
) -> Note:
    """Take the note out of the trash."""
    saved = await notes.update(principal.user.id, note_id, domain.restore, condition)
    return _with_etag(response, domain.to_note(saved))


@router.get("/tags")
async def list_tags(principal: CurrentPrincipal, notes: Notes) -> list[TagCount]:
    """The tags of the caller's live (not trashed) notes with how many notes carry each,
    most used first, then by name."""
    return [TagCount(**row) for row in await notes.tag_counts(principal.user.id)]
