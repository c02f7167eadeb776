"""Password strength rules."""

import pytest

from smartnote.passwords import check_password_strength, common_passwords


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
