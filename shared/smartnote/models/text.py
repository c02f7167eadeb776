"""One line of text: the rule of every name and title (filenames, display names, titles)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# A regex character class's ranges: what a text shown as one line must not hold. C0 and C1
# control characters (NEL ends a line, CSI starts a terminal escape, PostgreSQL text cannot
# hold NUL), Unicode's line and paragraph separators, and the bidi embeddings, overrides and
# isolates, which show "invoice\u202egpj.exe" as "invoiceexe.jpg" (right-to-left text needs
# none of them; the marks U+200E, U+200F and U+061C, which it may need, are kept).
_NOT_IN_ONE_LINE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_NOT_IN_ONE_LINE_CHARACTER = re.compile(f"[{_NOT_IN_ONE_LINE}]")
_NOT_IN_ONE_LINE_RUN = re.compile(f"[{_NOT_IN_ONE_LINE}]+")
ONE_LINE_SCHEMA: dict[str, Any] = {"pattern": f"^[^{_NOT_IN_ONE_LINE}]*$"}
"""The rule in an OpenAPI schema (`Field(json_schema_extra=...)`)."""

# Letters that show nothing (Hangul fillers, the blank Braille pattern); format characters
# (zero-width spaces and joiners, marks, soft hyphens: Unicode category Cf) and spaces are
# found by their category.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _kind(character: str) -> str:
    if character in "\u2028\u2029":
        return "a line or paragraph separator"
    if character >= "\u202a":
        return "a bidi embedding, override or isolate"
    return "a control character"


def one_line(text: str) -> str:
    """`text` when it is one line of text; a ValueError (a 422) naming the first character
    that is not."""
    found = _NOT_IN_ONE_LINE_CHARACTER.search(text)
    if found is not None:
        character = found.group()
        raise ValueError(f"must be one line of text: U+{ord(character):04X} is {_kind(character)}")
    return text


def as_one_line(text: str) -> str:
    """`text` made one line of text: each run of the characters `one_line` refuses is one
    space where it separated words (a line break, a tab, CRLF), and nothing otherwise."""
    return _NOT_IN_ONE_LINE_RUN.sub(_joined, text)


def _joined(run: re.Match[str]) -> str:
    return " " if any(character.isspace() for character in run.group()) else ""


def is_invisible(text: str) -> bool:
    """Whether `text` shows nothing: only spaces, format characters (U+200B...) and blank
    letters, or nothing at all."""
    return all(
        character.isspace()
        or character in _BLANK_LETTERS
        or unicodedata.category(character) in ("Cf", "Zs")
        for character in text
    )


def visible(text: str) -> str:
    """`text` when a reader sees something of it; a ValueError (a 422) otherwise."""
    if is_invisible(text):
        raise ValueError("must not be empty: invisible characters alone (U+200B...) are none")
    return text
