"""Pure pixel operations: fit, encode, and the user-facing edit operations."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from smartnote.images.decode import Image, ImageRejected
from smartnote.models.attachments import MAX_PIXELS, Operation

JPEG_QUALITY = 85
_ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    -270: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    -180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
    -90: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def fit(image: Image, long_edge: int) -> Image:
    """Scaled down (never up) so that its longer side is at most `long_edge`."""
    height, width = image.shape[:2]
    scale = long_edge / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def encode(image: Image, fmt: str) -> bytes:
    """`image` as a JPEG, PNG or WebP file."""
    params: list[int] = []
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]
    ok, buffer = cv2.imencode("." + ("jpg" if fmt == "jpeg" else fmt), image, params)
    if not ok:  # pragma: no cover - encoding an 8-bit image does not fail
        raise RuntimeError(f"could not encode {fmt}")
    return bytes(buffer.tobytes())


def enhance(image: Image) -> Image:
    """Contrast (CLAHE on lightness, so colours keep their hue) and an edge-keeping denoise."""
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    if image.ndim == 2:
        return np.asarray(cv2.bilateralFilter(clahe.apply(image), 5, 40, 40), dtype=np.uint8)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return np.asarray(
        cv2.bilateralFilter(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), 5, 40, 40), dtype=np.uint8
    )


def _resize(image: Image, width: int | None, height: int | None, index: int) -> Image:
    current_h, current_w = image.shape[:2]
    scales = [s for s in (width and width / current_w, height and height / current_h) if s]
    scale = min(scales)
    size = (max(1, round(current_w * scale)), max(1, round(current_h * scale)))
    # Enlarging is allowed, but never past what an upload may be: a 1x1 image resized to
    # 20000x20000 would take 1.2 GB before anything could refuse it.
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageRejected(
            f"Operation {index + 1} (resize) would make a {size[0]}x{size[1]} image;"
            f" at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
        )
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


def apply_operations(image: Image, operations: Sequence[Operation], fmt: str) -> tuple[Image, str]:
    """Apply the edit operations in order; returns the image and the output format."""
    for index, operation in enumerate(operations):
        if operation.op == "rotate":
            image = cv2.rotate(image, _ROTATIONS[operation.degrees])
        elif operation.op == "crop":
            height, width = image.shape[:2]
            if operation.x + operation.width > width or operation.y + operation.height > height:
                raise ImageRejected(
                    f"Operation {index + 1} (crop) leaves the {width}x{height} image"
                )
            image = image[
                operation.y : operation.y + operation.height,
                operation.x : operation.x + operation.width,
            ].copy()
        elif operation.op == "resize":
            image = _resize(image, operation.width, operation.height, index)
        elif operation.op == "grayscale":
            if image.ndim == 3:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif operation.op == "auto_enhance":
            image = enhance(image)
        elif operation.op == "convert":
            fmt = operation.format
    return image, fmt
