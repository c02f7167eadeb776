"""Password strength rules and the form passwords are compared in."""

import unicodedata

import pytest

from smartnote.passwords import check_password_strength, common_passwords, prepare_password


@pytest.mark.parametrize(
    "password", ["short", "123456789", "Password123", "QWERTYUIOP", "aaaaaaaaaaaa"]
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        check_password_strength(password)


def test_a_long_unusual_password_is_accepted() -> None:
    assert check_password_strength("tulip-orbit-7-canyon") == "tulip-orbit-7-canyon"


def test_common_list_is_loaded_without_comments() -> None:
    loaded = common_passwords()
    assert "password123" in loaded
    assert not any(entry.startswith("#") for entry in loaded)


@pytest.mark.parametrize(
    ("typed", "prepared"),
    [
        ("tulip-orbit-7-canyon", "tulip-orbit-7-canyon"),
        (unicodedata.normalize("NFD", "zo\u00eb-na\u00efve"), "zo\u00eb-na\u00efve"),
        ("a\u00a0b\u2009c\u3000d\u202fe\u1680f", "a b c d e f"),  # every Zs is U+0020
        ("\u2000", " "),  # its canonical decomposition is a space too, mapped first
        ("tab\tand\u200bzero-width", "tab\tand\u200bzero-width"),  # no Zs: kept
        ("\uff30\uff41\uff53\uff53", "\uff30\uff41\uff53\uff53"),  # no width mapping (RFC 8265)
    ],
)
def test_passwords_are_prepared_as_rfc_8265_opaque_strings(typed: str, prepared: str) -> None:
    assert prepare_password(typed) == prepared
    assert prepare_password(prepared) == prepared


@pytest.mark.parametrize(
    "password",
    [
        unicodedata.normalize("NFD", "caf\u00e9-th\u00e9!"),  # 11 code points, 9 prepared
        "ab\u00a0ab ab\u00a0ab",  # four distinct characters, three prepared
    ],
)
def test_the_rules_count_the_prepared_password(password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        check_password_strength(password)


def test_an_acceptable_password_is_returned_as_given() -> None:
    typed = unicodedata.normalize("NFD", "zo\u00eb-na\u00efve-7")
    assert check_password_strength(typed) == typed
