"""Images made by the tests themselves: photographed-looking pages with known text, EXIF-tagged
and transparent images, animations, and malformed files (truncated, bomb headers, lying
headers, non-images)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageDraw

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


def text_strip(text: str, height: int) -> Array:
    """A screenshot of one line of `text`, black on white, `height` pixels tall."""
    scale = (height - 8) / 22  # HERSHEY_SIMPLEX's cap height is ~22 px at scale 1
    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    strip = np.full((height, width + 8), 255, np.uint8)
    cv2.putText(strip, text, (4, height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, 1, cv2.LINE_AA)
    return strip


def encode(image: Array, ext: str = ".jpg", quality: int = 90) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, image, params)
    assert ok
    return buffer.tobytes()


def pillow(image: Image.Image, fmt: str, **options: Any) -> bytes:
    """`image` saved by Pillow as `fmt` (it writes the alpha, EXIF and frames OpenCV can't)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def with_orientation(image: Array, fmt: str, orientation: int) -> bytes:
    """A JPEG, PNG, WebP (lossless) or TIFF whose pixels (BGR or BGRA) are stored as given and
    whose EXIF orientation says how to turn them."""
    pil = Image.fromarray(
        cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    )
    if fmt == "TIFF":
        return pillow(pil, fmt, tiffinfo={0x0112: orientation})
    exif = pil.getexif()
    exif[0x0112] = orientation
    options = {"JPEG": {"quality": 90}, "WEBP": {"lossless": True}}.get(fmt, {})
    return pillow(pil, fmt, exif=exif.tobytes(), **options)


def jpeg_with_orientation(image: Array, orientation: int) -> bytes:
    """A JPEG whose pixels are stored as given and whose EXIF says how to turn them."""
    return with_orientation(image, "JPEG", orientation)


def transparent_logo() -> Image.Image:
    """A black square on a fully transparent 200x100 canvas (a logo, a scanned signature)."""
    logo = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((50, 25, 149, 74), fill=(0, 0, 0, 255))
    return logo


# Every kind of transparency we decode, each a `transparent_logo`.
TRANSPARENT_FILES: dict[str, Callable[[], bytes]] = {
    "rgba-png": lambda: pillow(transparent_logo(), "PNG"),
    "gray-alpha-png": lambda: pillow(transparent_logo().convert("LA"), "PNG"),
    "palette-trns-png": lambda: pillow(transparent_logo().convert("P"), "PNG", transparency=0),
    "rgba-webp-lossless": lambda: pillow(transparent_logo(), "WEBP", lossless=True),
    "rgba-webp-lossy": lambda: pillow(transparent_logo(), "WEBP", quality=80),
    "rgba-tiff": lambda: pillow(transparent_logo(), "TIFF"),
}


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _icc_tag(kind: bytes, body: bytes) -> bytes:
    tag = kind + b"\x00" * 4 + body
    return tag + b"\x00" * (-len(tag) % 4)


def rgb_profile(
    name: str, primaries: tuple[tuple[float, float, float], ...], gamma: float
) -> bytes:
    """A matrix/TRC ICC v2 display profile: `primaries` the red, green and blue colourants
    (XYZ, D50-adapted), `gamma` the tone curve of all three."""
    description = name.encode() + b"\x00"
    tags = {
        b"desc": _icc_tag(
            b"desc", struct.pack(">I", len(description)) + description + bytes(4 + 4 + 3 + 67)
        ),
        b"wtpt": _icc_tag(b"XYZ ", b"".join(map(_s15, (0.9642, 1.0, 0.8249)))),
        **{
            kind: _icc_tag(b"XYZ ", b"".join(map(_s15, xyz)))
            for kind, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True)
        },
    }
    curve = _icc_tag(b"curv", struct.pack(">IH", 1, round(gamma * 256)))
    tags.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for kind, body in tags.items():
        table += kind + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + bytes((2, 0x10, 0, 0))
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + b"".join(map(_s15, (0.9642, 1.0, 0.8249)))
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


# Adobe RGB (1998), as its own profile gives it: wider than sRGB in the greens and cyans.
ADOBE_RGB = rgb_profile(
    "Adobe RGB (1998)",
    ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)),
    563 / 256,
)


# How an iPhone photo (HEIC) and an AVIF begin: an ISO base media `ftyp` box and its brands.
HEIC_START = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
AVIF_START = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64)


def png_bomb_header(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header announces width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    # A few compressed rows of zeros: what follows would inflate to width * height bytes.
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated(fmt: str = "GIF") -> bytes:
    """Three frames as a GIF, an APNG ("PNG"), a WebP, or a three-page TIFF."""
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "green", "blue")]
    return pillow(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_gif() -> bytes:
    return animated("GIF")


def tiff_with_tags(*tags: tuple[int, int], strip: int = 0) -> bytes:
    """A little-endian TIFF of one IFD holding `tags` ((tag, LONG value), in that order) and a
    strip of `strip` zero bytes, which StripOffsets (added) points to."""
    entries = [*tags, (273, 8)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, 4, 1, value) for tag, value in entries
    )
    return b"II*\x00" + struct.pack("<I", 8 + strip) + bytes(strip) + ifd + b"\x00" * 4


def tiled_tiff(
    image: np.ndarray, tile: tuple[int, int], compression: str | None, orientation: int = 1
) -> bytes:
    """`image` (RGB or gray) as a TIFF in tiles of `tile` (height, width), as tifffile writes,
    with `orientation` (tag 274)."""
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        image,
        tile=tile,
        photometric="rgb" if image.ndim == 3 else "minisblack",
        compression=compression,
        extratags=[(274, "H", 1, orientation, True)],
    )
    return buffer.getvalue()


def jpeg_behind_a_fake_frame(width: int, height: int) -> bytes:
    """A real width x height JPEG after a stuffed zero (FF 00) followed by what a parser that
    takes FF 00 for a segment reads as its length (14), which lands it on a 10x10 frame header
    inside a comment: libjpeg skips FF 00 as data and the comment whole, and decodes the real
    frame."""
    real = encode(np.zeros((height, width, 3), np.uint8))
    fake_sof = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 10, 10, 3) + bytes.fromhex("011100021101031101")
    )
    body = b"\x01" * 8 + fake_sof
    comment = b"\xff\xfe" + struct.pack(">H", 2 + len(body)) + body
    return real[:2] + b"\xff\x00" + struct.pack(">H", 14) + comment + real[2:]


def jpeg_of_scans(
    scans: int, size: tuple[int, int] = (64, 48), *, progressive: bool = True
) -> bytes:
    """A gray JPEG of `scans` scans (at least its own: 6 progressive, 1 baseline): its last
    scan repeated. Progressive, libjpeg decodes every one, each a pass over all the image's
    blocks, and only warns that the progression is bogus: the few bytes of each buy a whole
    pass."""
    data = pillow(Image.new("L", size, 128), "JPEG", progressive=progressive, quality=50)
    starts = [at for at in range(len(data) - 1) if data[at : at + 2] == b"\xff\xda"]
    assert scans >= len(starts)
    last = data[starts[-1] : -2]  # up to EOI
    return data[:-2] + last * (scans - len(starts)) + b"\xff\xd9"


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
