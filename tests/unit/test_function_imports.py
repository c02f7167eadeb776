"""The API functions stay light: none of them imports OpenCV, numpy or the image pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("cv2", "numpy", "pytesseract", "smartnote.images", "smartnote.jobs.images")

CHECK = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("fn_app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(",".join(name for name in sys.argv[2:] if name in sys.modules))
"""


@pytest.mark.parametrize("function", ["attachments", "notes", "users", "auth", "docs"])
def test_api_function_does_not_import_the_image_stack(function: str) -> None:
    app = ROOT / "functions" / function / "app.py"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(app), *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == ""


def test_image_function_imports_the_pipeline() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(ROOT / "functions/image/handler.py"), *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert set(result.stdout.strip().split(",")) == set(HEAVY)


@pytest.mark.parametrize("function", ["attachments", "notes", "users", "auth", "docs"])
def test_api_function_does_not_import_pydantic_v1(function: str) -> None:
    """smartnote.fastapi_compat: FastAPI's pydantic.v1 probe cost every cold start 11 ms
    and 2.4 MB to refuse models we never declare."""
    app = ROOT / "functions" / function / "app.py"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(app), "pydantic.v1"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == ""


def test_a_pydantic_v1_model_is_still_refused_when_a_route_declares_it() -> None:
    from fastapi import APIRouter
    from fastapi.exceptions import FastAPIError
    from pydantic import v1

    import smartnote.routes  # noqa: F401 - the probe replaced

    class Legacy(v1.BaseModel):
        name: str

    router = APIRouter()
    with pytest.raises(FastAPIError, match=r"pydantic\.v1 models are no longer supported"):

        @router.get("/legacy", response_model=Legacy)
        def legacy() -> None: ...


ENTRY_MODULES = sorted(
    path.relative_to(ROOT / "functions")
    for pattern in ("*/app.py", "*/handler.py")
    for path in (ROOT / "functions").glob(pattern)
)

COLLECTIONS_DURING_IMPORT = """
import gc, sys, types
path = sys.argv[1]
with open(path) as source:  # compiled first: on Lambda the build ships the bytecode
    code = compile(source.read(), path, "exec")
module = types.ModuleType("fn_entry")
module.__file__ = path
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
exec(code, module.__dict__)
print(len(collections), gc.isenabled(), gc.get_freeze_count())
"""


def test_every_function_has_an_entry_module() -> None:
    assert {path.parts[0] for path in ENTRY_MODULES} == {
        path.name for path in (ROOT / "functions").iterdir() if path.is_dir()
    }


@pytest.mark.parametrize("entry", ENTRY_MODULES, ids=str)
def test_function_import_runs_no_collection_and_freezes_what_it_built(entry: Path) -> None:
    """smartnote.startup: a cold start spends no time in the cyclic collector, and later
    collections (warm invocations) never walk the objects the import built."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_DURING_IMPORT, str(ROOT / "functions" / entry)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    collections, enabled, frozen = result.stdout.split()
    assert int(collections) == 0
    assert enabled == "True"  # collecting again for the invocations
    assert int(frozen) > 50_000  # the modules, classes and schemas the import built
