"""Pure pixel operations: fit, encode, and the user-facing edit operations.

Images are 8-bit gray, BGR or BGRA; every operation keeps the alpha of a BGRA image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from smartnote.images import icc
from smartnote.images.decode import Image, ImageRejected
from smartnote.models.attachments import (
    MAX_PIXELS,
    Operation,
    Resize,
    scaled_size,
    too_long_to_encode,
)

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
# CLAHE's fixed 8 x 8 grid (OpenCV's default) on a small image makes tiles of a few pixels
# whose histograms are a few spikes: it equalised them to white. Tiles get >= 64 px a side
# where the image allows, and below 256 pixels (the histogram's levels) there is nothing to
# equalise.
MIN_CLAHE_TILE = 64
MAX_CLAHE_TILES = 8
CLAHE_MIN_PIXELS = 256


def fit(image: Image, long_edge: int) -> Image:
    """Scaled down (never up) so that its longer side is at most `long_edge`."""
    scale = long_edge / max(image.shape[:2])
    if scale >= 1:
        return image
    return shrink(image, size_at(image, scale))


def size_at(image: Image, scale: float) -> tuple[int, int]:
    """(width, height) of `image` scaled by `scale`, at least 1 x 1."""
    height, width = image.shape[:2]
    return scaled_size(width, height, scale)


def shrink(image: Image, size: tuple[int, int]) -> Image:
    """`image` scaled down to `size` (width, height) by area averaging, the fast way.

    OpenCV's area averaging is 1.3-3x faster when both sides shrink by the same whole number
    (each output pixel is the mean of an n x n block) than for any other ratio. So the image
    is first resampled linearly to exactly n times `size`, n the nearest whole ratio (at
    least 2), a small resampling that the averaging then smooths. The result is within
    PSNR 50 dB of plain area averaging. When that intermediate would hold more than twice
    the pixels of the image (ratios below ~1.4), plain area averaging is used instead.
    """
    height, width = image.shape[:2]
    target_width, target_height = size
    factor = max(2, round(max(width / target_width, height / target_height)))
    block = (target_width * factor, target_height * factor)
    if block[0] * block[1] > 2 * width * height:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if block != (width, height):
        image = cv2.resize(image, block, interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def has_alpha(image: Image) -> bool:
    return image.ndim == 3 and image.shape[2] == 4


def flatten(image: Image) -> Image:
    """`image` with any transparency composited on white: what a JPEG or OCR can take."""
    if not has_alpha(image):
        return image
    alpha = cv2.cvtColor(cv2.extractChannel(image, 3), cv2.COLOR_GRAY2BGR)
    # white - (white - colour) * alpha, in 8 bits all along (no float copy of a 40 MP image)
    ink = cv2.multiply(
        cv2.bitwise_not(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)), alpha, scale=1 / 255
    )
    return cv2.bitwise_not(ink)


def on_colour(operation: Callable[[Image], Image], image: Image) -> Image:
    """`operation` applied to the colour channels of `image`, its alpha put back unchanged."""
    if not has_alpha(image):
        return operation(image)
    colour = operation(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    if colour.ndim == 2:
        colour = cv2.cvtColor(colour, cv2.COLOR_GRAY2BGR)
    return cv2.merge((*cv2.split(colour), cv2.extractChannel(image, 3)))


def encode(image: Image, fmt: str, icc_profile: bytes | None = None) -> bytes:
    """`image` as a JPEG (on white, if it has transparency), PNG or WebP file carrying
    `icc_profile` (an RGB one: a gray image goes without); ImageRejected when it is too long
    for the format."""
    height, width = image.shape[:2]
    if refusal := too_long_to_encode(fmt, width, height):
        raise ImageRejected(refusal)
    params: list[int] = []
    if fmt == "jpeg":
        image = flatten(image)
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, JPEG_QUALITY]
    ok, buffer = cv2.imencode("." + ("jpg" if fmt == "jpeg" else fmt), image, params)
    if not ok:  # pragma: no cover - encoding an 8-bit image does not fail
        raise RuntimeError(f"could not encode {fmt}")
    return icc.embed(bytes(buffer.tobytes()), fmt, icc_profile if image.ndim == 3 else None)


def equalise(lightness: Image) -> Image:
    """CLAHE on a one-channel image, its tiles at least MIN_CLAHE_TILE pixels a side (or, in
    a strip, as many pixels as such a square) where the image allows; an image of fewer
    pixels than the histogram has levels is left as it is."""
    height, width = (int(side) for side in lightness.shape[:2])
    if height * width < CLAHE_MIN_PIXELS:
        return lightness
    most = min(MAX_CLAHE_TILES, max(1, height * width // MIN_CLAHE_TILE**2))

    def tiles(side: int) -> int:
        return min(most, max(1, side // MIN_CLAHE_TILE))

    grid = (tiles(width), tiles(height))
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=grid).apply(lightness)


def enhance(image: Image) -> Image:
    """Contrast (CLAHE on lightness, so colours keep their hue) and an edge-keeping denoise,
    on the colour channels only."""
    return on_colour(_enhance_colour, image)


def _enhance_colour(image: Image) -> Image:
    if image.ndim == 2:
        return np.asarray(cv2.bilateralFilter(equalise(image), 5, 40, 40), dtype=np.uint8)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = equalise(lab[:, :, 0])
    return np.asarray(
        cv2.bilateralFilter(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), 5, 40, 40), dtype=np.uint8
    )


def _resize(image: Image, resize: Resize, index: int) -> Image:
    current_h, current_w = image.shape[:2]
    scale = resize.scale_for(current_w, current_h)
    size = size_at(image, scale)
    # Enlarging is allowed, but never past what an upload may be: a 1x1 image resized to
    # 20000x20000 would take 1.2 GB before anything could refuse it.
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageRejected(
            f"Operation {index + 1} (resize) would make a {size[0]}x{size[1]} image;"
            f" at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
        )
    if scale < 1:
        return shrink(image, size)
    return cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)


def _gray(image: Image) -> Image:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


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
            image = _resize(image, operation, index)
        elif operation.op == "grayscale":
            if image.ndim == 3:
                image = on_colour(_gray, image)
        elif operation.op == "auto_enhance":
            image = enhance(image)
        elif operation.op == "convert":
            fmt = operation.format
    return image, fmt
