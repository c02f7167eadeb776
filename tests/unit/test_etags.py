"""If-Match / If-None-Match parsing and comparison (RFC 9110 §13.1.1-2)."""

import pytest

from smartnote.etags import etag, matches_none, precondition


def test_etag_is_quoted_version() -> None:
    assert etag(7) == '"7"'


@pytest.mark.parametrize("header", [None, "*", " * "])
def test_no_condition_without_if_match_or_with_star(header: str | None) -> None:
    assert precondition(header) is None


@pytest.mark.parametrize(
    ("header", "current"),
    [
        ('"3"', 3),
        ('"1", "2"', 2),  # any listed tag may be the current one, not only the first
        ('"1","2" , "3"', 3),
        ('"x", "5"', 5),
        (' "4" ', 4),
        ('W/"1", "2"', 2),
        ('"a,b", "6"', 6),  # a comma inside a tag is part of it
    ],
)
def test_if_match_holds_when_any_strong_tag_is_current(header: str, current: int) -> None:
    condition = precondition(header)
    assert condition is not None and condition(current)


@pytest.mark.parametrize(
    ("header", "current"),
    [
        ('"1", "2"', 3),
        ('W/"4"', 4),  # If-Match uses the strong comparison: a weak tag never matches
        ('W/"1", W/"2"', 2),
        ('"04"', 4),
        ("3", 3),
        ('"abc"', 3),
        ("", 3),
        ('"-1"', 1),
        ('"' + "1" * 5000 + '"', 1),
        ('"\u00b2"', 2),
        ('"\u0663"', 3),
        ('"1" "2"', 2),  # not a list
        ('"1", 2', 2),
        ('"x,"2"', 2),
        ('*, "2"', 2),
    ],
)
def test_if_match_fails_without_a_current_strong_tag(header: str, current: int) -> None:
    condition = precondition(header)
    assert condition is not None and not condition(current)


def test_if_none_match_uses_the_weak_comparison() -> None:
    assert matches_none('"2"', 2)
    assert matches_none('"1", W/"2"', 2)
    assert matches_none('W/"2"', 2)
    assert matches_none("*", 9)
    assert not matches_none('"1"', 2)
    assert not matches_none('"02"', 2)
    assert not matches_none('"1" "2"', 2)
    assert not matches_none(None, 2)
