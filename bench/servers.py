"""The embedded MongoDB wire-protocol servers that case (d) compares, each started in its own
process and in memory; and the look-alikes it leaves out, with the reason."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ["secantusdb", "nx-27017", "mongoeco"]
NOT_WIRE = "an in-process PyMongo look-alike, not a wire-protocol server the Lambdas can reach"
EXCLUDED = {
    "litemongo": NOT_WIRE,
    "tinymongo": NOT_WIRE,
    "mongita": NOT_WIRE,
    "montydb": NOT_WIRE,
    "mongomock": NOT_WIRE,
    "pymongo-inmemory": "downloads a real mongod binary at run time (not reachable here)",
}
# mongoeco 4.11 needs Python >= 3.13: its own venv, created on first use, outside the repo.
MONGOECO_REQUIREMENT = "mongoeco[wire]==4.11.0"
MONGOECO_VENV = ROOT / ".local" / "bench" / "mongoeco-venv"


class ServerSkipped(RuntimeError):
    """The candidate cannot be started on this machine; the message says why."""


def _runs_313(path: str) -> bool:
    if not path or not os.access(path, os.X_OK):
        return False
    check = "import sys; sys.exit(sys.version_info < (3, 13))"
    return subprocess.run([path, "-c", check], check=False, capture_output=True).returncode == 0


def python_313() -> str | None:
    """A Python >= 3.13 interpreter: $MONGOECO_PYTHON, python3.13 on PATH or pyenv's."""
    found = [
        os.environ.get("MONGOECO_PYTHON", ""),
        shutil.which("python3.13") or "",  # may be a pyenv shim that refuses to run
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python"))),
    ]
    return next((path for path in found if _runs_313(path)), None)


def mongoeco_python() -> Path:
    """The interpreter of mongoeco's venv, created with `mongoeco[wire]` if missing."""
    python = MONGOECO_VENV / "bin" / "python"
    if python.exists():
        return python
    base = python_313()
    if base is None:
        raise ServerSkipped("mongoeco 4.11 needs Python >= 3.13; none found (set MONGOECO_PYTHON)")
    try:
        subprocess.run([base, "-m", "venv", str(MONGOECO_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", MONGOECO_REQUIREMENT],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(MONGOECO_VENV, ignore_errors=True)
        why = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit code {exc.returncode}"]
        raise ServerSkipped(f"{base}: installing {MONGOECO_REQUIREMENT} failed: {why[0]}") from exc
    return python


@contextlib.contextmanager
def nx_27017() -> Iterator[str]:
    from smartnote.local.services import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        # nx-27017's own flags: it cannot print its port, so it gets a free one.
        process = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "nx-27017"), "--db", "memory"),
                *("--port", str(port), "--log-file", f"{work}/nx.log"),
                *("--pid-file", f"{work}/nx.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            with MongoClient(uri, serverSelectionTimeoutMS=20000) as client:
                client.admin.command("ping")
            yield uri
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def mongo_server(name: str) -> Iterator[str]:
    """A running candidate server (in memory), yielding its URI."""
    from bench.common import secantus_process, server_process

    if name == "secantusdb":
        server = secantus_process()
    elif name == "nx-27017":
        server = nx_27017()
    elif name == "mongoeco":
        server = server_process([str(mongoeco_python()), str(ROOT / "bench/mongoeco_server.py")])
    else:
        raise ValueError(f"unknown server {name}")
    with server as uri:
        yield uri
