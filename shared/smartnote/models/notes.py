"""Notes as clients see them, and what they may send."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from smartnote.models.attachments import AttachmentSummary
from smartnote.models.common import NOT_NULL, InputModel, OutputModel, Timestamp, refuse_nulls
from smartnote.models.text import ONE_LINE_SCHEMA, as_one_line, is_invisible, one_line, visible

MAX_TITLE = 200
MAX_CONTENT = 100_000
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_TAG_FILTERS = 20  # distinct tags a list may be filtered by (`GET /notes?tag=`)
MAX_SENT_TAG_LENGTH = 200  # a tag as sent, spaces around it included (trimmed to at most 50)
# Tags in a list as sent, repeats included (a client merging two devices' lists). More is a
# 422 at once: a body within the size limit holds hundreds of thousands of items, each
# normalised, or each an error, for seconds (the function's timeout, a 502).
MAX_SENT_TAGS = 10 * MAX_TAGS
# JSON may escape any character, and common encoders (Python's json.dumps, so `requests`)
# escape every one past ASCII: an astral character is then 12 bytes ("\ud83d\ude00"). The
# notes function takes the body of the longest note so written, with room for its other
# fields and any formatting: at these limits, 1.32 MiB; a note at API.md's limits is never a
# 413, and one character over is a 422 naming the field.
JSON_ESCAPED_CHAR_BYTES = 12
MAX_NOTE_BODY_BYTES = (
    JSON_ESCAPED_CHAR_BYTES * (MAX_TITLE + MAX_CONTENT + MAX_TAGS * MAX_SENT_TAG_LENGTH) + 64 * 1024
)

Repeat = Literal["none", "daily", "weekly", "monthly"]
SortKey = Literal["updated_at", "created_at", "title"]
# A title is shown as one line (lists, the reminder email's subject); it may be empty.
Title = Annotated[
    str,
    StringConstraints(max_length=MAX_TITLE),
    AfterValidator(one_line),
    Field(json_schema_extra=ONE_LINE_SCHEMA),
]
Content = Annotated[str, StringConstraints(max_length=MAX_CONTENT)]
Color = Annotated[str, StringConstraints(pattern=r"^(#[0-9a-fA-F]{6}|[a-z]{3,20})$")]


# Lower-casing "İ" (U+0130) gives two characters, "i" and a combining dot above, which no
# character composes: the only letter whose lower case is longer.
_DOTTED_I = "i\u0307"


def normalise_tag(tag: str) -> str:
    """Tags are stored trimmed, composed (NFC: "café" typed precomposed or decomposed is one
    tag) and lower-cased. A tag is a name, shown as one line: one line of text that shows
    something (`models.text`). The length counts the characters sent, before lower-casing
    (which makes two of "İ"); and those two as one, as sent back (a tag read is a tag that
    can be sent again)."""
    sent = unicodedata.normalize("NFC", tag.strip())
    if not sent:
        raise ValueError("a tag must not be empty")
    one_line(visible(sent))
    if len(sent.replace(_DOTTED_I, "i")) > MAX_TAG_LENGTH:
        raise ValueError(f"a tag has at most {MAX_TAG_LENGTH} characters")
    return unicodedata.normalize("NFC", sent.lower())


def canonical_tags(tags: list[str]) -> list[str]:
    """Tags stored before they had to be composed and one visible line, as they are now:
    each one line (`as_one_line`), trimmed and composed, without those that show nothing,
    each once. The tags of a note in the current form are returned as they are."""
    lines = (unicodedata.normalize("NFC", as_one_line(tag).strip()) for tag in tags)
    return [tag for tag in dict.fromkeys(lines) if not is_invisible(tag)]


def distinct_tags(limit: int) -> AfterValidator:
    """Normalised tags without repeats, in order of first appearance; more than `limit`
    distinct ones are a ValueError (a 422). The limit counts tags as stored: one sent again
    in another case, with spaces or in another Unicode form is the same tag."""

    def distinct(tags: list[str]) -> list[str]:
        unique = list(dict.fromkeys(tags))
        if len(unique) > limit:
            raise ValueError(f"at most {limit} distinct tags, not {len(unique)}")
        return unique

    return AfterValidator(distinct)


Tag = Annotated[
    str,
    StringConstraints(max_length=MAX_SENT_TAG_LENGTH),
    AfterValidator(normalise_tag),
    Field(json_schema_extra=ONE_LINE_SCHEMA),
]
# `maxItems` is not MAX_TAGS: a list repeating tags may be longer than the note's tags.
# The length before the validator: checked as the list is read, not after every item is.
Tags = Annotated[
    list[Tag],
    Field(
        max_length=MAX_SENT_TAGS,
        description=f"At most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters, stored"
        " trimmed, lower-cased and composed (NFC); a tag sent again in another case or Unicode"
        f" form is the same tag, kept once (at most {MAX_SENT_TAGS} sent, repeats included).",
    ),
    distinct_tags(MAX_TAGS),
]
TagFilter = Annotated[list[Tag], distinct_tags(MAX_TAG_FILTERS)]


class ReminderIn(InputModel):
    at: Timestamp = Field(description="When to remind, ISO 8601 with an offset (1970 to 2999).")
    repeat: Repeat = "none"


class ReminderPatch(InputModel):
    """A reminder in a PATCH: the fields sent change, the others keep their stored value (a
    note without a reminder needs `at`)."""

    at: Annotated[Timestamp | None, NOT_NULL] = Field(
        default=None, description="When to remind, ISO 8601 with an offset (1970 to 2999)."
    )
    repeat: Annotated[Repeat | None, NOT_NULL] = None

    @model_validator(mode="after")
    def _not_null(self) -> ReminderPatch:
        refuse_nulls(self, "at", "repeat", prefix="reminder.")
        return self


class Reminder(OutputModel):
    """A note's reminder. A repeat moves `at` to each next occurrence once emailed; one whose
    next occurrence would be in year 3000 (UTC) or later ends instead: it becomes a one-off
    (`repeat: "none"`) at its last occurrence, so the note can be sent back as read."""

    at: datetime
    repeat: Repeat
    last_sent_at: datetime | None = None


class NoteCreate(InputModel):
    """A new note; also the body of `PUT` (a full replace of the editable fields)."""

    title: Title = ""
    content: Content = Field(default="", description="Markdown text, at most 100 000 characters.")
    tags: Tags = Field(default_factory=list)
    pinned: StrictBool = False
    archived: StrictBool = False
    color: Color | None = None
    reminder: ReminderIn | None = None

    def editable_fields(self) -> dict[str, Any]:
        return self.model_dump()


class NotePatch(InputModel):
    """A partial update: only the fields sent change; `null` clears color and reminder."""

    title: Annotated[Title | None, NOT_NULL] = None
    content: Annotated[Content | None, NOT_NULL] = None
    tags: Annotated[Tags | None, NOT_NULL] = None
    pinned: Annotated[StrictBool | None, NOT_NULL] = None
    archived: Annotated[StrictBool | None, NOT_NULL] = None
    color: Color | None = None
    reminder: ReminderPatch | None = None

    @model_validator(mode="after")
    def _only_color_and_reminder_are_nullable(self) -> NotePatch:
        refuse_nulls(self, "title", "content", "tags", "pinned", "archived")
        return self

    def editable_fields(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


class Note(OutputModel):
    id: str
    # As one line also when stored before titles had to be (until the cleanup rewrites it,
    # `repositories.notes.canonical_fields`): a note read is a note that can be sent back.
    title: Annotated[str, AfterValidator(as_one_line)]
    content: str
    # In their current form also when stored before (`repositories.notes.canonical_fields`).
    tags: Annotated[list[str], AfterValidator(canonical_tags)]
    pinned: bool
    archived: bool
    color: str | None = None
    reminder: Reminder | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    trashed_at: datetime | None = None
    attachments: list[AttachmentSummary] = Field(default_factory=list)


class TagCount(OutputModel):
    name: str
    count: int
