"""Deploys that broke the Tesseract program: a directory that stands for the image function's
PATH, holding no `tesseract`, or one that cannot read a page.

pytesseract checks the program's version at its first OCR in a process and remembers it after
a success: a cold container meets the broken program in that check, a warm one (which read a
page before) when it runs it on a page, and each says why in its own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BrokenTesseract:
    """A `tesseract` on PATH (None: none at all), its mode, and what the log says of it."""

    script: str | None
    mode: int
    cold_cause: str  # in the log of a container that never read a page
    warm_cause: str  # in the log of one that did


_LOADER = "tesseract: error while loading shared libraries: libtesseract.so.5"

BROKEN = {
    "missing": BrokenTesseract(None, 0, "not installed", "not installed"),
    # Copied without its execute bit.
    "not executable": BrokenTesseract(
        "#!/bin/sh\nexit 0\n", 0o644, "Permission denied", "Permission denied"
    ),
    # A binary whose shared library the image lacks: the dynamic loader's error and status.
    "missing a library": BrokenTesseract(
        f"#!/bin/sh\necho '{_LOADER}' >&2\nexit 127\n",
        0o755,
        "error while loading shared libraries",
        "error while loading shared libraries",
    ),
    # Another program by that name: no version pytesseract knows, and no output files.
    "another program": BrokenTesseract(
        "#!/bin/sh\necho 'tesseract (not really)'\nexit 0\n",
        0o755,
        "Invalid tesseract version",
        "No such file or directory",
    ),
}


def install(kind: str, directory: Path) -> str:
    """Put the broken Tesseract of `kind` in `directory`; returns the PATH that finds it."""
    broken = BROKEN[kind]
    if broken.script is not None:
        program = directory / "tesseract"
        program.write_text(broken.script)
        program.chmod(broken.mode)
    return str(directory)
