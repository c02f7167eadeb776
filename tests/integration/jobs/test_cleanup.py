"""The cleanup function, fed real scheduled events, over SecantusDB, SQL and moto S3."""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.collection import Collection
from sqlalchemy import select

from smartnote import aws as aws_clients
from smartnote import metrics, storage
from smartnote.clock import utcnow
from smartnote.config import Settings, get_settings
from smartnote.db import tables
from smartnote.db.sql import session_factory
from smartnote.domain import attachments
from smartnote.jobs import cleanup as cleanup_job
from smartnote.local.containers import FunctionRuntime
from smartnote.local.services import AwsService
from smartnote.local.template import Template
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.notes import DERIVED_VERSION
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.write_limits import WriteLimiter
from tests.conftest import ApiUser
from tests.integration.jobs.conftest import ScheduledFunction, scheduled_event
from tests.utils.aws_faults import aws_answer_lost, aws_answered, aws_answering, aws_silent
from tests.utils.emf import emf_records, metric_names, record_of
from tests.utils.images import encode, text_strip
from tests.utils.notes_api import put_back

Notes = Collection[dict[str, Any]]
RETENTION = timedelta(days=30)


def create_note(api: httpx.Client, user: ApiUser, title: str = "n") -> str:
    response = api.post("/notes", json={"title": title}, headers=user.headers)
    assert response.status_code == 201, response.text
    note_id: str = response.json()["id"]
    return note_id


def trash(api: httpx.Client, user: ApiUser, note_id: str) -> None:
    assert api.delete(f"/notes/{note_id}", headers=user.headers).status_code in (200, 204)


def put_objects(aws: AwsService, prefixes: list[str]) -> None:
    s3 = aws.client("s3")
    for prefix in prefixes:
        s3.put_object(Bucket=get_settings().uploads_bucket, Key=f"{prefix}photo.jpg", Body=b"x")


def keys(aws: AwsService, prefixes: list[str]) -> list[str]:
    s3 = aws.client("s3")
    found = []
    for prefix in prefixes:
        listing = s3.list_objects_v2(Bucket=get_settings().uploads_bucket, Prefix=prefix)
        found += [item["Key"] for item in listing.get("Contents", [])]
    return found


def test_old_trash_goes_with_its_objects_live_and_recent_trash_stay(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    live, recent, old = (create_note(api, user, t) for t in ("live", "recent", "old"))
    for note_id in (recent, old):
        trash(api, user, note_id)
    prefixes = {n: storage.note_prefixes(user.id, n) for n in (live, recent, old)}
    for note_prefixes in prefixes.values():
        put_objects(aws, note_prefixes)
    old_doc = notes_collection.find_one({"_id": old})
    assert old_doc is not None
    trashed_at: datetime = old_doc["trashed_at"]
    # `recent` was trashed later than `old`: move `old` back a day to keep them apart.
    notes_collection.update_one(
        {"_id": old}, {"$set": {"trashed_at": trashed_at - timedelta(days=1)}}
    )

    cleanup.clock.set(trashed_at - timedelta(days=1) + RETENTION - timedelta(seconds=1))
    cleanup.run()  # one second short of the retention: nothing goes
    assert notes_collection.count_documents({"_id": {"$in": [live, recent, old]}}) == 3

    cleanup.clock.set(trashed_at - timedelta(days=1) + RETENTION + timedelta(seconds=1))
    result = cleanup.run()
    assert result["notes"] >= 1 and result["note_objects"] >= 2
    assert notes_collection.find_one({"_id": old}) is None
    assert keys(aws, prefixes[old]) == []
    assert api.get(f"/notes/{old}", headers=user.headers).status_code == 404
    for kept in (live, recent):
        assert api.get(f"/notes/{kept}", headers=user.headers).status_code == 200
        assert len(keys(aws, prefixes[kept])) == 2


def test_a_restored_note_is_never_purged(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    note_id = create_note(api, user)
    trash(api, user, note_id)
    assert api.post(f"/notes/{note_id}/restore", headers=user.headers).status_code == 200
    cleanup.clock.set(utcnow() + RETENTION * 2)
    cleanup.run()
    assert notes_collection.find_one({"_id": note_id}) is not None


def _attachment(created_at: datetime, status: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "size": 1,
        "status": status,
        "error": None,
        "created_at": created_at,
        "updated_at": created_at,
    }


def test_uploads_left_pending_for_a_day_go_with_their_objects(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    note_id = create_note(api, user)
    start = datetime(2035, 1, 1, 12, 0, tzinfo=UTC)
    stale = _attachment(start, "pending")
    fresh = _attachment(start + timedelta(hours=2), "pending")
    ready = _attachment(start, "ready")
    notes_collection.update_one({"_id": note_id}, {"$set": {"attachments": [stale, fresh, ready]}})
    prefixes = {
        a["id"]: storage.attachment_prefixes(user.id, note_id, a["id"])
        for a in (stale, fresh, ready)
    }
    for attachment_prefixes in prefixes.values():
        put_objects(aws, attachment_prefixes)
    version = notes_collection.find_one({"_id": note_id})["version"]  # type: ignore[index]

    cleanup.clock.set(start + timedelta(hours=24))  # exactly a day: not yet
    cleanup.run()
    assert len(notes_collection.find_one({"_id": note_id})["attachments"]) == 3  # type: ignore[index]

    cleanup.clock.set(start + timedelta(hours=25))
    result = cleanup.run()
    assert result["attachments"] >= 1 and result["attachment_objects"] >= 2
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None
    assert [a["id"] for a in stored["attachments"]] == [fresh["id"], ready["id"]]
    assert stored["version"] == version + 1
    assert keys(aws, prefixes[stale["id"]]) == []
    assert len(keys(aws, prefixes[fresh["id"]])) == 2
    assert len(keys(aws, prefixes[ready["id"]])) == 2


def test_a_processed_image_whose_new_upload_failed_lately_is_kept(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """A new version of an image made long ago, whose processing raised (released for
    Lambda's retry, pending again): the cleanup's day counts from the failure, so the event
    can still be replayed from the dead-letter queue. It used to go at the next run."""
    note_id = create_note(api, user)
    now = utcnow()
    created = now - timedelta(days=30)
    released_lately = _attachment(created, "pending") | {"pending_since": now - timedelta(hours=1)}
    released_long_ago = _attachment(created, "pending") | {"pending_since": now - timedelta(days=2)}
    notes_collection.update_one(
        {"_id": note_id}, {"$set": {"attachments": [released_lately, released_long_ago]}}
    )

    cleanup.clock.set(now)
    assert cleanup.run()["attachments"] >= 1
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None
    assert [a["id"] for a in stored["attachments"]] == [released_lately["id"]]


def test_dropping_an_abandoned_upload_is_a_write_a_sync_sees(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """The run started (its clock read) before the owner's last edit: dropping the upload is
    still a later write than that edit, so a sync from the edit sees it."""
    started = utcnow()
    note_id = create_note(api, user)
    stale = _attachment(started - timedelta(days=2), "pending")
    notes_collection.update_one({"_id": note_id}, {"$push": {"attachments": stale}})
    edited = api.patch(f"/notes/{note_id}", json={"title": "edited"}, headers=user.headers)
    watermark = edited.json()["updated_at"]

    cleanup.clock.set(started)
    assert cleanup.run()["attachments"] >= 1
    after = api.get(f"/notes/{note_id}", headers=user.headers).json()
    assert (after["title"], after["attachments"]) == ("edited", [])
    assert after["version"] == edited.json()["version"] + 1
    assert after["updated_at"] >= watermark  # the same format: compared as text
    synced = api.get("/notes", params={"updated_since": watermark}, headers=user.headers)
    assert note_id in [n["id"] for n in synced.json()["items"]]


def test_a_dropped_upload_takes_its_ocr_text_out_of_search(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    note_id = create_note(api, user)
    # A new version of a processed image whose processing failed is `pending` again, with
    # the text of the version before.
    now = utcnow()
    released = _attachment(now - timedelta(days=2), "pending") | {"ocr_text": "zebrafish bill"}
    notes_collection.update_one({"_id": note_id}, {"$push": {"attachments": released}})
    api.patch(f"/notes/{note_id}", json={"title": "scan"}, headers=user.headers)  # re-indexed

    def found(word: str) -> list[str]:
        page = api.get("/notes", params={"q": word}, headers=user.headers)
        assert page.status_code == 200, page.text
        return [n["id"] for n in page.json()["items"]]

    assert found("zebrafish") == [note_id]
    cleanup.clock.set(now)  # not years ahead: the user's session must outlive the run
    assert cleanup.run()["attachments"] >= 1
    assert found("zebrafish") == []
    assert found("scan") == [note_id]


def test_uploads_whose_processing_never_finished_end_failed_with_a_reason(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    note_id = create_note(api, user)
    start = datetime(2035, 2, 1, 12, 0, tzinfo=UTC)
    # Claimed by an image run that was killed (timeout, memory), every retry too.
    stuck = _attachment(start, "processing") | {"processing_since": start, "claim": "dead"}
    recent = _attachment(start, "processing") | {"processing_since": start + timedelta(hours=2)}
    notes_collection.update_one({"_id": note_id}, {"$set": {"attachments": [stuck, recent]}})

    cleanup.clock.set(start + timedelta(hours=25))
    assert cleanup.run()["stuck_attachments"] >= 1
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None
    failed, kept = stored["attachments"]
    assert (failed["status"], failed["claim"]) == ("failed", None)
    assert "upload it again" in failed["error"]
    assert (kept["status"], kept["error"]) == ("processing", None)  # its retries may still come
    assert cleanup.run()["stuck_attachments"] == 0


def test_image_edits_that_never_finished_end_failed_with_a_reason(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    note_id = create_note(api, user)
    now = utcnow()
    asked = now - timedelta(days=2)

    def edit(status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "status": status,
            "error": None,
            "operations": [{"op": "grayscale"}],
            "content_type": None,
            "key": None,
            "width": None,
            "height": None,
            "created_at": asked,
            **fields,
        }

    # Its request object was never written (the S3 write failed after the record was).
    never_delivered = edit("pending")
    # Every attempt killed (timeout, memory).
    killed = edit("processing", claim="dead", processing_since=asked + timedelta(minutes=1))
    # Asked for as long ago, but a retry has it now: it may still finish.
    retried = edit("processing", claim="live", processing_since=now - timedelta(minutes=5))
    done = edit("ready", key="derived/x.png", content_type="image/png", width=1, height=1)
    image = storage.upload_key(user.id, note_id, "a1", storage.ORIGINAL)
    attachment = attachments.new_attachment("a1", image, "p.jpg", "image/jpeg", 10) | {
        "status": "ready",
        "created_at": asked,
        "derived": [never_delivered, killed, retried, done],
    }
    notes_collection.update_one({"_id": note_id}, {"$set": {"attachments": [attachment]}})
    api.patch(f"/notes/{note_id}", json={"title": "edited"}, headers=user.headers)  # re-indexed

    cleanup.clock.set(now)
    assert cleanup.run()["stuck_edits"] >= 1
    answer = api.get(f"/notes/{note_id}/attachments/a1", headers=user.headers)
    assert answer.status_code == 200, answer.text
    derived = {d["id"]: d for d in answer.json()["derived"]}
    for ended in (never_delivered, killed):
        assert derived[ended["id"]]["status"] == "failed"
        assert "ask for it again" in derived[ended["id"]]["error"]
    assert (derived[retried["id"]]["status"], derived[retried["id"]]["error"]) == (
        "processing",
        None,
    )
    assert derived[done["id"]]["status"] == "ready"
    assert cleanup.run()["stuck_edits"] == 0


def _found(api: httpx.Client, user: ApiUser, **params: str) -> list[str]:
    page = api.get("/notes", params=params, headers=user.headers)
    assert page.status_code == 200, page.text
    return [note["id"] for note in page.json()["items"]]


def _as_written_before_versions(notes_collection: Notes, note_id: str, **fields: Any) -> None:
    """Make the stored note look as the code before `derived_version` left it: whole runs of
    Chinese as one search term, tags and title key as sent (decomposed), no job fields."""
    notes_collection.update_one(
        {"_id": note_id},
        {"$set": fields, "$unset": {"derived_version": "", "edit_waiting_since": ""}},
    )


def test_notes_written_by_an_older_version_are_brought_up_to_date(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """After a deployment that changed what is derived from a note, old notes are searched,
    filtered and sorted as new ones, with no migration to run; a note whose stored form
    changed (a tag composed) is a write a sync sees, one whose only derived fields changed is
    not a new version."""
    decomposed = "cafe\u0301"
    weather = create_note(api, user, "東京都の天気")
    old_form = {"tags": [decomposed], "terms": ["東京都の天気"], "title_key": "東京都の天気"}
    _as_written_before_versions(notes_collection, weather, **old_form)
    plain = create_note(api, user, "晴れの日")
    _as_written_before_versions(notes_collection, plain, terms=["晴れの日"])
    before = {n: api.get(f"/notes/{n}", headers=user.headers).json() for n in (weather, plain)}
    assert _found(api, user, q="天気") == []
    assert _found(api, user, tag="café") == []

    cleanup.clock.set(utcnow())
    assert cleanup.run()["rederived"] >= 2
    assert _found(api, user, q="天気") == [weather]
    assert _found(api, user, q="晴れ") == [plain]
    assert _found(api, user, tag="café") == [weather]
    after = {n: api.get(f"/notes/{n}", headers=user.headers).json() for n in (weather, plain)}
    assert after[weather]["tags"] == ["café"]
    assert after[weather]["version"] == before[weather]["version"] + 1
    synced = _found(api, user, updated_since=before[weather]["updated_at"])
    assert weather in synced
    assert after[plain] == before[plain]  # nothing a client sees changed: not a new version
    stored = notes_collection.find({"_id": {"$in": [weather, plain]}})
    assert [note["derived_version"] for note in stored] == [DERIVED_VERSION] * 2
    assert cleanup.run()["rederived"] == 0


def test_a_title_stored_before_titles_were_one_line_is_made_one_and_saves_back(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """Titles were any text until they became one line (`models.text`): a note stored with
    a title of two lines, read and PUT back as read, would be a 422. The daily run (and any
    write of the note) stores it as one line: line breaks and tabs as spaces, bidi controls
    dropped."""
    note_id = create_note(api, user, "old")
    old = "Shopping\nlist\tfor\u2028Monday \u202egpj.exe"
    _as_written_before_versions(notes_collection, note_id, title=old)
    cleanup.clock.set(utcnow())
    assert cleanup.run()["rederived"] >= 1
    assert put_back(api, user, note_id)["title"] == "Shopping list for Monday gpj.exe"

    _as_written_before_versions(notes_collection, note_id, title="two\r\nlines")
    edited = api.patch(f"/notes/{note_id}", json={"pinned": True}, headers=user.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "two lines"


def test_a_title_stored_before_titles_were_one_line_is_read_as_one_before_the_daily_run(
    api: httpx.Client, user: ApiUser, notes_collection: Notes
) -> None:
    """Until the daily run rewrites it, such a note is read with its title as one line, so a
    client that reads it and PUTs it back unchanged gets a 200, not a 422."""
    note_id = create_note(api, user, "old")
    _as_written_before_versions(notes_collection, note_id, title="Shopping\nlist\u202e")
    read = api.get(f"/notes/{note_id}", headers=user.headers)
    assert read.json()["title"] == "Shopping list"
    listed = api.get("/notes", headers=user.headers).json()["items"]
    assert [note["title"] for note in listed if note["id"] == note_id] == ["Shopping list"]
    assert put_back(api, user, note_id)["title"] == "Shopping list"


OLD_TAGS = ["shopping\nlist", "\u202eexe.jpg", "\u200b", "a\tb", "a b", "fine"]
OLD_TAGS_AS_ONE_LINE = ["shopping list", "exe.jpg", "a b", "fine"]


def test_tags_stored_before_tags_were_one_line_are_made_one_and_save_back(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """Tags were any text until they became one visible line, as titles: a note stored with
    a tag of two lines, read and PUT back as read, would be a 422. The daily run stores them
    as one line (line breaks and tabs as spaces, bidi controls dropped), without the ones
    that show nothing, each once; until then they are read so."""
    note_id = create_note(api, user, "old")
    _as_written_before_versions(notes_collection, note_id, tags=OLD_TAGS)
    read = api.get(f"/notes/{note_id}", headers=user.headers).json()
    assert read["tags"] == OLD_TAGS_AS_ONE_LINE
    assert put_back(api, user, note_id)["tags"] == OLD_TAGS_AS_ONE_LINE

    _as_written_before_versions(notes_collection, note_id, tags=OLD_TAGS)
    cleanup.clock.set(utcnow())
    assert cleanup.run()["rederived"] >= 1
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None and stored["tags"] == OLD_TAGS_AS_ONE_LINE
    assert _found(api, user, tag="shopping list") == [note_id]


def test_a_note_that_cannot_be_brought_up_to_date_does_not_stop_the_others(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    broken = create_note(api, user, "broken")
    _as_written_before_versions(notes_collection, broken, tags=None)  # what no code wrote
    fine = create_note(api, user, "東京都の天気")
    _as_written_before_versions(notes_collection, fine, terms=[])
    try:
        cleanup.clock.set(utcnow())
        counts = cleanup.run()
        assert (counts["rederived"] >= 1, counts["rederive_failures"]) == (True, 1)
        assert _found(api, user, q="天気") == [fine]
        stored = notes_collection.find_one({"_id": broken})
        assert stored is not None and "derived_version" not in stored  # left for a later run
    finally:
        notes_collection.delete_one({"_id": broken})


def test_a_write_of_a_note_an_older_version_wrote_brings_it_up_to_date(
    api: httpx.Client, user: ApiUser, notes_collection: Notes
) -> None:
    note_id = create_note(api, user, "old")
    _as_written_before_versions(notes_collection, note_id, tags=["cafe\u0301", "café"])
    edited = api.patch(f"/notes/{note_id}", json={"title": "edited"}, headers=user.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["tags"] == ["café"]
    stored = notes_collection.find_one({"_id": note_id})
    assert stored is not None and stored["derived_version"] == DERIVED_VERSION


def test_ended_sessions_and_old_login_failures_go(
    user: ApiUser, cleanup: ScheduledFunction
) -> None:
    settings = get_settings()
    now = utcnow()
    with session_factory(settings.database_url)() as session, session.begin():
        sessions = SessionsRepository(session)
        expired = sessions.start(user.id, "old", timedelta(seconds=-60)).session.id
        revoked = sessions.start(user.id, "revoked", timedelta(days=1)).session.id
        sessions.revoke(revoked, reason="logout")
        live = sessions.start(user.id, "live", timedelta(days=1)).session.id
    with session_factory(settings.database_url)() as session:
        failures = LoginFailuresRepository(session)
        failures.record_now(user.email, "192.0.2.1", now - timedelta(hours=1))
        failures.record_now(user.email, "192.0.2.2", now)
    window = timedelta(seconds=settings.login_failure_window_seconds)

    cleanup.clock.set(now + window / 2)
    result = cleanup.run()
    assert result["sessions"] >= 2 and result["login_failures"] >= 1
    with session_factory(settings.database_url)() as session:
        remaining = set(
            session.execute(
                select(tables.sessions.c.id).where(tables.sessions.c.user_id == user.id)
            ).scalars()
        )
        assert expired not in remaining and revoked not in remaining
        assert live in remaining
        ips = session.execute(
            select(tables.login_failures.c.client_ip).where(
                tables.login_failures.c.email == user.email
            )
        ).scalars()
        assert list(ips) == ["192.0.2.2"]  # still inside the throttle window


def test_two_runs_at_once_purge_each_note_once(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    notes = [create_note(api, user, f"t{i}") for i in range(10)]
    for note_id in notes:
        trash(api, user, note_id)
        put_objects(aws, storage.note_prefixes(user.id, note_id))
    cleanup.clock.set(utcnow() + RETENTION + timedelta(days=1))
    cutoff = cleanup.clock() - RETENTION
    due = notes_collection.count_documents({"trashed": True, "trashed_at": {"$lt": cutoff}})
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: cleanup.run(), range(2)))
    assert notes_collection.count_documents({"_id": {"$in": notes}}) == 0
    assert sum(r["notes"] for r in results) == due  # each purged by exactly one of them
    for note_id in notes:
        assert keys(aws, storage.note_prefixes(user.id, note_id)) == []
    again = cleanup.run()  # idempotent: nothing left of these
    assert notes_collection.count_documents({"_id": {"$in": notes}}) == 0
    assert again["notes"] == 0


def test_two_runs_at_once_count_each_stuck_upload_once(
    api: httpx.Client, user: ApiUser, cleanup: ScheduledFunction, notes_collection: Notes
) -> None:
    """A schedule's event delivered twice: both runs find the same stuck uploads, one marks
    each failed, and the other, finding it done, does not count it again."""
    # Before any other test's uploads: the counts are of these alone.
    start = datetime(2001, 3, 1, 12, 0, tzinfo=UTC)
    notes = [create_note(api, user, f"s{i}") for i in range(10)]
    stuck = _attachment(start, "processing") | {"processing_since": start, "claim": "dead"}
    notes_collection.update_many({"_id": {"$in": notes}}, {"$set": {"attachments": [stuck]}})
    cleanup.clock.set(start + timedelta(hours=25))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: cleanup.run(), range(2)))
    assert sum(r["stuck_attachments"] for r in results) == len(notes), results
    for stored in notes_collection.find({"_id": {"$in": notes}}):
        assert stored["attachments"][0]["status"] == "failed"


def test_write_counters_of_ended_windows_go(user: ApiUser, cleanup: ScheduledFunction) -> None:
    settings = get_settings()
    now = utcnow()
    window = settings.write_rate_window_seconds
    with session_factory(settings.database_url)() as session:
        WriteLimiter(session, settings.write_rate_limit, window).hit(user.id, now)

    def counters() -> int:
        with session_factory(settings.database_url)() as session:
            return len(
                session.execute(
                    select(tables.write_counters).where(tables.write_counters.c.user_id == user.id)
                ).all()
            )

    cleanup.clock.set(now)
    cleanup.run()
    assert counters() == 1  # the window is still open
    cleanup.clock.set(now + timedelta(seconds=3 * window))
    result = cleanup.run()
    assert result["write_counters"] >= 1
    assert counters() == 0


def test_what_lands_after_an_account_deletion_is_swept(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    # A request that authenticated before the deletion, or an upload URL issued before it,
    # can still write once the account's notes and objects are gone: the tombstone the
    # deletion leaves lets cleanup sweep those, then it is forgotten.
    create_note(api, user)
    deleted = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert deleted.status_code == 204, deleted.text
    late_note = {"_id": uuid.uuid4().hex, "owner_id": user.id, "title": "late", "version": 1}
    notes_collection.insert_one(late_note)
    prefixes = storage.owner_prefixes(user.id)
    put_objects(aws, [f"{prefixes[0]}late-note/late-attachment/"])

    cleanup.clock.set(utcnow() + timedelta(minutes=5))
    result = cleanup.run()
    assert result["deleted_account_notes"] >= 1 and result["deleted_account_objects"] >= 1
    assert notes_collection.count_documents({"owner_id": user.id}) == 0
    assert keys(aws, prefixes) == []

    # Within the horizon the tombstone stays (a later write is swept by the next run)...
    notes_collection.insert_one({**late_note, "_id": uuid.uuid4().hex})
    cleanup.run()
    assert notes_collection.count_documents({"owner_id": user.id}) == 0

    # ... and a run past it sweeps one last time, then forgets the account.
    cleanup.clock.set(utcnow() + timedelta(days=1))
    cleanup.run()
    with session_factory(get_settings().database_url)() as session:
        tombstones = session.execute(
            select(tables.deleted_accounts).where(tables.deleted_accounts.c.user_id == user.id)
        ).all()
    assert tombstones == []


def s3_refusing_objects_of(note_id: str) -> contextlib.AbstractContextManager[None]:
    """For the block, S3 refuses to delete the objects of `note_id` (and only those)."""

    def refuse_its_objects(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if note_id.encode() not in params["body"]:
            return None
        error = {"Key": "k", "Code": "AccessDenied", "Message": "Access Denied"}
        return 200, {"Deleted": [], "Errors": [error]}

    return aws_answering("s3", "DeleteObjects", refuse_its_objects, aws_clients.S3_CALLS)


def test_a_deleted_account_whose_objects_s3_refuses_does_not_stop_the_run(
    api: httpx.Client,
    user: ApiUser,
    other_user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
) -> None:
    """S3 refusing the late objects of one deleted account: that account is logged and
    counted as a failure, and the later steps (ended sessions in SQL, the other accounts'
    tombstones) still run, as for a note S3 will not let go, on this day and every next."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session, session.begin():
        ended = SessionsRepository(session).start(other_user.id, "old", timedelta(seconds=-60))
    gone = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert gone.status_code == 204, gone.text
    late = storage.owner_prefixes(user.id)[0] + "late-note/late-attachment/"
    put_objects(aws, [late])

    def tombstone() -> list[Any]:
        with session_factory(settings.database_url)() as session:
            query = select(tables.deleted_accounts).where(
                tables.deleted_accounts.c.user_id == user.id
            )
            return list(session.execute(query).all())

    cleanup.clock.set(utcnow() + timedelta(days=1))  # past the horizon: swept a last time
    with s3_refusing_objects_of(user.id):
        counts = cleanup.run()
    assert counts["note_failures"] == 1
    with session_factory(settings.database_url)() as session:
        left = session.execute(
            select(tables.sessions.c.id).where(tables.sessions.c.id == ended.session.id)
        ).all()
    assert left == []
    assert keys(aws, [late]) != [] and tombstone() != []  # kept for the next run
    assert cleanup.run()["note_failures"] == 0
    assert keys(aws, [late]) == [] and tombstone() == []


def test_a_note_that_cannot_be_cleaned_does_not_stop_the_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    """S3 refusing one old note's objects: that note is logged and left, the other old notes
    go, and the later steps (ended sessions in SQL) still run, on this day and every next."""
    refused, purged = create_note(api, user, "refused"), create_note(api, user, "purged")
    for note_id in (refused, purged):
        trash(api, user, note_id)
    for note_id in (refused, purged):
        put_objects(aws, storage.note_prefixes(user.id, note_id))
    settings = get_settings()
    with session_factory(settings.database_url)() as session, session.begin():
        ended = SessionsRepository(session).start(user.id, "old", timedelta(seconds=-60))

    cleanup.clock.set(utcnow() + RETENTION * 2)
    with s3_refusing_objects_of(refused):
        counts = cleanup.run()
    assert counts["note_failures"] == 1
    assert notes_collection.find_one({"_id": purged}) is None
    assert keys(aws, storage.note_prefixes(user.id, purged)) == []
    with session_factory(settings.database_url)() as session:
        left = session.execute(
            select(tables.sessions.c.id).where(tables.sessions.c.id == ended.session.id)
        ).all()
    assert left == []


def test_a_run_s3_never_answers_fails_before_its_timeout_and_leaves_the_rest(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """S3 not answering is no one note's problem: with botocore's own timeouts (60 s a try,
    several tries) each note held the run for minutes until Lambda stopped it, and with
    bounded calls alone every due note would go, each record deleted and its objects left
    behind. The run fails at the first (an error Lambda retries, and CleanupErrorsAlarm),
    and the next run cleans the others with their objects."""
    due = [create_note(api, user, "first"), create_note(api, user, "second")]
    for note_id in due:
        trash(api, user, note_id)
        put_objects(aws, storage.note_prefixes(user.id, note_id))
    cleanup.clock.set(utcnow() + RETENTION * 2)
    # A minute: room for a few bounded S3 calls, not for one with botocore's defaults.
    shorter = FunctionRuntime(replace(template.function("cleanup"), timeout=60), pool_size=1)
    try:
        assert shorter.handler() is cleanup.containers.handler()  # the same clock
        with aws_silent(monkeypatch), pytest.raises(Exception) as raised:
            shorter.invoke(scheduled_event("cleanup", cleanup.clock()))
    finally:
        shorter.shutdown()
    assert aws_clients.unavailable(raised.value), repr(raised.value)  # not FunctionTimedOut
    left = [note_id for note_id in due if notes_collection.find_one({"_id": note_id})]
    assert left  # at most one note was purged without its objects
    cleanup.run()
    for note_id in left:
        assert notes_collection.find_one({"_id": note_id}) is None
        assert keys(aws, storage.note_prefixes(user.id, note_id)) == []


def test_a_run_writes_its_failures_as_one_metric_record(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A note S3 will not let go and one no code wrote: the run succeeds, so Lambda's Errors
    stay 0, and only these metrics (CleanupNoteFailuresAlarm ...) tell of them."""
    refused = create_note(api, user, "refused")
    trash(api, user, refused)
    put_objects(aws, storage.note_prefixes(user.id, refused))
    broken = create_note(api, user, "broken")
    _as_written_before_versions(notes_collection, broken, tags=None)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "CleanupFunction")  # as on Lambda
    cleanup.clock.set(utcnow() + RETENTION * 2)
    capsys.readouterr()
    try:
        with s3_refusing_objects_of(refused):
            counts = cleanup.run()
    finally:
        notes_collection.delete_one({"_id": broken})
    record = record_of(capsys.readouterr().out, cleanup_job.NOTE_FAILURES_METRIC)
    failures = {cleanup_job.NOTE_FAILURES_METRIC, cleanup_job.REDERIVE_FAILURES_METRIC}
    assert metric_names(record) == failures | {cleanup_job.UNFINISHED_METRIC}
    assert record[cleanup_job.UNFINISHED_METRIC] == counts["unfinished"] == 0
    assert counts["note_failures"] >= 1 and counts["rederive_failures"] >= 1
    assert record[cleanup_job.NOTE_FAILURES_METRIC] == counts["note_failures"]
    assert record[cleanup_job.REDERIVE_FAILURES_METRIC] == counts["rederive_failures"]
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(metrics.DIMENSIONS)]
    assert (record["function_name"], record["service"]) == ("CleanupFunction", "smartnote")


def test_no_metric_is_written_off_lambda(
    cleanup: ScheduledFunction,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local stack: nothing reads stdout as metrics, and its console stays clean."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    cleanup.clock.set(utcnow())
    capsys.readouterr()
    cleanup.run()
    assert emf_records(capsys.readouterr().out) == []


def test_a_run_that_fails_part_way_still_writes_the_failures_it_counted(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    empty_sql_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """S3 refuses a note's objects, then SQL fails the run (its tables missing, as before a
    migration): Lambda's Errors see the run, and the metric still counts the note."""
    refused = create_note(api, user, "refused")
    trash(api, user, refused)
    put_objects(aws, storage.note_prefixes(user.id, refused))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "CleanupFunction")
    monkeypatch.setenv("DATABASE_URL", empty_sql_url)
    get_settings.cache_clear()
    cleanup.clock.set(utcnow() + RETENTION * 2)
    capsys.readouterr()
    try:
        with s3_refusing_objects_of(refused), pytest.raises(Exception, match="deleted_accounts"):
            cleanup.run()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    record = record_of(capsys.readouterr().out, cleanup_job.NOTE_FAILURES_METRIC)
    left = [r for r in caplog.records if r.getMessage().endswith("left for the next run")]
    assert record[cleanup_job.NOTE_FAILURES_METRIC] == len(left) >= 1
    assert record[cleanup_job.REDERIVE_FAILURES_METRIC] == 0  # its step never ran
    # The log tells what the run did before it failed, as a run that succeeds does.
    told = [r for r in caplog.records if r.getMessage().startswith("cleanup: {")]
    assert len(told) == 1 and told[0].counts["note_failures"] == len(left), told


@dataclass
class Outputs:
    """An attachment's record and image outputs in S3, written now: from `first` (S3 times
    objects to the second: the writes may straddle one) to `written`."""

    recorded: list[str]  # what the record points at: the upload, its outputs, an edit's result
    unrecorded: list[str]  # what a run that died, an edit never recorded, a deleted attachment left
    other: list[str]  # under the attachment, of no layout the image function writes
    first: datetime
    written: datetime


def _settled_outputs(aws: AwsService, user: ApiUser, note_id: str, notes: Notes) -> Outputs:
    attachment, gone = _attachment(utcnow(), "ready"), secrets.token_hex(8)
    edit, stuck_edit = secrets.token_hex(8), secrets.token_hex(8)

    def under(attachment_id: str, name: str) -> str:
        return storage.derived_key(user.id, note_id, attachment_id, name)

    def run(name: str) -> str:
        return under(attachment["id"], storage.run_output_name(secrets.token_hex(8), name))

    upload = storage.upload_key(user.id, note_id, attachment["id"], storage.ORIGINAL)
    thumbnail, web = run(storage.THUMBNAIL), run(storage.WEB)
    edited = under(attachment["id"], storage.edit_output_name(edit, "png"))
    attachment |= {"key": upload, "thumbnail_key": thumbnail, "web_key": web}
    attachment["derived"] = [
        {"id": edit, "status": "ready", "key": edited},
        {"id": stuck_edit, "status": "failed", "key": None},  # failed by the cleanup: killed
    ]
    notes.update_one({"_id": note_id}, {"$set": {"attachments": [attachment]}})
    recorded = [upload, thumbnail, web, edited]
    unrecorded = [
        run(storage.THUMBNAIL),  # a run killed after writing both
        run(storage.WEB),
        under(attachment["id"], storage.edit_output_name(stuck_edit, "jpeg")),
        under(attachment["id"], storage.WEB),  # the layout before runs
        under(gone, storage.run_output_name(secrets.token_hex(8), storage.WEB)),
    ]
    other = [under(attachment["id"], "photo.jpg")]
    written = [_put(aws, key) for key in recorded + unrecorded + other]
    return Outputs(recorded, unrecorded, other, first=min(written), written=max(written))


def _put(aws: AwsService, key: str) -> datetime:
    """Write `key`; returns when."""
    aws.client("s3").put_object(Bucket=get_settings().uploads_bucket, Key=key, Body=b"x")
    return _written(aws, key)


def _written(aws: AwsService, key: str) -> datetime:
    """When `key` was written, as S3 says (to the second)."""
    head = aws.client("s3").head_object(Bucket=get_settings().uploads_bucket, Key=key)
    written: datetime = head["LastModified"]
    return written


def _written_later_than_its_time(aws: AwsService, key: str) -> tuple[datetime, datetime]:
    """Write `key` just after a moment that S3, timing objects to the second (truncated),
    then gives as later than the write; returns (that moment, when S3 says it was written)."""
    while True:
        before = utcnow()
        written = _put(aws, key)
        if written < before:
            return before, written
        # The write began on a second, or after the next one began: once more.


def _written_after(aws: AwsService, key: str, moment: datetime) -> datetime:
    """Write `key` (S3 times objects to the second) later than `moment`; returns when."""
    while (written := _put(aws, key)) <= moment:
        time.sleep(0.1)
    return written


Settled = Callable[[Settings, datetime], datetime]


def _run_at_cutoff(
    cleanup: ScheduledFunction, cutoff: datetime, settled: Settled = cleanup_job.outputs_cutoff
) -> dict[str, Any]:
    """Run the cleanup when objects written before `cutoff` are `settled` (image outputs by
    default, `uploads_cutoff` for uploads)."""
    age = cutoff - settled(get_settings(), cutoff)
    assert age >= cleanup_job.OUTPUTS_SETTLED_AFTER
    cleanup.clock.set(cutoff + age)
    return cleanup.run()


def test_image_outputs_no_record_points_at_go_once_settled_and_nothing_else(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    note_id = create_note(api, user)
    outputs = _settled_outputs(aws, user, note_id, notes_collection)
    # A run in flight has just written its thumbnail, not yet recorded.
    in_flight = storage.derived_key(
        user.id, note_id, secrets.token_hex(8), storage.run_output_name("0" * 16, storage.WEB)
    )
    started = _written_after(aws, in_flight, outputs.written)
    everything = [*outputs.recorded, *outputs.unrecorded, *outputs.other, in_flight]
    prefixes = [f"uploads/{user.id}/{note_id}/", f"derived/{user.id}/{note_id}/"]

    _run_at_cutoff(cleanup, outputs.first)  # none is older than the age yet
    assert sorted(keys(aws, prefixes)) == sorted(everything)

    result = _run_at_cutoff(cleanup, started)
    assert result["unrecorded_outputs"] >= len(outputs.unrecorded)
    assert sorted(keys(aws, prefixes)) == sorted([*outputs.recorded, *outputs.other, in_flight])
    assert result["note_failures"] == 0


@pytest.mark.parametrize("top", [storage.DERIVED, storage.UPLOADS])
def test_an_unrecorded_object_written_after_the_cutoff_is_kept_though_s3_times_it_before(
    api: httpx.Client, user: ApiUser, aws: AwsService, cleanup: ScheduledFunction, top: str
) -> None:
    """S3 gives when an object was written to the second: one written at 12:00:00.700 is
    listed as written at 12:00:00. A run whose cutoff was 12:00:00.500 deleted it as written
    before the cutoff, though it was written after: younger than the age that settles it."""
    note_id, attachment_id = create_note(api, user), secrets.token_hex(8)
    unrecorded = {  # by prefix: an object no record points at, and when it is settled
        storage.DERIVED: (
            storage.derived_key(user.id, note_id, attachment_id, storage.WEB),
            cleanup_job.outputs_cutoff,
        ),
        storage.UPLOADS: (
            storage.upload_key(user.id, note_id, attachment_id, storage.ORIGINAL),
            cleanup_job.uploads_cutoff,
        ),
    }
    key, settled = unrecorded[top]
    before_the_write, written = _written_later_than_its_time(aws, key)

    _run_at_cutoff(cleanup, before_the_write, settled)
    assert keys(aws, [key]) == [key]

    _run_at_cutoff(cleanup, written + timedelta(seconds=1), settled)
    assert keys(aws, [key]) == []


def test_unrecorded_outputs_s3_will_not_delete_are_a_failure_left_for_the_next_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    note_id = create_note(api, user)
    outputs = _settled_outputs(aws, user, note_id, notes_collection)
    prefixes = [f"derived/{user.id}/{note_id}/"]
    with s3_refusing_objects_of(note_id):
        refused = _run_at_cutoff(cleanup, outputs.written + timedelta(seconds=1))
    assert refused["note_failures"] == 1
    assert set(outputs.unrecorded) <= set(keys(aws, prefixes))

    _run_at_cutoff(cleanup, outputs.written + timedelta(seconds=1))
    assert not set(outputs.unrecorded) & set(keys(aws, prefixes))


@pytest.mark.parametrize("lost_with", ["old trash purged", "abandoned upload dropped"])
def test_an_upload_s3_kept_once_its_record_went_is_swept_once_settled(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    lost_with: str,
) -> None:
    """The cleanup deletes a record before its objects: when S3 refuses them (or the run dies
    in between), no record leads a later run to them. They stayed for ever; the sweep of the
    uploads no record points at deletes them once settled, and not before."""
    note_id, now = create_note(api, user), utcnow()
    status = "pending" if lost_with == "abandoned upload dropped" else "ready"
    attachment = _attachment(now - timedelta(days=2), status)
    upload = storage.upload_key(user.id, note_id, attachment["id"], storage.ORIGINAL)
    attachment["key"] = upload
    notes_collection.update_one({"_id": note_id}, {"$set": {"attachments": [attachment]}})
    if lost_with == "old trash purged":
        trash(api, user, note_id)
        long_ago = now - RETENTION - timedelta(days=1)
        notes_collection.update_one({"_id": note_id}, {"$set": {"trashed_at": long_ago}})
    written = _put(aws, upload)

    cleanup.clock.set(now)
    with s3_refusing_objects_of(note_id):
        assert cleanup.run()["note_failures"] >= 1
    note = notes_collection.find_one({"_id": note_id}) or {}
    assert note.get("attachments") in (None, [])  # no record points at it any more
    cleanup.run()  # S3 takes deletions again, but the upload is not settled yet
    assert keys(aws, [upload]) == [upload]

    swept = _run_at_cutoff(cleanup, written + timedelta(seconds=1), cleanup_job.uploads_cutoff)
    assert keys(aws, [upload]) == []
    assert swept["unrecorded_uploads"] >= 1


def test_uploads_no_record_points_at_go_once_settled_and_recorded_ones_never(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
) -> None:
    note_id, trashed = create_note(api, user), create_note(api, user, "trashed")
    # Announced (its record written before the upload URL is given), landed, processed.
    announced = api.post(
        f"/notes/{note_id}/attachments",
        json={"filename": "page.png", "content_type": "image/png", "size": 1},
        headers=user.headers,
    )
    assert announced.status_code == 201, announced.text
    attachment = announced.json()["attachment"]
    ready, asked, replaced = (secrets.token_hex(8) for _ in range(3))
    derived = [  # a finished edit and one still waiting; the one a later edit replaced is gone
        {"id": ready, "status": "ready", "key": None},
        {"id": asked, "status": "pending", "key": None, "created_at": utcnow()},
    ]
    notes_collection.update_one(
        {"_id": note_id, "attachments.id": attachment["id"]},
        {"$set": {"attachments.$.status": "ready", "attachments.$.derived": derived}},
    )

    def under(attachment_id: str, note: str = note_id) -> str:
        return storage.upload_key(user.id, note, attachment_id, storage.ORIGINAL)

    def request(edit_id: str) -> str:
        return storage.edit_request_key(user.id, note_id, attachment["id"], edit_id)

    in_trash = _attachment(utcnow(), "ready") | {"key": under("0" * 16, trashed)}
    notes_collection.update_one({"_id": trashed}, {"$set": {"attachments": [in_trash]}})
    trash(api, user, trashed)
    recorded = [under(attachment["id"]), request(ready), request(asked), in_trash["key"]]
    other = [storage.upload_key(user.id, note_id, attachment["id"], "photo.jpg")]
    written = max(_put(aws, key) for key in [*recorded, request(replaced), *other])
    # S3 took a direct upload whose answer was lost: the route undid its record.
    page = encode(text_strip("lost", 24), ".png")
    with aws_answer_lost("s3", "PutObject", aws_clients.S3_CALLS):
        lost = api.post(
            f"/notes/{note_id}/attachments/upload",
            files={"file": ("page.png", page, "image/png")},
            headers=user.headers,
        )
    assert lost.status_code == 503, lost.text
    prefixes = [f"uploads/{user.id}/{note_id}/", f"uploads/{user.id}/{trashed}/"]
    (undone,) = set(keys(aws, prefixes)) - {*recorded, request(replaced), *other}
    unrecorded = [undone, request(replaced)]
    written = max(written, _written(aws, undone))
    # One more landing for a record undone, later than the others.
    young = under(secrets.token_hex(8))
    landed = _written_after(aws, young, written)
    everything = sorted([*recorded, *unrecorded, *other, young])

    cleanup.clock.set(utcnow())
    cleanup.run()
    assert sorted(keys(aws, prefixes)) == everything  # none is settled yet

    result = _run_at_cutoff(cleanup, landed, cleanup_job.uploads_cutoff)
    assert sorted(keys(aws, prefixes)) == sorted([*recorded, *other, young])
    assert result["unrecorded_uploads"] >= len(unrecorded)
    assert result["note_failures"] == 0

    _run_at_cutoff(cleanup, landed + timedelta(seconds=1), cleanup_job.uploads_cutoff)
    assert sorted(keys(aws, prefixes)) == sorted([*recorded, *other])


def _invoke_with_timeout(
    template: Template, cleanup: ScheduledFunction, seconds: int
) -> dict[str, Any]:
    """One run of the cleanup, with the job's clock, in a function whose Timeout is `seconds`
    (the time left, as Lambda gives it, that the run shares between its steps)."""
    short = FunctionRuntime(replace(template.function("cleanup"), timeout=seconds), pool_size=1)
    try:
        assert short.handler() is cleanup.containers.handler()  # the same clock
        result: dict[str, Any] = short.invoke(scheduled_event("cleanup", cleanup.clock()))
    finally:
        short.shutdown()
    return result


def _unfinished_metric(output: str) -> int:
    record = record_of(output, cleanup_job.UNFINISHED_METRIC)
    value: int = record[cleanup_job.UNFINISHED_METRIC]
    return value


def _ended_sql_rows(user: ApiUser) -> Callable[[], tuple[list[Any], list[Any]]]:
    """An ended session of `user` and a login failure past the window (at the run's time);
    returns what tells which of them are left."""
    settings = get_settings()
    with session_factory(settings.database_url)() as session, session.begin():
        ended = SessionsRepository(session).start(user.id, "old", timedelta(seconds=-60))
    with session_factory(settings.database_url)() as session:
        LoginFailuresRepository(session).record_now(user.email, "192.0.2.9", utcnow())

    def left() -> tuple[list[Any], list[Any]]:
        with session_factory(settings.database_url)() as session:
            sessions = session.execute(
                select(tables.sessions.c.id).where(tables.sessions.c.id == ended.session.id)
            ).all()
            failures = session.execute(
                select(tables.login_failures.c.client_ip).where(
                    tables.login_failures.c.email == user.email
                )
            ).all()
        return list(sessions), list(failures)

    return left


def test_a_backlog_bigger_than_a_run_is_shared_stopped_in_time_and_finished_next_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mass purge and a DERIVED_VERSION bump at once, more than one run's time: the run
    used to go on until Lambda killed it (retried twice, then the dead-letter queue, no
    counts, no metrics), and the steps after the purge never ran while its backlog lasted.
    Every step now has its share (the purge, the ended sessions and login failures, the
    re-derive), the run stops before its deadline and succeeds with its counts and
    `CleanupUnfinished` 1, leaves nothing half-done, and the next run finishes the rest. A
    note that cannot be brought up to date is tried, logged and counted once, though its
    step had several turns."""
    notes_collection.delete_many({"trashed": True})  # earlier tests' leftovers: not this backlog
    broken = create_note(api, user, "broken")
    _as_written_before_versions(notes_collection, broken, tags=None)  # what no code wrote
    trashed = [create_note(api, user, f"old {i}") for i in range(10)]
    for note_id in trashed:
        trash(api, user, note_id)
        put_objects(aws, storage.note_prefixes(user.id, note_id))
    outdated = [create_note(api, user, f"outdated {i}") for i in range(30)]
    for note_id in outdated:  # after `broken` in the index (no version sorts first)
        _as_written_before_versions(notes_collection, note_id)
        notes_collection.update_one(
            {"_id": note_id}, {"$set": {"derived_version": DERIVED_VERSION - 1}}
        )
        put_objects(aws, storage.note_prefixes(user.id, note_id))
    unrecorded = storage.derived_key(
        user.id,
        outdated[0],
        secrets.token_hex(8),
        storage.run_output_name(secrets.token_hex(8), storage.WEB),
    )
    _put(aws, unrecorded)
    sql_left = _ended_sql_rows(user)

    def purged() -> list[str]:
        return [n for n in trashed if notes_collection.find_one({"_id": n}) is None]

    def rederived() -> list[str]:
        found = notes_collection.find(
            {"_id": {"$in": outdated}, "derived_version": DERIVED_VERSION}
        )
        return [note["_id"] for note in found]

    def nothing_half_done() -> None:
        for note_id in trashed:  # a note and its objects go together
            left = keys(aws, storage.note_prefixes(user.id, note_id))
            assert len(left) == (0 if note_id in purged() else 2), note_id
        for note_id in outdated:  # a live note's objects are never touched
            assert len(keys(aws, storage.note_prefixes(user.id, note_id))) == 2, note_id

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "CleanupFunction")  # as on Lambda
    cleanup.clock.set(utcnow() + RETENTION * 2)
    cleanup.clock.step = timedelta(seconds=5)  # every reading of the clock: 5 s of work
    capsys.readouterr()
    caplog.clear()
    try:
        first = _invoke_with_timeout(template, cleanup, 300)  # returns: no retry, no DLQ
    finally:
        notes_collection.delete_one({"_id": broken})
    assert 1 <= len(purged()) < len(trashed)
    assert 1 <= len(rederived()) < len(outdated)
    assert sql_left() == ([], [])  # the cheap steps ran, whatever the trash held
    nothing_half_done()
    assert first["unfinished"] >= 1
    assert _unfinished_metric(capsys.readouterr().out) == 1
    told = [r for r in caplog.records if r.getMessage().startswith(f"cleanup: note {broken}")]
    assert len(told) == 1 and first["rederive_failures"] >= 1

    second = cleanup.run()  # the next day's run, the template's Timeout, still 5 s a reading
    assert second["unfinished"] == 0
    assert _unfinished_metric(capsys.readouterr().out) == 0
    assert purged() == trashed
    assert sorted(rederived()) == sorted(outdated)
    assert keys(aws, [unrecorded]) == []
    nothing_half_done()


def test_a_run_without_time_for_any_item_starts_none_and_succeeds(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deadline already near (less than one note's purge may take, by the S3, MongoDB and
    SQL calls' own limits): no record is deleted that its objects could not follow, the run
    succeeds with every step left and `CleanupUnfinished` 1, and the next run does it all."""
    note_id = create_note(api, user)
    trash(api, user, note_id)
    put_objects(aws, storage.note_prefixes(user.id, note_id))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "CleanupFunction")
    cleanup.clock.set(utcnow() + RETENTION * 2)
    capsys.readouterr()
    result = _invoke_with_timeout(template, cleanup, 10)
    assert notes_collection.find_one({"_id": note_id}) is not None
    assert len(keys(aws, storage.note_prefixes(user.id, note_id))) == 2
    assert result["unfinished"] == 9  # every step, left for the next run
    assert result["notes"] == result["sessions"] == 0
    assert _unfinished_metric(capsys.readouterr().out) == 1

    assert cleanup.run()["unfinished"] == 0
    assert notes_collection.find_one({"_id": note_id}) is None
    assert keys(aws, storage.note_prefixes(user.id, note_id)) == []


Positions = Collection[dict[str, Any]]
Listed = list[tuple[str, list[str]]]  # (prefix, keys) of each page a sweep listed, in order


def _position(positions: Positions, top: str) -> str | None:
    """Where the sweep of `top` got to, as the runs left it in MongoDB (None: the start)."""
    stored = positions.find_one({"_id": f"cleanup.unrecorded.{top}"})
    return None if stored is None else str(stored["after"])


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The cleanup lists uploads/ and derived/ two keys a page: a note's objects make pages."""
    monkeypatch.setenv("CLEANUP_LISTING_PAGE_SIZE", "2")
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("CLEANUP_LISTING_PAGE_SIZE")
        get_settings.cache_clear()


@contextlib.contextmanager
def sweep_listings(
    then: Callable[[str, list[str]], None] = lambda top, keys: None,
) -> Iterator[Listed]:
    """For the block, the pages the cleanup's sweeps list under uploads/ and derived/, as S3
    answered them; `then(prefix, keys)` runs after each, before the sweep has it (to move
    the run's clock: a slow answer)."""
    listed: Listed = []

    def seen(parsed: dict[str, Any]) -> None:
        top = str(parsed.get("Prefix", "")).removesuffix("/")
        if top in (storage.DERIVED, storage.UPLOADS):
            page = [item["Key"] for item in parsed.get("Contents", [])]
            listed.append((top, page))
            then(top, page)

    with aws_answered("s3", "ListObjectsV2", seen, aws_clients.S3_CALLS):
        yield listed


def _pages_of(listed: Listed, top: str) -> list[list[str]]:
    return [page for prefix, page in listed if prefix == top]


def _keys_of(pages: list[list[str]]) -> list[str]:
    return [key for page in pages for key in page]


def _run_out_of_time_after(
    cleanup: ScheduledFunction, cutoff: datetime, last: str
) -> tuple[dict[str, Any], list[list[str]]]:
    """A run at `cutoff` (`_run_at_cutoff`) whose time ends while its sweep of derived/ lists
    the page after the one holding `last` (S3 takes an hour to answer it): it handles every
    page up to `last`'s, and not that one. Returns its counts and the pages of derived/ it
    listed."""
    reached = jumped = False

    def slow(top: str, page: list[str]) -> None:
        nonlocal reached, jumped
        if top != storage.DERIVED or jumped:
            return
        if reached:
            cleanup.clock.advance(hours=1)
            jumped = True
        reached = last in page

    with sweep_listings(slow) as listed:
        counts = _run_at_cutoff(cleanup, cutoff)
    assert jumped, "the sweep never got past the page of the last key"
    return counts, _pages_of(listed, storage.DERIVED)


def _two_notes_of_outputs(
    api: httpx.Client, user: ApiUser, aws: AwsService, notes: Notes
) -> tuple[Outputs, Outputs]:
    """Two notes' outputs (`_settled_outputs`): the one listed first, then the other."""
    first, second = sorted(create_note(api, user) for _ in range(2))
    return _settled_outputs(aws, user, first, notes), _settled_outputs(aws, user, second, notes)


def _all_keys(outputs: Outputs) -> list[str]:
    return [*outputs.recorded, *outputs.unrecorded, *outputs.other]


def _last_derived(outputs: Outputs) -> str:
    """The last key of `outputs` the sweep of derived/ lists (the upload is under uploads/)."""
    return max(key for key in _all_keys(outputs) if key.startswith(f"{storage.DERIVED}/"))


def test_a_sweep_out_of_time_goes_on_the_next_run_after_what_it_handled(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    job_positions: Positions,
    small_pages: None,
) -> None:
    """A bucket too big to list within a run's time: each run listed derived/ from the start
    again, so what lay past what one run could list was never reached. The next run now
    lists from after the last page the one before handled (its position in MongoDB), and
    none of those pages again."""
    handled, left = _two_notes_of_outputs(api, user, aws, notes_collection)
    cutoff = left.written + timedelta(seconds=1)

    first, first_pages = _run_out_of_time_after(cleanup, cutoff, _last_derived(handled))
    assert first["unfinished"] >= 1
    assert not set(handled.unrecorded) & set(keys(aws, _all_keys(handled)))
    assert set(left.unrecorded) & set(keys(aws, left.unrecorded))  # not reached

    with sweep_listings() as listed:
        second = _run_at_cutoff(cleanup, cutoff)
    assert second["unfinished"] == 0
    assert keys(aws, left.unrecorded) == []
    for outputs in (handled, left):
        assert sorted(keys(aws, _all_keys(outputs))) == sorted(outputs.recorded + outputs.other)
    handled_pages = _keys_of(first_pages[:-1])  # the last one was cut short
    listed_again = set(handled_pages) & set(_keys_of(_pages_of(listed, storage.DERIVED)))
    assert listed_again == set()
    assert _position(job_positions, storage.DERIVED) is None  # the end reached


def test_a_sweep_given_several_turns_in_a_run_lists_no_page_twice(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    template: Template,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    job_positions: Positions,
    small_pages: None,
) -> None:
    """A sweep out of its share of the run's time gives way to the steps after it, and has
    another turn with what they left: each turn listed derived/ from the start again. It now
    goes on after the last page its earlier turn handled."""
    note_id = create_note(api, user)
    outputs = _settled_outputs(aws, user, note_id, notes_collection)  # five pages of derived/
    run_time = template.function("cleanup").timeout

    def slow(top: str, page: list[str]) -> None:
        if top == storage.DERIVED:  # each page of derived/: a third of the run's time
            cleanup.clock.advance(seconds=run_time / 3)

    with sweep_listings(slow) as listed:
        result = _run_at_cutoff(cleanup, outputs.written + timedelta(seconds=1))
    tops = [top for top, _ in listed]
    assert storage.DERIVED in tops[tops.index(storage.UPLOADS) :]  # a later turn of derived/
    listed_keys = _keys_of(_pages_of(listed, storage.DERIVED))
    assert len(listed_keys) == len(set(listed_keys))  # none listed twice
    assert result["unfinished"] >= 1


def test_once_the_sweep_reaches_the_end_the_next_pass_finds_what_was_written_behind(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    job_positions: Positions,
    small_pages: None,
) -> None:
    """The run that reaches the end of derived/ forgets the position: the next run lists from
    the start, and an object written meanwhile behind the position (where the runs of this
    pass had gone already) is swept then."""
    handled, left = _two_notes_of_outputs(api, user, aws, notes_collection)
    cutoff = left.written + timedelta(seconds=1)
    _run_out_of_time_after(cleanup, cutoff, _last_derived(handled))
    position = _position(job_positions, storage.DERIVED)
    assert position is not None
    upload = storage.parse_upload_key(handled.recorded[0])
    assert upload is not None
    behind = storage.derived_key(user.id, upload.note_id, "0" * 16, storage.WEB)  # sorts first
    assert behind < position
    written = _put(aws, behind)

    _run_at_cutoff(cleanup, written + timedelta(seconds=1))
    assert keys(aws, left.unrecorded) == []
    assert _position(job_positions, storage.DERIVED) is None
    assert keys(aws, [behind]) == [behind]  # behind the position: for the next pass

    _run_at_cutoff(cleanup, written + timedelta(seconds=1))
    assert keys(aws, [behind]) == []
    assert sorted(keys(aws, _all_keys(handled))) == sorted(handled.recorded + handled.other)


@pytest.mark.parametrize("stored", ["uploads/~", "derived/~", "derived"])
def test_a_stale_or_foreign_position_loses_no_object(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    job_positions: Positions,
    stored: str,
) -> None:
    """A guard: a position of another prefix is not this one's, one past every key lists
    nothing and ends the pass (S3's StartAfter is any string, in key order): the objects
    are swept at the latest by the next pass."""
    outputs = _settled_outputs(aws, user, create_note(api, user), notes_collection)
    name = f"cleanup.unrecorded.{storage.DERIVED}"
    job_positions.replace_one({"_id": name}, {"_id": name, "after": stored}, upsert=True)

    for _ in range(2):
        _run_at_cutoff(cleanup, outputs.written + timedelta(seconds=1))
    assert sorted(keys(aws, _all_keys(outputs))) == sorted(outputs.recorded + outputs.other)
    assert _position(job_positions, storage.DERIVED) is None


def test_a_position_mongodb_will_not_store_does_not_fail_the_run(
    api: httpx.Client,
    user: ApiUser,
    aws: AwsService,
    cleanup: ScheduledFunction,
    notes_collection: Notes,
    job_positions: Positions,
    small_pages: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MongoDB refusing the position (here a validator no document passes): the run logs it
    and goes on; the next run starts from an earlier position, the start here."""
    handled, left = _two_notes_of_outputs(api, user, aws, notes_collection)
    cutoff = left.written + timedelta(seconds=1)
    job_positions.drop()
    job_positions.database.create_collection(
        job_positions.name, validator={"never": {"$exists": True}}
    )
    try:
        counts, _ = _run_out_of_time_after(cleanup, cutoff, _last_derived(handled))
    finally:
        job_positions.drop()
    assert counts["unfinished"] >= 1 and counts["note_failures"] == 0
    assert not set(handled.unrecorded) & set(keys(aws, _all_keys(handled)))
    told = [r for r in caplog.records if r.getMessage().startswith("cleanup: position of")]
    assert told and all(r.levelname == "WARNING" for r in told)

    with sweep_listings() as listed:
        _run_at_cutoff(cleanup, cutoff)
    listed_keys = set(_keys_of(_pages_of(listed, storage.DERIVED)))
    assert set(handled.recorded) - {handled.recorded[0]} <= listed_keys  # from the start again
    assert keys(aws, left.unrecorded) == []
