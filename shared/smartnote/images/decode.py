"""From untrusted bytes to pixels: refuse by header first, then decode (EXIF-oriented)."""

from __future__ import annotations

import cv2
import numpy as np
from cv2.typing import MatLike

from smartnote import filetypes
from smartnote.filetypes import ImageHeader
from smartnote.models.attachments import MAX_PIXELS, MAX_UPLOAD_BYTES

Image = MatLike

# JPEG can decode at 1/2, 1/4 or 1/8 scale directly (DCT scaling): far less work and memory.
_REDUCED = (
    (8, cv2.IMREAD_REDUCED_COLOR_8),
    (4, cv2.IMREAD_REDUCED_COLOR_4),
    (2, cv2.IMREAD_REDUCED_COLOR_2),
)


class ImageRejected(ValueError):
    """The bytes are not an image we process; `reason` is for the user."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def inspect(data: bytes) -> ImageHeader:
    """The header of an acceptable image, or ImageRejected; decodes nothing."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise ImageRejected("The file is empty")
    try:
        header = filetypes.read_header(data)
    except filetypes.NotAnImage as exc:
        raise ImageRejected(f"The file is not a supported image: {exc}") from exc
    if header.frames > 1:
        raise ImageRejected("Animated images are not accepted")
    if header.format not in filetypes.ACCEPTED_FORMATS:
        raise ImageRejected(
            f"{header.format.upper()} images are not accepted (JPEG, PNG, WebP, TIFF, BMP are)"
        )
    if header.pixels > MAX_PIXELS:
        raise ImageRejected(
            f"The image is {header.width}x{header.height} ({header.pixels / 1e6:.0f} megapixels);"
            f" at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
        )
    return header


def _imdecode(data: bytes, flags: int) -> Image:
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:  # OpenCV refuses some malformed files by raising
        raise ImageRejected("The image is corrupt or truncated and cannot be decoded") from exc
    if image is None or image.size == 0:
        raise ImageRejected("The image is corrupt or truncated and cannot be decoded")
    return image


def decode(data: bytes) -> Image:
    """The whole image as 8-bit BGR, turned upright by its EXIF orientation."""
    inspect(data)
    return _imdecode(data, cv2.IMREAD_COLOR)


def decode_at_least(data: bytes, header: ImageHeader, long_edge: int) -> Image:
    """The image decoded at the smallest JPEG scale whose long edge is still >= `long_edge`
    (a full decode for other formats and small images)."""
    inspect(data)
    if header.format == "jpeg":
        longest = max(header.width, header.height)
        for factor, flag in _REDUCED:
            if longest // factor >= long_edge:
                return _imdecode(data, flag)
    return _imdecode(data, cv2.IMREAD_COLOR)
