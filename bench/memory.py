"""Case (f): Lambda memory per function, from the CPU times the other cases measured.

Lambda gives a function CPU in proportion to its memory: 1 769 MB is one full vCPU, and a
single-threaded Python process gains nothing above it. A path that only computes therefore
costs the same at any size up to 1 769 MB (time shrinks as the price per ms grows) and only
its latency changes; a path that waits on a database costs more at a larger size. This case
measures the one CPU-heavy step no other case does (argon2 at the production settings),
takes import, first-call and warm-call CPU from the cold-start and warm cases, and models the
latency of each at the sizes Lambda offers. The template's `MemorySize` per function follows
from this table (docs/configuration.md, "Memory per function").
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.coldstart import DOCS_BUILT, FUNCTIONS
from smartnote.config import Settings
from smartnote.security import PasswordHasher

FULL_VCPU_MB = 1769
SIZES_MB = [256, 512, 1024, 1769]
# What each function runs on its CPU-heavy path, besides importing itself.
HASHING = {"auth", "users"}


def _defaults() -> Settings:
    """The built-in settings, whatever this process's environment says (the bench cheapens
    argon2 for its own registrations)."""
    return Settings.model_construct()


def argon2_hash_ms(repeats: int = 5) -> float:
    """Median time of one password hash at the production argon2 settings."""
    hasher = PasswordHasher(_defaults())
    hasher.hash("warm-up-password-1")  # passlib + argon2 import and set-up
    samples = []
    for n in range(repeats):
        start = time.perf_counter()
        hasher.hash(f"tulip-orbit-{n}-canyon")
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 1)


def at_size(cpu_ms: float, memory_mb: int) -> float:
    """Modelled wall time of `cpu_ms` of single-threaded work at `memory_mb`."""
    return round(cpu_ms * FULL_VCPU_MB / min(memory_mb, FULL_VCPU_MB), 1)


def _entry(rss_mb: float | None, paths: dict[str, float]) -> dict[str, Any]:
    """One function's CPU paths, as measured and as modelled at each size."""
    return {
        "rss_mb": rss_mb,
        "cpu_ms": {path: round(ms, 1) for path, ms in paths.items()},
        "modelled_ms": {
            path: {str(size): at_size(ms, size) for size in SIZES_MB} for path, ms in paths.items()
        },
    }


def run(results: dict[str, Any]) -> dict[str, Any]:
    hash_ms = argon2_hash_ms()
    warm_own = results.get("warm", {}).get("warm", {}).get("notes_get_own", {}).get("median_ms")
    functions: dict[str, Any] = {}
    targets = results.get("coldstart", {}).get("targets", {})
    for name in FUNCTIONS:
        # The docs function as Lambda runs it: with the OpenAPI document its build writes.
        measured = targets.get(DOCS_BUILT if name == "docs" else name)
        if measured is None or "first_invocation_ms" not in measured:
            continue
        paths = {
            "cold start (import + 1st call)": measured["import_ms"]
            + measured["first_invocation_ms"]
        }
        if name == "notes" and warm_own is not None:
            paths["warm GET /notes/{id} (own CPU)"] = warm_own
        if name in HASHING:
            paths["password hash"] = hash_ms
        functions[name] = _entry(measured.get("rss_after_first_invocation_mb"), paths)
    pages = results.get("images", {}).get("ocr", {}).get("pages", {})
    if pages:  # the image function: one photographed page, processed and read
        ocr_ms = max(page["ours"]["median_ms"] for page in pages.values())
        functions["image"] = _entry(None, {"OCR of one page (slowest sample page)": ocr_ms})
    return {
        "argon2_hash_ms": hash_ms,
        "argon2_memory_mib": _defaults().argon2_memory_cost_kib // 1024,
        "full_vcpu_mb": FULL_VCPU_MB,
        "functions": functions,
    }


def report_rows(memory: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, data in memory["functions"].items():
        for path, by_size in data["modelled_ms"].items():
            rows.append([name, data["rss_mb"], path, *by_size.values()])
    return rows


REPORT_HEADER = ["function", "RSS MB", "path", *[f"{size} MB" for size in SIZES_MB]]
