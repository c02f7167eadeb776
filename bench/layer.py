"""The functions' runtime as Lambda lays it out, for the cold-start case (bench/coldstart.py).

Lambda's sys.path is the function's folder, its layers (/opt/python) and the runtime's boto3
(/var/runtime): no site-packages. The development venv holds much more (moto, pytest, and
cryptography, which jose loads whenever it is installed), so importing a function there
measures a different program. Here the shared layer's packages are installed with pip
`--target` from shared/requirements.txt, boto3 (at the venv's version) in a runtime folder
beside it, all compiled to unchecked-hash .pyc like deploy/build.sh does; children run with
`python -S` and `runtime_pythonpath()`. Built once per requirements and Python version, under
.bench-layer/ (about 20 s).
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.metadata
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench-layer"
REQUIREMENTS = ROOT / "shared" / "requirements.txt"


def _key(boto3_version: str) -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{sys.version}|boto3=={boto3_version}".encode())
    return digest.hexdigest()[:16]


def _pip_target(target: Path, *requirements: str) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--target", str(target), *requirements],
        check=True,
        timeout=900,
    )


def built_runtime() -> tuple[Path, Path]:
    """(layer, runtime): the shared layer's packages and the runtime's boto3, built if needed."""
    boto3_version = importlib.metadata.version("boto3")
    home = CACHE / _key(boto3_version)
    layer, runtime = home / "python", home / "runtime"
    if not home.is_dir():
        CACHE.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="building-", dir=CACHE))
        try:
            print(f"building the functions' runtime in {home} (once)", file=sys.stderr)
            _pip_target(staging / "python", "-r", str(REQUIREMENTS))
            _pip_target(staging / "runtime", f"boto3=={boto3_version}")
            compileall.compile_dir(
                staging,
                quiet=1,
                workers=0,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            staging.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return layer, runtime


def runtime_pythonpath() -> str:
    """PYTHONPATH of a `python -S` child: our sources (the shared package, as in the layer, and
    the bench package), then the layer's packages, then the runtime's boto3."""
    layer, runtime = built_runtime()
    return os.pathsep.join(str(p) for p in (ROOT / "shared", ROOT, layer, runtime))
