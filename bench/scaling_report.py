"""Case (d) in words and pictures: the medians per server and size, and why a server or a
size has none (failed, skipped over budget, excluded as not a wire server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import table

SHAPES = ["first_page", "deep_page", "tag_filter", "q_common", "q_rare"]
NO_RESULT = ("error", "skipped", "excluded")


def _sizes(server: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return sorted((int(size), data) for size, data in server.items() if size.isdigit())


def report(result: dict[str, Any]) -> str:
    out = ["\n(d) scaling: GET /notes through the handler, median ms total / own (total - DB)"]
    rows: list[list[Any]] = []
    reasons: list[str] = []
    for server, sizes in result.items():
        for kind in NO_RESULT:
            if kind in sizes:
                reasons.append(f"  {server}: {kind}: {sizes[kind]}")
        for size, data in _sizes(sizes):
            if "skipped" in data:
                rows.append([server, size, "skipped", *[""] * (len(SHAPES) - 1)])
                reasons.append(f"  {server} at {size} notes: skipped: {data['skipped']}")
                continue
            medians = [
                (data["queries"][s]["total"]["median_ms"], data["queries"][s]["own"]["median_ms"])
                for s in SHAPES
            ]
            rows.append([server, size, *[f"{t:.1f} / {o:.1f}" for t, o in medians]])
    out.append(table(rows, ["server", "notes", *SHAPES]))
    out.extend(disagreements(result))
    if reasons:
        out.append("not measured:")
        out.extend(reasons)
    return "\n".join(out)


def disagreements(result: dict[str, Any]) -> list[str]:
    """Lines for each size and shape where the servers returned different numbers of notes."""
    items: dict[tuple[int, str], dict[str, int]] = {}
    for server, sizes in result.items():
        for size, data in _sizes(sizes):
            for shape, query in data.get("queries", {}).items():
                items.setdefault((size, shape), {})[server] = query["items"]
    return [
        f"  items differ at {size} notes, {shape}: {counts}"
        for (size, shape), counts in items.items()
        if len(set(counts.values())) > 1
    ]


def plot(result: dict[str, Any], plt: Any, path: Path) -> None:
    """One panel per query shape: median total ms against notes, a line per server."""
    fig, axes = plt.subplots(1, len(SHAPES), figsize=(16, 3.6), sharey=True)
    for server, sizes in result.items():
        points = [(n, d) for n, d in _sizes(sizes) if "queries" in d]
        if not points:
            continue
        for ax, shape in zip(axes, SHAPES, strict=True):
            ax.plot(
                [n for n, _ in points],
                [d["queries"][shape]["total"]["median_ms"] for _, d in points],
                marker="o",
                label=server,
            )
    for ax, shape in zip(axes, SHAPES, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(shape, fontsize=9)
        ax.set_xlabel("notes of the user")
    axes[0].set_ylabel("median ms per GET /notes")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
