"""Image pipeline benchmarks (not tests): `python bench/bench_images.py [--repeat N]`.

1. 12 MP JPEG -> 512 px thumbnail: ours (reduced-size JPEG decode + INTER_AREA) vs a naive
   full `cv2.imdecode` + resize vs Pillow's `draft` + `thumbnail`, in the same run.
2. OCR per photographed page: ours (OpenCV pre-processing + Tesseract) vs plain Tesseract on
   the photo, both single-threaded (OMP_THREAD_LIMIT=1), with character accuracy.
3. Plain Tesseract with its default OpenMP threads vs OMP_THREAD_LIMIT=1 (what the image
   function sets).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import pytesseract
from PIL import Image

from smartnote.images import ocr, pipeline
from tests.utils.images import (
    PAGE_TEXT,
    character_accuracy,
    encode,
    photographed_page,
)


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    data = twelve_megapixel_jpeg()
    print(f"12 MP JPEG ({len(data) / 1e6:.1f} MB) -> 512 px thumbnail, median of {args.repeat}")
    for name, work in (
        ("ours (reduced decode)", lambda: pipeline.thumbnail(data)),
        ("naive cv2 decode+resize", lambda: naive_thumbnail(data)),
        ("Pillow draft+thumbnail", lambda: pillow_thumbnail(data)),
    ):
        print(f"  {name:<26} {_median_ms(work, args.repeat):8.1f} ms")

    expected = "\n".join(PAGE_TEXT)
    pages = {
        "tilted": photographed_page(),
        "dim, tilted": photographed_page(skew_degrees=-4, shadow=0.6, contrast=60),
        "low contrast": photographed_page(skew_degrees=3.5, shadow=0.55, contrast=70, seed=3),
    }
    print("\nOCR per page (1400x1000 photo, single-threaded Tesseract)")
    print(f"  {'page':<14} {'ours ms':>8} {'ours acc':>9} {'plain ms':>9} {'plain acc':>10}")
    for name, page in pages.items():
        rgb = cv2.cvtColor(page, cv2.COLOR_BGR2RGB)
        started = time.perf_counter()
        ours = ocr.read_text(page).text
        ours_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        plain = pytesseract.image_to_string(rgb)
        plain_ms = (time.perf_counter() - started) * 1000
        print(
            f"  {name:<14} {ours_ms:8.0f} {character_accuracy(expected, ours):9.3f}"
            f" {plain_ms:9.0f} {character_accuracy(expected, plain):10.3f}"
        )
    omp_comparison(max(3, args.repeat // 2))


def omp_comparison(repeat: int) -> None:
    rgb = cv2.cvtColor(photographed_page(), cv2.COLOR_BGR2RGB)
    print("\nPlain Tesseract per page, OpenMP threads")
    for label, limit in (("default threads", None), ("OMP_THREAD_LIMIT=1", "1")):
        if limit is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = limit
        ms = _median_ms(lambda: pytesseract.image_to_string(rgb), repeat)
        print(f"  {label:<20} {ms:8.0f} ms  ({os.cpu_count()} CPUs here)")
    os.environ["OMP_THREAD_LIMIT"] = "1"


if __name__ == "__main__":
    main()
