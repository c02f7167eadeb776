"""transform: compositing on white, encoding limits, contrast, and edits of transparent images."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from smartnote.images import transform
from smartnote.images.decode import ImageRejected
from smartnote.models.attachments import MAX_ENCODED_EDGE, EditRequest


def _transparent(width: int = 200, height: int = 100) -> np.ndarray:
    """Red (BGR) on a clear canvas whose colour underneath is black: a clear top-left quarter,
    half-clear top-right, opaque bottom half."""
    image = np.zeros((height, width, 4), np.uint8)
    image[:, :, 2] = 255
    image[: height // 2, width // 2 :, 3] = 128
    image[height // 2 :, :, 3] = 255
    image[: height // 2, : width // 2, :3] = 0
    return image


def test_flatten_composites_on_white() -> None:
    flat = transform.flatten(_transparent())
    assert flat.shape == (100, 200, 3)
    assert flat[0, 0].tolist() == [255, 255, 255]  # clear: white, not the black underneath
    assert flat[0, 199].tolist() == [127, 127, 255]  # half red, half white
    assert flat[99, 0].tolist() == [0, 0, 255]  # opaque: as it was


def test_flatten_leaves_opaque_images_alone() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    assert transform.flatten(image) is image


def test_jpeg_is_encoded_on_white() -> None:
    jpeg = transform.encode(_transparent(), "jpeg")
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[10, 10].min() > 245


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "png"])
def test_encode_refuses_past_the_format_s_longest_side(fmt: str) -> None:
    limit = MAX_ENCODED_EDGE[fmt]
    assert transform.encode(np.zeros((1, limit), np.uint8), fmt)
    with pytest.raises(ImageRejected, match=f"can be at most {limit} pixels on a side"):
        transform.encode(np.zeros((limit + 1, 1), np.uint8), fmt)


@pytest.mark.parametrize("level", [20, 128, 230])
@pytest.mark.parametrize(
    "size", [(1, 1), (8, 8), (16, 16), (40, 40), (64, 64), (200, 200), (3000, 10), (2, 3000)]
)
def test_auto_enhance_keeps_a_uniform_image_s_brightness(size: tuple[int, int], level: int) -> None:
    uniform = np.full((size[1], size[0], 3), level, np.uint8)
    assert abs(float(transform.enhance(uniform).mean()) - level) <= 3


def _edit(image: np.ndarray, *operations: dict[str, Any]) -> np.ndarray:
    request = EditRequest.model_validate({"operations": list(operations)})
    return transform.apply_operations(image, request.operations, "png")[0]


@pytest.mark.parametrize(
    ("operation", "shape", "clear_at", "opaque_at"),
    [
        ({"op": "rotate", "degrees": 90}, (200, 100, 4), (0, 99), (199, 0)),
        ({"op": "crop", "x": 80, "y": 0, "width": 40, "height": 60}, (60, 40, 4), (0, 0), (59, 39)),
        ({"op": "resize", "width": 100}, (50, 100, 4), (0, 0), (49, 99)),
        ({"op": "resize", "width": 400}, (200, 400, 4), (0, 0), (199, 399)),
        ({"op": "grayscale"}, (100, 200, 4), (0, 0), (99, 199)),
        ({"op": "auto_enhance"}, (100, 200, 4), (0, 0), (99, 199)),
    ],
    ids=["rotate", "crop", "shrink", "enlarge", "grayscale", "auto_enhance"],
)
def test_edits_keep_the_alpha(
    operation: dict[str, Any],
    shape: tuple[int, int, int],
    clear_at: tuple[int, int],
    opaque_at: tuple[int, int],
) -> None:
    edited = _edit(_transparent(), operation)
    assert edited.shape == shape
    assert edited[clear_at][3] == 0
    assert edited[opaque_at][3] == 255


def test_grayscale_and_auto_enhance_change_the_colour_only() -> None:
    image = _transparent()
    gray = _edit(image, {"op": "grayscale"})
    assert np.array_equal(gray[:, :, 3], image[:, :, 3])
    assert np.array_equal(gray[:, :, 0], gray[:, :, 2])  # gray in all three channels
    assert gray[99, 0, 0] == 76  # red's lightness
    enhanced = _edit(image, {"op": "auto_enhance"})
    assert np.array_equal(enhanced[:, :, 3], image[:, :, 3])
