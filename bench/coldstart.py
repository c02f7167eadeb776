"""Case (b): cold start of each API function in fresh processes, vs the naive import set.

Parent: `run()` starts one local stack, then spawns `python -S -m bench.coldstart <target>` per
sample (targets interleaved so machine noise hits all alike), on the functions' runtime as
Lambda lays it out: the shared layer's packages and boto3, no venv (bench/layer.py). The
reference imports come from the same folders. Child: imports the target,
reports import time, RSS after import, the heavy packages it pulled in and (for functions)
the first invocation's time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ["auth", "users", "notes", "attachments", "docs"]
REFERENCE = "reference"
NO_PYC = "notes without .pyc"
# The docs function as deploy/build.sh lays it out: with the merged OpenAPI document written
# beside its handler. Plain "docs" runs from functions/docs, as the local stack does, and
# builds the document on its first request.
DOCS_BUILT = "docs as built"
REFERENCE_IMPORTS = [
    "fastapi",
    "mangum",
    "pymongo",
    "sqlalchemy",
    "pg8000",
    "jose",
    "passlib",
    "boto3",
]
WATCH = [
    "boto3",
    "botocore",
    "numpy",
    "cv2",
    "PIL",
    "alembic",
    "yaml",
    "moto",
    "passlib",
    "argon2",
    "jose",
    "cryptography",
    "sqlalchemy",
    "pg8000",
    "pymongo",
    "email_validator",
    "multipart",
    "httpx",
    "anyio",
    "starlette",
    "fastapi",
    "pydantic",
    "mangum",
]


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _child(target: str) -> dict[str, Any]:
    start = time.perf_counter()
    cpu_start = time.process_time()
    if target == REFERENCE:
        for name in REFERENCE_IMPORTS:
            __import__(name)
        handler = None
    else:
        sys.path.insert(0, os.environ.get("BENCH_FUNCTION_DIR") or str(ROOT / "functions" / target))
        import app  # type: ignore[import-not-found]

        handler = app.handler
    import_s = time.perf_counter() - start
    result: dict[str, Any] = {
        "import_ms": round(import_s * 1000, 1),
        # CPU time of the import: on a shared machine it varies far less than wall time.
        "import_cpu_ms": round((time.process_time() - cpu_start) * 1000, 1),
        "rss_after_import_mb": _rss_mb(),
        "imports": sorted(m for m in WATCH if m in sys.modules),
    }
    if handler is not None:
        from bench.events import api_event
        from smartnote.local.events import LambdaContext

        token = os.environ.get("BENCH_TOKEN")
        note = os.environ.get("BENCH_NOTE_ID", "")
        event = {
            "auth": api_event(
                "GET", "/auth/sessions", token, "/auth/{proxy+}", {"proxy": "sessions"}
            ),
            "users": api_event("GET", "/users/me", token, "/users/{proxy+}", {"proxy": "me"}),
            "notes": api_event("GET", "/notes", token, "/notes"),
            "attachments": api_event(
                "GET",
                f"/notes/{note}/attachments",
                token,
                "/notes/{note_id}/attachments",
                {"note_id": note},
            ),
            "docs": api_event("GET", "/openapi.json", None, "/openapi.json"),
        }[target]
        context = LambdaContext(function_name=target, memory_limit_in_mb=512, timeout_seconds=15)
        start = time.perf_counter()
        response = handler(event, context)
        result["first_invocation_ms"] = round((time.perf_counter() - start) * 1000, 1)
        result["first_status"] = response["statusCode"]
        result["rss_after_first_invocation_mb"] = _rss_mb()
    return result


def _built_docs_function(folder: Path) -> Path:
    """The docs function's handler with the document the build writes beside it."""
    from smartnote.openapi import PREBUILT_NAME, write_merged_openapi

    shutil.copy(ROOT / "functions" / "docs" / "app.py", folder / "app.py")
    write_merged_openapi(folder / PREBUILT_NAME)
    return folder


def _python(
    env: dict[str, str], *args: str, under: Sequence[str] = (), timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """A `python -S` child (no site-packages: only `env`'s PYTHONPATH, the functions' runtime)
    with `args`, run `under` a tool if given; its output captured, failure raised."""
    return subprocess.run(
        [*under, sys.executable, "-S", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )


def _spawn(target: str, env: dict[str, str]) -> dict[str, Any]:
    out = _python(env, "-m", "bench.coldstart", target)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _import_code(target: str) -> str:
    if target == REFERENCE:
        return "; ".join(f"import {m}" for m in REFERENCE_IMPORTS)
    return f"import sys; sys.path.insert(0, 'functions/{target}'); import app"


def import_instructions(target: str, env: dict[str, str]) -> int | None:
    """Instructions the import executes, counted by valgrind's callgrind: unlike its time, the
    same in every run whatever else the machine is doing. None without valgrind, or with
    BENCH_INSTRUCTIONS=0 (about 30 s per target under callgrind)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None or os.environ.get("BENCH_INSTRUCTIONS") == "0":
        return None
    callgrind = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = _python(env, "-c", _import_code(target), under=callgrind, timeout=900)
    collected = re.search(r"Collected : (\d+)", out.stderr)
    return int(collected.group(1)) if collected else None


def import_tree(target: str, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The heaviest top-level packages by cumulative import time (python -X importtime)."""
    out = _python(env, "-X", "importtime", "-c", _import_code(target))
    # Inclusive time of each top-level package (where it was first imported, nesting included).
    packages: dict[str, float] = {}
    skip = {"app", "site", "encodings", "io", "zipimport", "_signal", "_frozen_importlib_external"}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        package = name.strip()
        if cumulative.strip().isdigit() and "." not in package and package not in skip:
            packages[package] = max(packages.get(package, 0.0), int(cumulative) / 1000)
    return sorted(((k, round(v, 1)) for k, v in packages.items()), key=lambda kv: -kv[1])[:top]


def run(samples: int = 5) -> dict[str, Any]:
    import httpx

    from bench.common import local_stack, register, secantus_process
    from bench.layer import runtime_pythonpath

    with (
        secantus_process() as mongo_uri,
        local_stack(mongo_uri) as (gateway, stack_env),
        tempfile.TemporaryDirectory(prefix="smartnote-docs-") as built_docs,
    ):
        user = register(gateway.url, "cold@example.com")
        note = httpx.post(
            f"{gateway.url}/notes", json={"title": "cold"}, headers=user.headers, timeout=30
        )
        note.raise_for_status()
        env = {
            **os.environ,
            **stack_env,
            "BENCH_TOKEN": user.token,
            "BENCH_NOTE_ID": note.json()["id"],
            # The function's runtime as Lambda has it, not the development venv (bench/layer.py).
            "PYTHONPATH": runtime_pythonpath(),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value, even "0", turns writing off
        docs_env = {**env, "BENCH_FUNCTION_DIR": str(_built_docs_function(Path(built_docs)))}
        for target in [REFERENCE, *FUNCTIONS]:  # compile .pyc once, like a built artifact
            _spawn(target, env)
        _spawn("docs", docs_env)
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in [REFERENCE, *FUNCTIONS]}
        runs[DOCS_BUILT] = []
        runs[NO_PYC] = []
        for _ in range(samples):
            for target, results in runs.items():
                if target == NO_PYC:  # an artifact without bytecode: everything compiles
                    with tempfile.TemporaryDirectory() as empty:
                        bare = {**env, "PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
                        results.append(_spawn("notes", bare))
                elif target == DOCS_BUILT:
                    results.append(_spawn("docs", docs_env))
                else:
                    results.append(_spawn(target, env))
        trees = {t: import_tree(t, env) for t in runs if t not in (NO_PYC, DOCS_BUILT)}
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            counted = list(pool.map(lambda t: import_instructions(t, env), trees))
        instructions = dict(zip(trees, counted, strict=True))
    ref_ms = statistics.median(r["import_ms"] for r in runs[REFERENCE])
    ref_cpu_ms = statistics.median(r["import_cpu_ms"] for r in runs[REFERENCE])
    table: dict[str, Any] = {}
    for target, results in runs.items():
        row: dict[str, Any] = {
            "import_ms": statistics.median(r["import_ms"] for r in results),
            "import_cpu_ms": statistics.median(r["import_cpu_ms"] for r in results),
            "rss_after_import_mb": statistics.median(r["rss_after_import_mb"] for r in results),
            "imports": results[-1]["imports"],
            "heaviest_imports_ms": trees.get(target, []),
            "import_instructions": instructions.get(target),
        }
        if target != REFERENCE:
            row["first_invocation_ms"] = statistics.median(
                r["first_invocation_ms"] for r in results
            )
            # What a new container costs its first caller (a lazy import only moves time here).
            row["cold_start_ms"] = round(
                statistics.median(r["import_ms"] + r["first_invocation_ms"] for r in results), 1
            )
            row["first_status"] = results[-1]["first_status"]
            row["rss_after_first_invocation_mb"] = statistics.median(
                r["rss_after_first_invocation_mb"] for r in results
            )
            row["import_vs_reference"] = round(row["import_ms"] / ref_ms, 2)
            row["import_cpu_vs_reference"] = round(row["import_cpu_ms"] / ref_cpu_ms, 2)
            if row["import_instructions"] and instructions.get(REFERENCE):
                row["instructions_vs_reference"] = round(
                    row["import_instructions"] / instructions[REFERENCE], 3
                )
        table[target] = row
    return {
        "samples": samples,
        "reference_imports": REFERENCE_IMPORTS,
        "targets": table,
        "target_ratio": 0.6,
        "target_rss_mb": 60,
    }


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1])))
