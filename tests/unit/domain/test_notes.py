"""The note change functions: a reminder sent back unchanged keeps its state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smartnote.domain import notes as domain
from smartnote.models.notes import NoteCreate, NotePatch

AT = datetime(2036, 2, 29, 10, 0, tzinfo=UTC)
FIRED = {
    "at": AT,
    "repeat": "monthly",
    "anchor": datetime(2036, 1, 31, 10, 0, tzinfo=UTC),
    "fired_at": datetime(2036, 1, 31, 10, 1, tzinfo=UTC),
    "last_sent_at": datetime(2036, 1, 31, 10, 1, tzinfo=UTC),
}


def _stored() -> dict[str, Any]:
    return {"trashed": False, "title": "Rent", "reminder": dict(FIRED)}


def test_put_and_patch_with_the_same_reminder_keep_its_state() -> None:
    # Sent back as a client read it: another offset, the same instant.
    same = {"at": "2036-02-29T11:00:00+01:00", "repeat": "monthly"}
    replaced = domain.replace(NoteCreate.model_validate({"title": "x", "reminder": same}))
    patched = domain.patch(NotePatch.model_validate({"reminder": same}))
    assert replaced(_stored())["reminder"] == FIRED
    assert patched(_stored())["reminder"] == FIRED


def test_a_moved_or_differently_repeated_reminder_starts_afresh() -> None:
    for changed in (
        {"at": "2036-02-29T10:30:00Z", "repeat": "monthly"},
        {"at": "2036-02-29T10:00:00Z", "repeat": "daily"},
    ):
        body = NotePatch.model_validate({"reminder": changed})
        reminder = domain.patch(body)(_stored())["reminder"]
        assert reminder["last_sent_at"] is None
        assert "anchor" not in reminder and "fired_at" not in reminder


def test_a_patch_without_the_reminder_leaves_it_and_null_clears_it() -> None:
    assert "reminder" not in domain.patch(NotePatch.model_validate({"title": "y"}))(_stored())
    assert domain.patch(NotePatch.model_validate({"reminder": None}))(_stored())["reminder"] is None


def test_a_patch_of_part_of_the_reminder_changes_only_that_part() -> None:
    """PATCH is a merge: the reminder's fields not sent keep their stored value."""
    moved = domain.patch(NotePatch.model_validate({"reminder": {"at": "2036-03-01T08:00:00Z"}}))
    assert moved(_stored())["reminder"]["repeat"] == "monthly"
    weekly = domain.patch(NotePatch.model_validate({"reminder": {"repeat": "weekly"}}))
    assert {k: weekly(_stored())["reminder"][k] for k in ("at", "repeat")} == {
        "at": AT,
        "repeat": "weekly",
    }
    same = domain.patch(NotePatch.model_validate({"reminder": {"repeat": "monthly"}}))
    assert same(_stored())["reminder"] == FIRED  # nothing changed: its state stays
