"""Note input models: limits, tag normalisation, strict types, no mass assignment."""

import pytest
from pydantic import ValidationError

from smartnote.models.notes import (
    MAX_CONTENT,
    MAX_SENT_TAGS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    NoteCreate,
    NotePatch,
)


def test_tags_are_trimmed_lowercased_and_deduplicated() -> None:
    assert NoteCreate(tags=[" Work ", "work", "HOME"]).tags == ["work", "home"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t" * 201},
        {"content": "c" * (MAX_CONTENT + 1)},
        {"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]},
        {"tags": ["x" * 51]},
        {"tags": ["   "]},
        {"pinned": "yes"},
        {"title": 5},
        {"color": "javascript:alert(1)"},
        {"reminder": {"at": "2026-11-24T09:00:00"}},  # no offset
        {"reminder": {"at": "2026-11-24T09:00:00Z", "repeat": "hourly"}},
        {"id": "x"},
        {"version": 9},
        {"owner_id": "someone"},
        {"created_at": "2026-11-24T09:00:00Z"},
    ],
)
def test_invalid_bodies_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NoteCreate.model_validate(body)


def test_patch_keeps_only_sent_fields() -> None:
    assert NotePatch.model_validate({"title": "x", "color": None}).editable_fields() == {
        "title": "x",
        "color": None,
    }


@pytest.mark.parametrize("field", ["title", "content", "tags", "pinned", "archived"])
def test_patch_refuses_null_for_non_nullable_fields(field: str) -> None:
    with pytest.raises(ValidationError, match="cannot be null"):
        NotePatch.model_validate({field: None})


@pytest.mark.parametrize("at", ["1970-01-01T01:00:00+01:00", "2999-12-31T23:59:59Z"])
def test_reminders_from_1970_to_2999_are_accepted(at: str) -> None:
    reminder = NoteCreate.model_validate({"reminder": {"at": at}}).reminder
    assert reminder is not None and reminder.at.isoformat() == at.replace("Z", "+00:00")


@pytest.mark.parametrize(
    "at", ["0001-01-01T00:30:00+01:00", "1969-12-31T23:59:59Z", "3000-01-01T00:00:00Z"]
)
def test_reminders_outside_1970_to_2999_are_refused(at: str) -> None:
    with pytest.raises(ValidationError, match="from 1970-01-01 to 2999-12-31"):
        NoteCreate.model_validate({"reminder": {"at": at}})


@pytest.mark.parametrize("at", ["20300101", "2030", 1893488400, 1893488400.5, "1893488400000"])
def test_reminder_times_that_are_not_written_out_are_refused_not_read_as_unix_times(
    at: object,
) -> None:
    with pytest.raises(ValidationError, match="ISO 8601 with an offset"):
        NoteCreate.model_validate({"reminder": {"at": at}})


@pytest.mark.parametrize(
    ("at", "says"),
    [
        ("2026-12-31T23:59:60Z", "leap second"),
        ("2026-12-31T23:59:60.5+01:00", "leap second"),
        ("2026-12-31T23:59:61Z", "seconds must be 00 to 59"),
        ("2026-12-31T23:60:00Z", "minutes must be 00 to 59"),
        ("2026-12-31T24:00:00Z", "hour must be 00 to 23"),
    ],
)
def test_a_time_of_day_out_of_range_says_which_part_is_wrong(at: str, says: str) -> None:
    """Pydantic reads these as a date followed by "unexpected extra characters"."""
    with pytest.raises(ValidationError) as refused:
        NoteCreate.model_validate({"reminder": {"at": at}})
    (error,) = refused.value.errors()
    assert says in error["msg"] and "extra characters" not in error["msg"], error


def test_the_tag_limit_counts_distinct_tags() -> None:
    """At most 50 tags as stored: a tag sent again in another case, with spaces or in
    another Unicode form (NFD) is the same tag and counts once."""
    tags = [f"t{i}" for i in range(MAX_TAGS)]
    again = [f" T{i} " for i in range(MAX_TAGS)]
    assert NoteCreate(tags=tags + again).tags == tags
    assert NotePatch(tags=["caf\u00e9", "CAFE\u0301", *tags[1:]]).tags == ["caf\u00e9", *tags[1:]]
    with pytest.raises(ValidationError, match="at most 50"):
        NoteCreate(tags=[*again, "one more"])


@pytest.mark.parametrize("model", [NoteCreate, NotePatch])
def test_a_sent_tag_list_longer_than_any_merge_is_one_error_at_once(
    model: type[NoteCreate | NotePatch],
) -> None:
    """Repeats are fine up to MAX_SENT_TAGS sent; a longer list (a body can hold 690 000
    items) is refused as a whole before any item is read: one error, not one per item."""
    assert model(tags=["work"] * MAX_SENT_TAGS).tags == ["work"]
    for item in ("work", "", 1):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({"tags": [item] * 100_000})
        (error,) = refused.value.errors()
        assert (error["loc"], error["type"]) == (("tags",), "too_long"), error


def test_a_stored_tag_can_be_sent_again() -> None:
    """Lower-casing "İ" makes two characters of it: the stored tag, sent back, counts them
    as the one it was, and is the same tag."""
    stored = NoteCreate(tags=["\u0130" * MAX_TAG_LENGTH]).tags
    assert NoteCreate(tags=stored).tags == stored == ["i\u0307" * MAX_TAG_LENGTH]
    with pytest.raises(ValidationError, match="at most 50 characters"):
        NoteCreate(tags=["i\u0307" * MAX_TAG_LENGTH + "x"])
