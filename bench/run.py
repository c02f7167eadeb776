"""`make bench`: every case side by side in one run; a table, results/latest.json and plots.

Sizes and repeats are bounded for a shared 2-core machine; BENCH_QUICK=1 shrinks them.
BENCH_CASES=warm,coldstart re-runs only those cases and keeps the others from latest.json
(cases: warm, coldstart, scaling, images).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import coldstart, images, memory, scaling, scaling_report, warm
from bench.common import table

RESULTS = Path(__file__).resolve().parent / "results"


def report(results: dict[str, Any]) -> str:
    w, r = results["warm"]["warm"], results["warm"]["reuse"]
    out = ["(a) warm GET /notes/{id} through the notes handler vs bare Mangum+FastAPI (ms)"]
    out.append(
        table(
            [
                [name, w[key]["median_ms"], w[key]["p95_ms"]]
                for name, key in [
                    ("notes total", "notes_get_total"),
                    ("notes DB (Mongo+SQL)", "notes_get_db"),
                    ("notes own (total-DB)", "notes_get_own"),
                    ("bare hello", "bare_hello"),
                    ("users GET /users/me total", "users_get_me_total"),
                ]
            ]
            + [
                [
                    "ratio own/bare (target <= 1.5)",
                    w["ratio_own_vs_bare_median"],
                    w["ratio_own_vs_bare_p95"],
                ]
            ],
            ["case", "median", "p95"],
        )
    )
    if "what_if" in w:
        out.append(
            "\nwhere the own time goes: the same GET with parts left out (what-ifs, not shipped)"
        )
        out.append(
            table(
                [
                    ["as shipped", w["notes_get_own"]["median_ms"], w["ratio_own_vs_bare_median"]],
                    *(
                        [
                            label,
                            w["what_if"][key]["median_ms"],
                            w["what_if"][key]["ratio_vs_bare_median"],
                        ]
                        for key, label in warm.WHAT_IFS.items()
                    ),
                ],
                ["notes own", "median", "vs bare"],
            )
        )
    out.append(f"\n(c) connection reuse over {r['invocations']} warm invocations")
    out.append(table([[k, v] for k, v in r.items() if k != "invocations"], ["what", "value"]))
    c = results["coldstart"]["targets"]
    out.append(f"\n(b) cold start, fresh processes (median of {results['coldstart']['samples']})")
    out.append(
        table(
            [
                [
                    t,
                    v["import_ms"],
                    v.get("import_vs_reference", "1.00"),
                    v.get("import_cpu_ms", "-"),
                    v.get("import_cpu_vs_reference", "1.00"),
                    v.get("instructions_vs_reference", "1.00" if t == "reference" else "-"),
                    v["rss_after_import_mb"],
                    v.get("first_invocation_ms", "-"),
                    v.get("cold_start_ms", "-"),
                    v.get("rss_after_first_invocation_mb", "-"),
                ]
                for t, v in c.items()
            ],
            [
                "target",
                "import ms",
                "vs ref (<=0.6)",
                "CPU ms",
                "CPU vs ref",
                "instr. vs ref",
                "RSS MB (<=60)",
                "1st call ms",
                "import+1st ms",
                "RSS after",
            ],
        )
    )
    out.append(scaling_report.report(results["scaling"]))
    if "images" in results:
        out.append(images.report(results["images"]))
    if "memory" in results:
        m = results["memory"]
        out.append(
            f"\n(f) Lambda memory: modelled ms of each CPU path per size (1 vCPU at "
            f"{m['full_vcpu_mb']} MB; argon2 hash {m['argon2_hash_ms']} ms, "
            f"{m['argon2_memory_mib']} MiB)"
        )
        out.append(table(memory.report_rows(m), memory.REPORT_HEADER))
    return "\n".join(out)


def plots(results: dict[str, Any], raw: dict[str, list[float]] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if raw is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.hist([raw["notes_own"], raw["bare"]], bins=60, label=["notes own", "bare hello"])
        ax.set_xlabel("ms per warm invocation")
        ax.legend()
        fig.savefig(RESULTS / "warm.png", dpi=80)
        plt.close(fig)
    scaling_report.plot(results["scaling"], plt, RESULTS / "scaling.png")
    if "images" in results:
        images.plot(results["images"], plt, RESULTS / "images.png")


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
    started = time.time()
    cases = os.environ.get("BENCH_CASES", "warm,coldstart,scaling,images,memory").split(",")
    previous = RESULTS / "latest.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    results.update(
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        python=sys.version.split()[0],
        machine=platform.machine(),
        cpus=os.cpu_count(),
        cases_run=cases,
    )
    if "warm" in cases:
        results["warm"] = warm.run(300 if quick else 2000)
    if "coldstart" in cases:
        results["coldstart"] = coldstart.run(2 if quick else 5)
    if "scaling" in cases:
        results["scaling"] = scaling.run([1000, 5000] if quick else sizes, 3 if quick else 5)
    if "images" in cases:
        results["images"] = images.run(1 if quick else 5)
    if "memory" in cases:  # from the other cases' results, so last
        results["memory"] = memory.run(results)
    results["duration_s"] = round(time.time() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    text = report(results)
    print(text)
    (RESULTS / "latest.txt").write_text(text + "\n")
    raw = results["warm"].pop("raw", None)  # per-sample data: plots only, not committed
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    plots(results, raw)
    print(f"\nwrote {RESULTS}/latest.json, latest.txt, warm.png, scaling.png, images.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
