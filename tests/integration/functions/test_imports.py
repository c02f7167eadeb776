"""Each API function imports only what it uses: checked in a fresh interpreter per function.

Cold start is import time; `make bench` measures it, this keeps heavy modules from creeping
back in: the drivers a function loads at start are pinned exactly (PyMongo ~45 ms,
SQLAlchemy Core ~85 ms and never its ORM, another ~40 ms, in `-X importtime` terms; jose),
boto3 (~100 ms), passlib + argon2 (~30 ms) and alembic are loaded on first use only, and
OpenCV/numpy never.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NEVER = {"numpy", "cv2", "PIL", "boto3", "botocore", "alembic", "moto", "yaml", "httpx"}
# The drivers each function loads at start: only those its routes need on every request.
# users loads PyMongo in account deletion only; docs loads everything on the first
# /openapi.json or /health, never at start.
# (jose also loads cryptography where it is installed, as here for moto; the functions' layer
# does not ship it: deploy.artifacts `lean` and tests/unit/test_security.py.)
DRIVERS = {"pymongo", "sqlalchemy", "pg8000", "jose", "passlib", "argon2"}
LOADS = {
    "auth": {"sqlalchemy", "jose"},
    "users": {"sqlalchemy", "jose"},
    "notes": {"pymongo", "sqlalchemy", "jose"},
    "attachments": {"pymongo", "sqlalchemy", "jose"},
    "docs": set(),
}


def _imported(function: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'functions' / function)!r})\n"
        "import app\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", sorted(LOADS))
def test_function_imports_only_what_it_uses(function: str) -> None:
    imported = _imported(function)
    packages = {name.split(".")[0] for name in imported}
    assert "fastapi" in packages  # the probe really loaded the app
    assert packages & NEVER == set()
    assert packages & DRIVERS == LOADS[function]
    # The engine loads its own dialect on first use; the write limiter must not load them all.
    assert "sqlalchemy.dialects.postgresql" not in imported
    assert "sqlalchemy.orm" not in imported  # SQLAlchemy Core only (smartnote.db.sql)


def test_every_api_function_is_checked() -> None:
    template = (ROOT / "template.yaml").read_text()
    handlers = {
        path.parent.name
        for path in (ROOT / "functions").glob("*/app.py")
        if f"CodeUri: functions/{path.parent.name}" in template
    }
    assert handlers - {"migrate"} == set(LOADS)
