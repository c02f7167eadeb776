"""Images made by the tests themselves: photographed-looking pages with known text, EXIF-tagged
JPEGs, and malformed files (truncated, bomb headers, non-images)."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

Array = NDArray[np.uint8]

PAGE_TEXT = [
    "Quarterly budget review",
    "Marketing spend rose by twelve percent",
    "Invoice number 4711 is overdue",
    "Call the plumber about the kitchen sink",
    "Remember the Thursday meeting at noon",
]


def photographed_page(
    lines: list[str] = PAGE_TEXT,
    *,
    size: tuple[int, int] = (1400, 1000),
    skew_degrees: float = 2.5,
    shadow: float = 0.45,
    contrast: int = 90,
    seed: int = 7,
) -> Array:
    """Dark-gray text on paper, lit from one corner (uneven light), slightly rotated, noisy."""
    width, height = size
    rng = np.random.default_rng(seed)
    # Paper lit unevenly: bright at the top left, falling off towards the bottom right.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.0 - shadow * (xx / width + yy / height) / 2
    page = np.full((height, width), 235.0, np.float32)
    ink = np.zeros((height, width), np.uint8)
    for index, line in enumerate(lines):
        cv2.putText(
            ink, line, (60, 140 + index * 110), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 255, 3, cv2.LINE_AA
        )
    page -= ink.astype(np.float32) / 255 * contrast
    page *= light
    page += rng.normal(0, 6, page.shape)
    gray = np.clip(page, 0, 255).astype(np.uint8)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), skew_degrees, 1.0)
    gray = cv2.warpAffine(gray, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    # A warm tint, like a photo under indoor light.
    color = np.dstack([gray * 0.9, gray * 0.97, gray]).astype(np.uint8)
    return color


def encode(image: Array, ext: str = ".jpg", quality: int = 90) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, image, params)
    assert ok
    return buffer.tobytes()


def jpeg_with_orientation(image: Array, orientation: int) -> bytes:
    """A JPEG whose pixels are stored as given and whose EXIF says how to turn them."""
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    exif = pil.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", exif=exif.tobytes(), quality=90)
    return buffer.getvalue()


def png_bomb_header(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header announces width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # A few compressed rows of zeros: what follows would inflate to width * height bytes.
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def character_accuracy(expected: str, got: str) -> float:
    """1 - (edit distance / expected length), on case-folded text with whitespace collapsed."""
    a = " ".join(expected.casefold().split())
    b = " ".join(got.casefold().split())
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return max(0.0, 1 - previous[-1] / max(1, len(a)))
