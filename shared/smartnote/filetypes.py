"""What an image file really is, from its first bytes: format and pixel size, no decoding.

Pure Python (no OpenCV, no numpy): the API uses it to refuse a non-image upload at once,
and the image function uses it to refuse decompression bombs *before* anything decodes them
(a PNG header can announce 50 000 x 50 000 pixels in 100 bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

MIME_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "gif": "image/gif",
}
ACCEPTED_FORMATS = ("jpeg", "png", "webp", "tiff", "bmp")


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    frames: int = 1  # > 1 only known for GIF (animated)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


class NotAnImage(ValueError):
    """The bytes are not an image format we know, or its header is unreadable."""


_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("jpeg", lambda d: d.startswith(b"\xff\xd8\xff")),
    ("png", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
    ("webp", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP"),
    ("tiff", lambda d: d[:4] in (b"II*\x00", b"MM\x00*")),
    ("bmp", lambda d: d[:2] == b"BM" and len(d) >= 26),
    ("gif", lambda d: d[:6] in (b"GIF87a", b"GIF89a")),
)


def sniff_format(data: bytes) -> str | None:
    """The format named by the magic number at the start of `data`, or None."""
    return next((fmt for fmt, matches in _SIGNATURES if matches(data)), None)


def read_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the header alone; NotAnImage when that is impossible."""
    fmt = sniff_format(data)
    if fmt is None:
        raise NotAnImage("not an image (unknown file signature)")
    try:
        width, height, frames = _READERS[fmt](data)
    except (struct.error, IndexError, ValueError) as exc:
        raise NotAnImage(f"the {fmt.upper()} header is damaged") from exc
    if width <= 0 or height <= 0:
        raise NotAnImage(f"the {fmt.upper()} header announces an empty image")
    return ImageHeader(fmt, width, height, frames)


def _png(data: bytes) -> tuple[int, int, int]:
    if data[12:16] != b"IHDR":
        raise ValueError("IHDR is not the first chunk")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, 1


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> tuple[int, int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("lost marker sync")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height, 1
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise ValueError("no frame header")


def _webp(data: bytes) -> tuple[int, int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF, 1
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if chunk == b"VP8X":
        flags = data[20]
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height, 2 if flags & 0x02 else 1  # bit 1: animation
    raise ValueError("unknown WebP chunk")


def _tiff(data: bytes) -> tuple[int, int, int]:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    size: dict[int, int] = {}
    for index in range(count):
        entry = offset + 2 + index * 12
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            fmt = order + ("H" if kind == 3 else "I")
            (size[tag],) = struct.unpack(fmt, data[entry + 8 : entry + 8 + struct.calcsize(fmt)])
    return size[256], size[257], 1


def _bmp(data: bytes) -> tuple[int, int, int]:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return width, abs(height), 1  # a negative height means top-down rows


def _gif(data: bytes) -> tuple[int, int, int]:
    width, height = struct.unpack("<HH", data[6:10])
    # Counting frames exactly needs a full parse; two image descriptors are enough to say
    # "animated", and a NETSCAPE loop extension says it outright.
    animated = b"NETSCAPE2.0" in data[:4096] or data.count(b"\x00\x2c") > 1
    return width, height, 2 if animated else 1


_READERS = {"png": _png, "jpeg": _jpeg, "webp": _webp, "tiff": _tiff, "bmp": _bmp, "gif": _gif}
