"""Case (e): the image pipeline against the obvious alternatives, in the same run.

1. 12 MP JPEG -> 512 px thumbnail: ours (reduced-size JPEG decode + `transform.fit`) vs a naive
   full `cv2.imdecode` + resize vs Pillow's `draft` + `thumbnail` (target: ours <= 0.8x Pillow).
2. OCR per photographed page: ours (OpenCV pre-processing + Tesseract) vs plain Tesseract on
   the photo, both single-threaded (OMP_THREAD_LIMIT=1), with character accuracy (target:
   ours <= 1.2x plain in time, accuracy >= plain's).
3. Shrinking: `transform.fit` against OpenCV's direct INTER_AREA, time and PSNR.
4. Plain Tesseract with its default OpenMP threads vs OMP_THREAD_LIMIT=1 (what the image
   function sets).

The contenders of each comparison run in turns within every round, so load from elsewhere on
the machine falls on all of them alike. `python -m bench.images [repeat]` runs this case alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# First: sets OpenCV's pixel cap, which OpenCV reads once, when cv2 loads.
import smartnote.images  # noqa: F401

# isort: split
import cv2
import numpy as np
import pytesseract
from PIL import Image

from bench.common import summary, table
from smartnote.images import ocr, pipeline, transform
from tests.utils.images import PAGE_TEXT, character_accuracy, encode, photographed_page

THUMBNAIL_TARGET = 0.8  # ours / Pillow
OCR_TARGET = 1.2  # ours / plain Tesseract


def twelve_megapixel_jpeg() -> bytes:
    page = photographed_page(size=(1400, 1000))
    photo = cv2.resize(page, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 4, photo.shape)
    return encode(np.clip(photo + noise, 0, 255).astype(np.uint8), quality=92)


def naive_thumbnail(data: bytes) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    scale = 512 / max(height, width)
    small = cv2.resize(
        image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    return bytes(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())


def pillow_thumbnail(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (512, 512))
    image.thumbnail((512, 512))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def side_by_side(works: dict[str, Callable[[], object]], repeat: int) -> dict[str, Any]:
    """Each work once as a warm-up, then `repeat` rounds of all of them in turn; summaries."""
    times: dict[str, list[float]] = {name: [] for name in works}
    for work in works.values():
        work()
    for _ in range(repeat):
        for name, work in works.items():
            started = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - started)
    return {name: summary(samples) for name, samples in times.items()}


def _ratio(ours: dict[str, float], other: dict[str, float]) -> float:
    return round(ours["median_ms"] / other["median_ms"], 3)


def thumbnails(repeat: int) -> dict[str, Any]:
    data = twelve_megapixel_jpeg()
    out = side_by_side(
        {
            "ours": lambda: pipeline.thumbnail(data),
            "naive_cv2": lambda: naive_thumbnail(data),
            "pillow": lambda: pillow_thumbnail(data),
        },
        repeat,
    )
    return {
        "jpeg_mb": round(len(data) / 1e6, 2),
        **out,
        "ratio_ours_vs_pillow": _ratio(out["ours"], out["pillow"]),
        "target": THUMBNAIL_TARGET,
    }


PAGES: dict[str, dict[str, Any]] = {
    "tilted": {},
    "dim, tilted": {"skew_degrees": -4, "shadow": 0.6, "contrast": 60},
    "low contrast": {"skew_degrees": 3.5, "shadow": 0.55, "contrast": 70, "seed": 3},
}


def ocr_pages(repeat: int) -> dict[str, Any]:
    expected = "\n".join(PAGE_TEXT)
    pages: dict[str, Any] = {}
    for name, options in PAGES.items():
        page = photographed_page(**options)
        rgb = cv2.cvtColor(page, cv2.COLOR_BGR2RGB)
        out = side_by_side(
            {
                "ours": lambda page=page: ocr.read_text(page),
                "plain": lambda rgb=rgb: pytesseract.image_to_string(rgb),
            },
            repeat,
        )
        pages[name] = {
            **out,
            "ours_accuracy": round(character_accuracy(expected, ocr.read_text(page).text), 3),
            "plain_accuracy": round(
                character_accuracy(expected, pytesseract.image_to_string(rgb)), 3
            ),
            "ratio_ours_vs_plain": _ratio(out["ours"], out["plain"]),
        }
    ratios = [p["ratio_ours_vs_plain"] for p in pages.values()]
    return {
        "pages": pages,
        "worst_ratio": max(ratios),
        "target": OCR_TARGET,
        "accuracy_at_least_plain": all(
            p["ours_accuracy"] >= p["plain_accuracy"] for p in pages.values()
        ),
    }


def _psnr(image: np.ndarray, reference: np.ndarray) -> float:
    mse = float(np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return round(10 * float(np.log10(255**2 / mse)), 1) if mse else float("inf")


def resizes(repeat: int) -> dict[str, Any]:
    """`transform.fit` (whole-number-block area averaging) vs OpenCV's direct INTER_AREA:
    the web copy of a 12 MP photo and the thumbnail of its 1/4-scale decode."""
    data = twelve_megapixel_jpeg()
    full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    quarter = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    out: dict[str, Any] = {}
    for name, image, edge in (("4000 -> 2048", full, 2048), ("1000 -> 512", quarter, 512)):
        size = transform.size_at(image, edge / max(image.shape[:2]))
        times = side_by_side(
            {
                "ours": lambda image=image, edge=edge: transform.fit(image, edge),
                "inter_area": lambda image=image, size=size: cv2.resize(
                    image, size, interpolation=cv2.INTER_AREA
                ),
            },
            repeat,
        )
        reference = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        out[name] = {
            **times,
            "ratio": _ratio(times["ours"], times["inter_area"]),
            "psnr_db": _psnr(transform.fit(image, edge), reference),
        }
    return out


@contextlib.contextmanager
def omp_threads(limit: str | None) -> Iterator[None]:
    """OMP_THREAD_LIMIT for the Tesseract processes started inside (None: its default)."""
    saved = os.environ.get("OMP_THREAD_LIMIT")
    os.environ.pop("OMP_THREAD_LIMIT", None)
    if limit is not None:
        os.environ["OMP_THREAD_LIMIT"] = limit
    try:
        yield
    finally:
        os.environ.pop("OMP_THREAD_LIMIT", None)
        if saved is not None:
            os.environ["OMP_THREAD_LIMIT"] = saved


def omp_comparison(repeat: int) -> dict[str, Any]:
    rgb = cv2.cvtColor(photographed_page(), cv2.COLOR_BGR2RGB)

    def plain(limit: str | None) -> Callable[[], object]:
        def work() -> object:
            with omp_threads(limit):
                return pytesseract.image_to_string(rgb)

        return work

    return {
        **side_by_side({"default_threads": plain(None), "one_thread": plain("1")}, repeat),
        "cpus": os.cpu_count(),
    }


def run(repeat: int) -> dict[str, Any]:
    with omp_threads("1"):
        return {
            "repeat": repeat,
            "thumbnail": thumbnails(max(5, repeat * 3)),
            "resize": resizes(max(5, repeat * 3)),
            "ocr": ocr_pages(repeat),
            "omp": omp_comparison(max(2, repeat // 2)),
        }


_THUMBNAILERS = [
    ("ours (reduced JPEG decode)", "ours"),
    ("naive cv2 decode+resize", "naive_cv2"),
    ("Pillow draft+thumbnail", "pillow"),
]


def report(result: dict[str, Any]) -> str:
    t, o = result["thumbnail"], result["ocr"]
    out = [f"\n(e) 12 MP JPEG ({t['jpeg_mb']} MB) -> 512 px thumbnail, ms"]
    rows = [[name, t[key]["median_ms"], t[key]["p95_ms"]] for name, key in _THUMBNAILERS]
    rows.append([f"ratio ours/Pillow (target <= {t['target']})", t["ratio_ours_vs_pillow"], ""])
    out.append(table(rows, ["thumbnailer", "median", "p95"]))
    out.append("\nShrinking by area averaging (transform.fit vs cv2 INTER_AREA), median ms")
    rows = [
        [name, r["ours"]["median_ms"], r["inter_area"]["median_ms"], r["ratio"], r["psnr_db"]]
        for name, r in result["resize"].items()
    ]
    out.append(table(rows, ["resize", "ours", "INTER_AREA", "ratio", "PSNR dB vs it"]))
    out.append("\nOCR per 1400x1000 photographed page, single-threaded Tesseract, median ms")
    rows = [
        [
            page,
            p["ours"]["median_ms"],
            p["ours_accuracy"],
            p["plain"]["median_ms"],
            p["plain_accuracy"],
            p["ratio_ours_vs_plain"],
        ]
        for page, p in o["pages"].items()
    ]
    out.append(
        table(
            rows,
            ["page", "ours", "ours acc", "plain", "plain acc", f"ratio (<= {o['target']})"],
        )
    )
    out.append(
        f"worst ratio {o['worst_ratio']} (target <= {o['target']}); accuracy >= plain's on"
        f" every page: {o['accuracy_at_least_plain']}"
    )
    m = result["omp"]
    out.append(
        f"plain Tesseract, default OpenMP threads {m['default_threads']['median_ms']} ms vs"
        f" OMP_THREAD_LIMIT=1 {m['one_thread']['median_ms']} ms ({m['cpus']} CPUs)"
    )
    return "\n".join(out)


def plot(result: dict[str, Any], plt: Any, path: Path) -> None:
    fig, (thumbs, pages) = plt.subplots(1, 2, figsize=(11, 4))
    t = result["thumbnail"]
    thumbs.bar([k for _, k in _THUMBNAILERS], [t[k]["median_ms"] for _, k in _THUMBNAILERS])
    thumbs.set_ylabel("median ms, 12 MP JPEG -> 512 px")
    names = list(result["ocr"]["pages"])
    for offset, who in ((-0.2, "ours"), (0.2, "plain")):
        pages.bar(
            [i + offset for i in range(len(names))],
            [result["ocr"]["pages"][n][who]["median_ms"] for n in names],
            width=0.4,
            label=f"{who} Tesseract" if who == "plain" else "ours (OpenCV + Tesseract)",
        )
    pages.set_xticks(range(len(names)), names)
    pages.set_ylabel("median ms per page (OCR)")
    pages.legend(fontsize=7)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=1))
