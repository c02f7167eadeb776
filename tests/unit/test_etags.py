"""If-Match / If-None-Match parsing."""

import pytest

from smartnote.errors import PreconditionFailed
from smartnote.etags import etag, expected_version, matches_none


def test_etag_is_quoted_version() -> None:
    assert etag(7) == '"7"'


@pytest.mark.parametrize(
    ("header", "version"), [(None, None), ("*", None), ('"3"', 3), ('W/"4"', 4), ('"x", "5"', 5)]
)
def test_expected_version(header: str | None, version: int | None) -> None:
    assert expected_version(header) == version


@pytest.mark.parametrize(
    "header", ["3", '"abc"', "", '"-1"', '"' + "1" * 5000 + '"', '"\u00b2"', '"\u0663"']
)
def test_malformed_if_match_never_matches(header: str) -> None:
    with pytest.raises(PreconditionFailed):
        expected_version(header)


def test_if_none_match() -> None:
    assert matches_none('"2"', 2)
    assert matches_none('"1", W/"2"', 2)
    assert matches_none("*", 9)
    assert not matches_none('"1"', 2)
    assert not matches_none(None, 2)
