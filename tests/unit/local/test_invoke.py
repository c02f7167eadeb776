"""`make invoke` (smartnote.local.invoke): a bad command line is a clear message and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartnote.local import invoke

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = str(ROOT / "template.yaml")


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert invoke.main([*args, "--template", TEMPLATE]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b'{"httpMethod": "GET",', "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"", "is not valid JSON"),
    ],
    ids=["truncated", "not-utf8", "empty"],
)
def test_an_event_file_that_is_not_json_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, complaint: str
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(content)
    err = _refused(capsys, "notes", str(event))
    assert str(event) in err and complaint in err


def test_a_directory_given_as_the_event_is_named_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(capsys, "notes", str(tmp_path))
    assert f"{tmp_path} is a directory" in err


def test_a_missing_event_file_and_an_unknown_function_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "does not exist" in _refused(capsys, "notes", str(tmp_path / "missing.json"))
    assert "no function 'nope'" in _refused(capsys, "nope")
