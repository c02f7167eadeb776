"""`make load`: Locust, headless, against the local gateway and against uvicorn (the ceiling).

Same process serves both (one after the other, same embedded databases); each run is bounded
(LOAD_SECONDS per concurrency level, LOAD_USERS levels), loopback only. Writes
loadtests/results/: report-<target>.html, summary.json/.txt, latency_over_time.png,
latency_vs_concurrency.png.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from bench.common import local_stack, template
from loadtests.direct import dispatcher
from smartnote.local.services import LOCALHOST, free_port

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))
USERS = [int(u) for u in os.environ.get("LOAD_USERS", "5,10,20,40").split(",")]


def locust(host: str, users: int, prefix: Path, html: Path | None) -> dict[str, Any]:
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--host",
        host,
        "-u",
        str(users),
        "-r",
        str(max(1, users // 2)),
        "-t",
        f"{SECONDS}s",
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--only-summary",
        "--stop-timeout",
        "5",
        "--loglevel",
        "WARNING",
    ]
    if html is not None:
        command += ["--html", str(html)]
    subprocess.run(command, check=False, timeout=SECONDS + 120, capture_output=True)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        total = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "users": users,
        "requests": int(total["Request Count"]),
        "errors": int(total["Failure Count"]),
        "rps": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
    }


def history(prefix: Path) -> list[tuple[float, float, float]]:
    """(seconds since start, p50, p95) of the aggregated rows, for the over-time plot."""
    rows = []
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated" and row["50%"] not in ("N/A", "0"):
                rows.append((float(row["Timestamp"]), float(row["50%"]), float(row["95%"])))
    start = rows[0][0] if rows else 0.0
    return [(t - start, p50, p95) for t, p50, p95 in rows]


def serve_direct() -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(
        dispatcher(template()),
        host=LOCALHOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://{LOCALHOST}:{port}"


def plots(results: dict[str, Any], over_time: dict[str, list[tuple[float, float, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for target, points in over_time.items():
        ax.plot([p[0] for p in points], [p[2] for p in points], label=f"{target} p95")
        ax.plot([p[0] for p in points], [p[1] for p in points], "--", label=f"{target} p50")
    ax.set_xlabel(f"seconds (at {max(USERS)} users)")
    ax.set_ylabel("ms")
    ax.legend()
    fig.savefig(RESULTS / "latency_over_time.png", dpi=80)
    plt.close(fig)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for target, runs in results["targets"].items():
        users = [r["users"] for r in runs]
        left.plot(users, [r["p99_ms"] for r in runs], marker="o", label=f"{target} p99")
        left.plot(users, [r["p50_ms"] for r in runs], "--", marker="o", label=f"{target} p50")
        right.plot(users, [r["rps"] for r in runs], marker="o", label=target)
    left.set_xlabel("concurrent users")
    left.set_ylabel("ms")
    right.set_xlabel("concurrent users")
    right.set_ylabel("requests/s")
    left.legend()
    right.legend()
    fig.savefig(RESULTS / "latency_vs_concurrency.png", dpi=80)
    plt.close(fig)


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {"seconds_per_level": SECONDS, "targets": {}}
    over_time: dict[str, list[tuple[float, float, float]]] = {}
    with local_stack() as (gateway, _env):
        direct, direct_url = serve_direct()
        try:
            for target, url in [("gateway", gateway.url), ("direct", direct_url)]:
                runs = []
                for users in USERS:
                    prefix = RESULTS / f"{target}-{users}"
                    html = RESULTS / f"report-{target}.html" if users == max(USERS) else None
                    runs.append(locust(url, users, prefix, html))
                    if users == max(USERS):
                        over_time[target] = history(prefix)
                results["targets"][target] = runs
        finally:
            direct.should_exit = True
    best = {t: max(runs, key=lambda r: r["rps"]) for t, runs in results["targets"].items()}
    results["gateway_vs_direct_rps"] = round(best["gateway"]["rps"] / best["direct"]["rps"], 2)
    lines = ["target   users  requests  errors  RPS     p50  p95  p99 (ms)"]
    for target, runs in results["targets"].items():
        for r in runs:
            lines.append(
                f"{target:<8} {r['users']:>5}  {r['requests']:>8}  {r['errors']:>6}  "
                f"{r['rps']:>6}  {r['p50_ms']:>4.0f} {r['p95_ms']:>4.0f} {r['p99_ms']:>4.0f}"
            )
    lines.append(f"gateway/direct best RPS: {results['gateway_vs_direct_rps']} (target >= 0.4)")
    text = "\n".join(lines)
    print(text)
    (RESULTS / "summary.txt").write_text(text + "\n")
    (RESULTS / "summary.json").write_text(json.dumps(results, indent=1) + "\n")
    plots(results, over_time)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
