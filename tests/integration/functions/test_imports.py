"""Each API function imports only what it uses: checked in a fresh interpreter per function.

Cold start is import time; `make bench` measures it, this keeps heavy modules from creeping
back in (boto3 ~100 ms, passlib + argon2 ~30 ms, alembic, and never OpenCV/numpy).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NEVER = {"numpy", "cv2", "PIL", "boto3", "botocore", "alembic", "moto", "yaml", "httpx"}
# What a function may not import at load time, on top of NEVER.
NOT_AT_IMPORT = {"notes": {"passlib", "argon2"}, "docs": {"passlib", "argon2"}}


def _imported(function: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'functions' / function)!r})\n"
        "import app\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", ["auth", "users", "notes", "docs"])
def test_function_imports_only_what_it_uses(function: str) -> None:
    imported = _imported(function)
    assert "fastapi" in imported  # the probe really loaded the app
    assert imported & (NEVER | NOT_AT_IMPORT.get(function, set())) == set()
