"""From untrusted bytes to pixels: refuse by header first, then decode (EXIF-oriented).

Pixels are 8-bit BGR, or BGRA when the image has transparency (PNG, WebP, TIFF); the JPEG
outputs put them on white (`transform.flatten`), PNG and WebP edits keep the alpha.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable

import cv2
import numpy as np
from cv2.typing import MatLike

from smartnote import filetypes
from smartnote.filetypes import ImageHeader
from smartnote.models.attachments import MAX_PIXELS, MAX_UPLOAD_BYTES

Image = MatLike

# Formats whose fourth channel is transparency, decoded as they are (IMREAD_UNCHANGED), and
# turned upright by their EXIF orientation here, with what follows. BMP is not one: the
# fourth byte of a 32-bit BMP is often unused (zero), which would read as clear.
_ALPHA_FORMATS = ("png", "webp", "tiff")
_ORIENT: dict[int, Callable[[Image], Image]] = {
    2: lambda image: cv2.flip(image, 1),
    3: lambda image: cv2.rotate(image, cv2.ROTATE_180),
    4: lambda image: cv2.flip(image, 0),
    5: cv2.transpose,
    6: lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE),
    7: lambda image: cv2.flip(cv2.transpose(image), -1),
    8: lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
# Each scan of a progressive JPEG is a pass of libjpeg over every block of the image, and
# can take a few bytes: a 36 MP JPEG of 4000 scans (380 KB) decodes in about 2 minutes, past
# the function's timeout, on each of Lambda's retries. Encoders write about 10; libtiff
# refuses the JPEG data of a TIFF past 100 scans (LIBTIFF_JPEG_MAX_ALLOWED_SCAN_NUMBER), and
# so do we for a progressive JPEG. A baseline one is decoded from its first scan (libjpeg
# ignores scans repeated after it), so its scans are not counted: no cost on the photos'
# usual path.
MAX_JPEG_SCANS = 100
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
    except filetypes.UnsupportedImage as exc:
        raise ImageRejected(str(exc)) from exc
    except filetypes.NotAnImage as exc:
        raise ImageRejected(f"The file is not a supported image: {exc}") from exc
    if header.frames > 1:
        kind = "Multi-page" if header.format == "tiff" else "Animated"
        raise ImageRejected(f"{kind} images are not accepted")
    if header.format not in filetypes.ACCEPTED_FORMATS:
        raise ImageRejected(filetypes.not_accepted(header.format))
    if header.progressive and (scans := _scans(data)) > MAX_JPEG_SCANS:
        raise ImageRejected(f"The JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are accepted")
    _refuse_past_pixel_limit(header.width, header.height)
    return header


def _scans(jpeg: bytes) -> int:
    """How many scans (SOS markers: FF DA) a JPEG has. In coded data an FF is always followed
    by 00 (stuffing) or a restart marker, so each FF DA is a scan libjpeg decodes or (a
    harmless overcount) bytes of a table, a scan of an EXIF thumbnail, data after the end.
    numpy's count takes ~0.3 ms a MB, bytes.count ~3."""
    samples = np.frombuffer(jpeg, np.uint8)
    return int(np.count_nonzero((samples[:-1] == 0xFF) & (samples[1:] == 0xDA)))


def _refuse_past_pixel_limit(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        # Rounded up to a tenth: 40 005 000 pixels are "40.1", not the limit itself.
        megapixels = math.ceil(width * height / 100_000) / 10
        raise ImageRejected(
            f"The image is {width}x{height} ({megapixels:g} megapixels);"
            f" at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
        )


def _read(data: bytes, flags: int) -> Image | None:
    """OpenCV's decode of `data`, None when it cannot decode it.

    A TIFF is read from a temporary file: libtiff reads a file in memory (cv2.imdecode)
    through a buffer it rounds up to 1 KiB, then refuses as damaged any uncompressed tile of
    another size (16 x 16 RGB: 768 bytes); a file on disk it maps and reads exactly. Its
    first page through imreadmulti: cv2.imread fails on a TIFF whose orientation (5-8)
    swaps its sides, having allocated the pixels by the header's size.
    """
    if filetypes.sniff_format(data) != "tiff":
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    with tempfile.NamedTemporaryFile(suffix=".tiff") as file:
        file.write(data)
        file.flush()
        read, pages = cv2.imreadmulti(file.name, start=0, count=1, flags=flags)
    return pages[0] if read and pages else None


def _imdecode(data: bytes, flags: int, scale: int = 1) -> Image:
    """Decoded with `flags` (at 1/`scale` of its size); refused past the pixel limit by the
    size it really decoded to, whatever its header said and whether or not OpenCV's own cap
    is in force (see smartnote.images)."""
    try:
        image = _read(data, flags)
    except cv2.error as exc:  # OpenCV refuses some malformed files by raising
        raise ImageRejected("The image is corrupt or truncated and cannot be decoded") from exc
    if image is None or image.size == 0:
        raise ImageRejected("The image is corrupt or truncated and cannot be decoded")
    height, width = image.shape[:2]
    # The smallest full size that decodes to this at 1/scale (sizes round up).
    _refuse_past_pixel_limit((width - 1) * scale + 1, (height - 1) * scale + 1)
    return image


def _to_8bit_bgr_or_bgra(image: Image) -> Image:
    """What IMREAD_COLOR would have made of an IMREAD_UNCHANGED decode, alpha kept where it
    makes anything transparent."""
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255 / 65535)
    elif image.dtype != np.uint8:
        raise ImageRejected(f"Images with {image.dtype} samples are not supported")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4 and cv2.minMaxLoc(cv2.extractChannel(image, 3))[0] == 255:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)  # opaque: the alpha says nothing
    return image


def _premultiplied_tiff(data: bytes) -> bool:
    """Whether OpenCV gives the colours of this TIFF with alpha multiplied by it: stored so
    (associated alpha), or (unassociated) made so by libtiff's RGBA reader, which OpenCV
    reads 8-bit samples with (16-bit ones it reads as stored)."""
    extra, bits = filetypes.tiff_alpha(data)
    return extra == filetypes.ASSOCIATED_ALPHA or (
        extra == filetypes.UNASSOCIATED_ALPHA and bits == 8
    )


def _unpremultiplied(image: Image) -> Image:
    """BGRA whose colours are multiplied by their alpha, with the colours themselves (what
    every other format decodes to; those of clear pixels are lost: black). The alpha is
    divided by 255 and scaled by 255: as it was."""
    alpha = cv2.extractChannel(image, 3)
    divisor = cv2.merge((alpha, alpha, alpha, np.full_like(alpha, 255)))
    return cv2.divide(image, divisor, scale=255)


def decode(data: bytes) -> Image:
    """The whole image as 8-bit BGR (BGRA if it has transparency), turned upright by its EXIF
    orientation."""
    header = inspect(data)
    if header.format not in _ALPHA_FORMATS:
        return _imdecode(data, cv2.IMREAD_COLOR)  # OpenCV applies the EXIF orientation
    if header.format == "tiff":  # OpenCV turns a TIFF itself, whatever the flags; wrongly
        data = filetypes.tiff_as_stored(data)  # for a tiled one (filetypes.tiff_as_stored)
    image = _to_8bit_bgr_or_bgra(_imdecode(data, cv2.IMREAD_UNCHANGED))
    if header.format == "tiff" and image.shape[2] == 4 and _premultiplied_tiff(data):
        image = _unpremultiplied(image)
    orient = _ORIENT.get(header.orientation)
    return orient(image) if orient else image


def decode_at_least(data: bytes, header: ImageHeader, long_edge: int) -> Image:
    """The image decoded at the smallest JPEG scale whose long edge is still >= `long_edge`
    (a full decode, as `decode`, for other formats and small images)."""
    if header.format == "jpeg":
        longest = max(header.width, header.height)
        for factor, flag in _REDUCED:
            if longest // factor >= long_edge:
                inspect(data)
                return _imdecode(data, flag, factor)
    return decode(data)
