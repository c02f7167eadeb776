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
