"""The merged OpenAPI document of every function's routes (served by the docs function).

Building it imports every router, and with them every driver (PyMongo, SQLAlchemy, jose):
~0.5 s on a new docs container's first `/openapi.json`. The build (deploy/build.sh) writes it
once instead, next to the docs function's handler (`python -m smartnote.openapi <file>`), and
the function serves that file; where there is none (the local stack, a bare `sam build`) the
document is built on the first request, from the code that runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from smartnote.app import create_app

PREBUILT_NAME = "openapi.json"  # the build's file, beside the docs function's app.py

OpenApiSource = Callable[[], dict[str, Any]]


@lru_cache(maxsize=1)
def merged_openapi() -> dict[str, Any]:
    """One document for the whole API, as if every function were one app (built now, once)."""
    from smartnote.routes import attachments, auth, health, notes, users  # noqa: PLC0415

    return create_app(
        auth.router, users.router, notes.router, attachments.router, health.router
    ).openapi()


def document_source(prebuilt: Path) -> OpenApiSource:
    """What the docs function serves: the document the build wrote to `prebuilt`, read on
    the first request, or `merged_openapi` if the build left none."""
    if not prebuilt.is_file():
        return merged_openapi

    @lru_cache(maxsize=1)
    def read() -> dict[str, Any]:
        document: dict[str, Any] = json.loads(prebuilt.read_bytes())
        return document

    return read


def write_merged_openapi(path: Path) -> None:
    """Write `merged_openapi()` to `path` (compact JSON), as the build does."""
    path.write_text(json.dumps(merged_openapi(), separators=(",", ":")), encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m smartnote.openapi <output file>", file=sys.stderr)
        return 2
    write_merged_openapi(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
