"""transform.shrink: area averaging through a whole-number block, checked against OpenCV's own."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smartnote.images import transform
from smartnote.models.attachments import EditRequest
from tests.utils.images import photographed_page


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A textured colour image (a photographed page with sensor-like noise), 1400x1000."""
    page = photographed_page(size=(1400, 1000)).astype(np.float64)
    noise = np.random.default_rng(1).normal(0, 6, page.shape)
    return np.clip(page + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("ratio", [1.45, 1.7, 1.953, 2.0, 2.2, 2.49, 2.6, 3.3, 4.7, 7.9])
@pytest.mark.parametrize("gray", [False, True], ids=["colour", "gray"])
def test_shrink_matches_area_averaging(photo: np.ndarray, ratio: float, gray: bool) -> None:
    image = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY) if gray else photo
    size = (round(1400 / ratio), round(1000 / ratio))
    reference = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    shrunk = transform.shrink(image, size)
    assert shrunk.shape == reference.shape and shrunk.dtype == np.uint8
    assert _psnr(shrunk, reference) > 50


@pytest.mark.parametrize("ratio", [1.7, 1.953, 2.49, 3.3])
def test_shrink_goes_through_a_whole_number_block(photo: np.ndarray, ratio: float) -> None:
    """Away from whole ratios the result is close to, but not, OpenCV's direct averaging:
    the whole-number-block path ran (at exactly 2x both are the same mean of 2x2 blocks)."""
    size = (round(1400 / ratio), round(1000 / ratio))
    reference = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    assert not np.array_equal(transform.shrink(photo, size), reference)
    exact = cv2.resize(photo, (700, 500), interpolation=cv2.INTER_AREA)
    assert np.array_equal(transform.shrink(photo, (700, 500)), exact)


@pytest.mark.parametrize("ratio", [1.01, 1.2, 1.4])
def test_a_slight_shrink_is_plain_area_averaging(photo: np.ndarray, ratio: float) -> None:
    """Near 1 the block would hold up to 4x the pixels: memory a 40 MP upload cannot spare."""
    size = (round(1400 / ratio), round(1000 / ratio))
    reference = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    assert np.array_equal(transform.shrink(photo, size), reference)


def test_fit_and_resize_shrink_to_the_exact_size(photo: np.ndarray) -> None:
    assert transform.fit(photo, 512).shape == (366, 512, 3)
    tall = np.ascontiguousarray(np.rot90(photo))
    assert transform.fit(tall, 512).shape == (512, 366, 3)
    strip = np.zeros((3, 4000, 3), np.uint8)
    assert transform.fit(strip, 512).shape == (1, 512, 3)
    request = EditRequest.model_validate({"operations": [{"op": "resize", "width": 600}]})
    resized, _ = transform.apply_operations(photo, request.operations, "jpeg")
    assert resized.shape == (429, 600, 3)
    reference = cv2.resize(photo, (600, 429), interpolation=cv2.INTER_AREA)
    assert _psnr(resized, reference) > 50
