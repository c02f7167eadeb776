"""Bytes in, results out: what the image function makes of an upload or an edit request.

Every function here is pure (no S3, no database) and raises ImageRejected, with a reason
for the user, for anything it will not process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from smartnote.filetypes import ImageHeader
from smartnote.images import icc, ocr, transform
from smartnote.images.decode import ImageRejected, decode, decode_at_least, inspect
from smartnote.models.attachments import Operation, edit_output_format

logger = logging.getLogger("smartnote.images.pipeline")

THUMBNAIL_EDGE = 512
WEB_EDGE = 2048

__all__ = ["ImageRejected", "Processed", "Rendered", "apply_edits", "process", "thumbnail"]


@dataclass(frozen=True)
class Processed:
    content_type: str
    width: int
    height: int
    thumbnail: bytes  # JPEG, long edge <= 512, with the upload's colour profile (images.icc)
    web: bytes  # JPEG, long edge <= 2048, the same
    ocr_text: str | None
    ocr_confidence: float | None
    # Tesseract failed (a language pack missing, a timeout, the program missing or not
    # runnable): the image is still `ready`, without text, and the job counts it (a metric
    # with an alarm: a broken deploy shows).
    ocr_failed: bool


@dataclass(frozen=True)
class Rendered:
    data: bytes
    format: str
    content_type: str
    width: int
    height: int


def thumbnail(data: bytes) -> bytes:
    """A JPEG of at most 512 px, decoded at reduced scale where the format allows it."""
    header = inspect(data)
    return _thumbnail(data, header, icc.read(data, header.format))


def _thumbnail(data: bytes, header: ImageHeader, profile: bytes | None) -> bytes:
    # On white before shrinking: averaging the colour hidden under clear pixels into the
    # visible ones would darken the edges.
    image = transform.flatten(decode_at_least(data, header, THUMBNAIL_EDGE))
    return transform.encode(transform.fit(image, THUMBNAIL_EDGE), "jpeg", profile)


def process(data: bytes, languages: str = "eng") -> Processed:
    """Check, orient, thumbnail, web copy and OCR of one uploaded image."""
    header = inspect(data)
    profile = icc.read(data, header.format)  # of the thumbnail and the web copy alike
    # Upright (EXIF), so width/height are as displayed; on white, for OCR and the web JPEG.
    image = transform.flatten(decode(data))
    height, width = image.shape[:2]
    try:
        result = ocr.read_text(image, languages)
        text, confidence, ocr_failed = result.text, result.confidence, False
    except ocr.OcrFailed as exc:
        # OCR is a bonus: the image itself is fine, so it is still `ready`.
        logger.warning("OCR failed: %s", exc)
        text, confidence, ocr_failed = None, None, True
    return Processed(
        content_type=header.mime_type,
        width=width,
        height=height,
        thumbnail=_thumbnail(data, header, profile),
        web=transform.encode(transform.fit(image, WEB_EDGE), "jpeg", profile),
        ocr_text=text,
        ocr_confidence=confidence,
        ocr_failed=ocr_failed,
    )


def apply_edits(data: bytes, operations: Sequence[Operation]) -> Rendered:
    """The original with `operations` applied in order (PNG stays PNG, else JPEG by default)."""
    header = inspect(data)
    image, fmt = transform.apply_operations(
        decode(data), operations, edit_output_format(header.mime_type)
    )
    height, width = image.shape[:2]
    encoded = transform.encode(image, fmt, icc.read(data, header.format))
    return Rendered(encoded, fmt, transform.CONTENT_TYPES[fmt], width, height)
