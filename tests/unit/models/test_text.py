"""models.text: one line of text, the rule of names and titles."""

from __future__ import annotations

import re

import pytest

from smartnote.models.text import as_one_line, is_invisible, one_line, visible
from tests.utils.one_line import INVISIBLE, NOT_ONE_LINE, VISIBLE


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a\x00b", "U+0000 is a control character"),
        ("n\x85el", "U+0085 is a control character"),
        ("line\u2028separator", "U+2028 is a line or paragraph separator"),
        ("invoice\u202egpj.exe", "U+202E is a bidi embedding, override or isolate"),
    ],
)
def test_one_line_names_the_character_that_is_not(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        one_line(text)


@pytest.mark.parametrize("text", NOT_ONE_LINE)
def test_as_one_line_makes_one_line(text: str) -> None:
    assert one_line(as_one_line(text)) == as_one_line(text)


def test_as_one_line_keeps_words_apart_and_drops_bidi_controls() -> None:
    assert as_one_line("two\r\nlines\tand\u2028more \u202egpj.exe") == "two lines and more gpj.exe"


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_characters_alone_are_no_text(text: str) -> None:
    assert is_invisible(text)
    with pytest.raises(ValueError, match="invisible"):
        visible(text)


@pytest.mark.parametrize("text", VISIBLE)
def test_what_scripts_and_emoji_need_is_kept(text: str) -> None:
    assert visible(one_line(text)) == text
