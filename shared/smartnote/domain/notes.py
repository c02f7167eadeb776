"""What a note is and how each write changes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from smartnote.clock import to_stored_time, utcnow
from smartnote.domain.reminders import ONCE
from smartnote.errors import Conflict, ValidationFailed
from smartnote.models.notes import Note, NoteCreate, NotePatch, ReminderIn, ReminderPatch

Document = dict[str, Any]
Change = Callable[[Document], Document]


def reminder_document(
    reminder: ReminderIn | dict[str, Any] | None, stored: Document | None = None
) -> Document | None:
    """A reminder as stored. The one already `stored`, sent back with the same `at` and
    `repeat` (a client saving the whole note), keeps its state: when it fired, was last sent
    and its monthly anchor. A changed `at` or `repeat` is a new reminder, with none of it,
    but for an occurrence at `at` already handled (a one-off that fired, made repeating):
    the new one knows it, and the next run moves it on without a second email."""
    if reminder is None:
        return None
    data = reminder if isinstance(reminder, dict) else reminder.model_dump()
    return _kept_or_new(data["at"], data["repeat"], stored)


def _kept_or_new(at: datetime, repeat: str, stored: Document | None) -> Document:
    at = to_stored_time(at)
    if not stored or stored.get("at") != at:
        return {"at": at, "repeat": repeat, "last_sent_at": None}
    if stored.get("repeat") == repeat:
        return dict(stored)
    fired_at = stored.get("fired_at")
    if fired_at is not None and fired_at >= at:
        return {
            "at": at,
            "repeat": repeat,
            "last_sent_at": stored.get("last_sent_at"),
            "fired_at": fired_at,
        }
    return {"at": at, "repeat": repeat, "last_sent_at": None}


def patched_reminder(sent: ReminderPatch, stored: Document | None) -> Document:
    """The reminder a PATCH sets: the fields `sent` over the `stored` ones (a merge, as for
    the note's own fields), then as `reminder_document` keeps or renews its state."""
    at = sent.at or (stored["at"] if stored else None)
    if at is None:
        missing = {"loc": ["body", "reminder", "at"], "msg": "Field required", "type": "missing"}
        raise ValidationFailed(
            "The note has no reminder to change: send its time (`at`)", details=[missing]
        )
    repeat = sent.repeat or (stored.get("repeat", ONCE) if stored else ONCE)
    return _kept_or_new(at, repeat, stored)


def new_note_fields(body: NoteCreate, stored_reminder: Document | None = None) -> Document:
    """The editable fields of a new note, or of a note replaced (with its stored reminder)."""
    fields = body.editable_fields()
    fields["reminder"] = reminder_document(body.reminder, stored_reminder)
    return fields


def _refuse_trashed(current: Document) -> None:
    if current.get("trashed"):
        raise Conflict("The note is in the trash; restore it before editing")


def patch(body: NotePatch) -> Change:
    """The change of a PATCH: only the fields sent."""

    def change(current: Document) -> Document:
        _refuse_trashed(current)
        fields = body.editable_fields()
        if body.reminder is not None:
            fields["reminder"] = patched_reminder(body.reminder, current.get("reminder"))
        return fields

    return change


def replace(body: NoteCreate) -> Change:
    """The change of a PUT: every editable field, defaults for those not sent."""

    def change(current: Document) -> Document:
        _refuse_trashed(current)
        return new_note_fields(body, current.get("reminder"))

    return change


def trash(current: Document) -> Document:
    if current.get("trashed"):
        return {}
    return {"trashed": True, "trashed_at": utcnow()}


def restore(current: Document) -> Document:
    if not current.get("trashed"):
        return {}
    return {"trashed": False, "trashed_at": None}


def to_note(document: Document) -> Note:
    return Note.model_validate({**document, "id": document["_id"]})
