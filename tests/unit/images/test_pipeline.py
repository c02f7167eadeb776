"""The image pipeline on real images: OCR accuracy on photographed pages, thumbnails, edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytesseract
import pytest

from smartnote.images import decode, ocr, pipeline, transform
from smartnote.models.attachments import EditRequest
from tests.utils import tesseract
from tests.utils.images import (
    PAGE_TEXT,
    TRANSPARENT_FILES,
    character_accuracy,
    encode,
    photographed_page,
    text_strip,
)

EXPECTED = "\n".join(PAGE_TEXT)


@pytest.mark.parametrize(
    "page",
    [
        {},
        {"skew_degrees": -4.0, "shadow": 0.6, "contrast": 60},
        {"skew_degrees": 3.5, "shadow": 0.55, "contrast": 70, "seed": 3},
    ],
    ids=["tilted", "dim-and-tilted-the-other-way", "low-contrast"],
)
def test_ocr_reads_photographed_pages(page: dict[str, float]) -> None:
    processed = pipeline.process(encode(photographed_page(**page)))  # type: ignore[arg-type]
    assert character_accuracy(EXPECTED, processed.ocr_text or "") >= 0.95
    assert processed.ocr_confidence is not None and processed.ocr_confidence > 0.8


@pytest.mark.parametrize("height", [16, 24, 31])
def test_ocr_reads_a_one_line_screenshot(height: int) -> None:
    # A copied line of text, a label: an image less than 32 px high is still all text.
    processed = pipeline.process(encode(text_strip("Invoice number 4711", height), ".png"))
    assert processed.ocr_text == "Invoice number 4711"


# Installed with Tesseract here and in the image function: eng (and osd); not deu.
MISSING_LANGUAGE = "deu"


def test_an_ocr_failure_is_reported_and_the_image_still_processed() -> None:
    """A language pack missing (a broken deploy): the image has its copies, no text, and
    the failure is said to the caller, not only logged."""
    data = encode(text_strip("Invoice number 4711", 24), ".png")
    failed = pipeline.process(data, MISSING_LANGUAGE)
    read = pipeline.process(data)
    assert (failed.ocr_failed, failed.ocr_text, failed.ocr_confidence) == (True, None, None)
    assert (read.ocr_failed, read.ocr_text) == (False, "Invoice number 4711")
    assert (failed.thumbnail, failed.web) == (read.thumbnail, read.web)


# A cold image function's container: its first OCR runs in a process of its own.
COLD_PROCESS = """
import json, logging, sys
from smartnote.images import pipeline
logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
processed = pipeline.process(sys.stdin.buffer.read())
print(json.dumps([processed.ocr_failed, processed.ocr_text, len(processed.thumbnail) > 0]))
"""


@pytest.mark.parametrize("kind", sorted(tesseract.BROKEN))
def test_a_cold_container_without_a_working_tesseract_still_processes_the_image(
    kind: str, tmp_path: Path
) -> None:
    """The first OCR of a container checks the program's version (pytesseract): a missing
    or unrunnable program there is an OCR failure too, logged with its cause, never a
    processing error nor an exit of the process."""
    data = encode(text_strip("Invoice number 4711", 24), ".png")
    env = {**os.environ, "PATH": tesseract.install(kind, tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", COLD_PROCESS],
        input=data,
        capture_output=True,
        env=env,
        check=False,
    )
    log = result.stderr.decode()
    assert result.returncode == 0, log
    assert json.loads(result.stdout) == [True, None, True]
    assert "smartnote.images.pipeline OCR failed: " in log
    assert tesseract.BROKEN[kind].cold_cause in log


def test_preprocessing_beats_plain_tesseract_on_a_dim_tilted_page() -> None:
    image = photographed_page(skew_degrees=-4.0, shadow=0.6, contrast=60)
    plain = pytesseract.image_to_string(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    ours = ocr.read_text(image).text
    assert character_accuracy(EXPECTED, ours) > character_accuracy(EXPECTED, plain)


@pytest.mark.parametrize("angle", [-6.0, -2.0, 0.0, 3.0, 8.0])
def test_skew_is_measured(angle: float) -> None:
    gray = ocr.flatten_lighting(
        cv2.cvtColor(photographed_page(skew_degrees=angle), cv2.COLOR_BGR2GRAY)
    )
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    assert ocr.skew_angle(binary) == pytest.approx(-angle, abs=0.5)


def test_sizes_of_thumbnail_and_web_copy() -> None:
    image = np.random.default_rng(1).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    processed = pipeline.process(encode(image))
    thumb = cv2.imdecode(np.frombuffer(processed.thumbnail, np.uint8), cv2.IMREAD_COLOR)
    web = cv2.imdecode(np.frombuffer(processed.web, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape[:2] == (384, 512)
    assert web.shape[:2] == (1536, 2048)
    assert (processed.width, processed.height) == (4000, 3000)


def test_jpeg_thumbnail_source_is_decoded_at_reduced_scale() -> None:
    data = encode(np.zeros((3000, 4000, 3), np.uint8))
    header = decode.inspect(data)
    assert decode.decode_at_least(data, header, 512).shape[:2] == (750, 1000)  # 1/4 scale
    assert decode.decode_at_least(data, header, 2048).shape[:2] == (3000, 4000)
    png = encode(np.zeros((3000, 4000, 3), np.uint8), ".png")
    assert decode.decode_at_least(png, decode.inspect(png), 512).shape[:2] == (3000, 4000)


def test_opencv_decode_cap_is_set_before_cv2_decodes() -> None:
    import os

    assert os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == "40000000"
    assert os.environ["OMP_THREAD_LIMIT"] == "1"


def test_small_image_is_not_upscaled() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    assert transform.fit(image, 512) is image


def test_edits_apply_in_order() -> None:
    request = EditRequest.model_validate(
        {
            "operations": [
                {"op": "rotate", "degrees": -90},
                {"op": "crop", "x": 10, "y": 20, "width": 100, "height": 50},
                {"op": "resize", "height": 100},
                {"op": "grayscale"},
                {"op": "convert", "format": "webp"},
            ]
        }
    )
    rendered = pipeline.apply_edits(encode(np.zeros((300, 200, 3), np.uint8)), request.operations)
    assert (rendered.width, rendered.height) == (200, 100)
    assert rendered.content_type == "image/webp"
    assert rendered.data[8:12] == b"WEBP"


def test_crop_outside_after_resize_is_rejected() -> None:
    request = EditRequest.model_validate(
        {
            "operations": [
                {"op": "resize", "width": 50},
                {"op": "crop", "x": 0, "y": 0, "width": 60, "height": 10},
            ]
        }
    )
    with pytest.raises(pipeline.ImageRejected, match="leaves the 50x"):
        pipeline.apply_edits(encode(np.zeros((100, 200, 3), np.uint8)), request.operations)


@pytest.mark.parametrize(
    ("size", "resize"),
    [((1, 1), {"width": 20_000, "height": 20_000}), ((2, 20_000), {"width": 20_000})],
    ids=["both-edges", "one-edge-of-a-strip"],
)
def test_resize_past_the_pixel_limit_is_rejected(
    size: tuple[int, int], resize: dict[str, int]
) -> None:
    request = EditRequest.model_validate(
        {"operations": [{"op": "grayscale"}, {"op": "resize", **resize}]}
    )
    image = encode(np.zeros((size[1], size[0], 3), np.uint8), ".png")
    with pytest.raises(pipeline.ImageRejected, match=r"Operation 2 \(resize\) would make a"):
        pipeline.apply_edits(image, request.operations)


@pytest.mark.parametrize(
    ("size", "resize"),
    [
        ((400, 300), {"width": 101}),
        ((300, 400), {"height": 77}),
        ((333, 777), {"width": 50, "height": 50}),
        ((7, 3), {"width": 1000}),
        ((5, 5000), {"width": 1}),
    ],
)
def test_a_resize_makes_the_size_the_api_checks_edits_against(
    size: tuple[int, int], resize: dict[str, int]
) -> None:
    request = EditRequest.model_validate({"operations": [{"op": "resize", **resize}]})
    (operation,) = request.operations
    assert operation.op == "resize"
    image = encode(np.zeros((size[1], size[0], 3), np.uint8), ".png")
    rendered = pipeline.apply_edits(image, request.operations)
    assert (rendered.width, rendered.height) == operation.size_for(*size)


def test_auto_enhance_raises_contrast() -> None:
    flat = np.full((200, 200, 3), 120, np.uint8)
    flat[50:150, 50:150] = 135
    enhanced = transform.enhance(flat)
    assert int(enhanced.max()) - int(enhanced.min()) > 15


@pytest.mark.parametrize("make", TRANSPARENT_FILES.values(), ids=TRANSPARENT_FILES.keys())
def test_transparent_areas_are_white_in_thumbnail_and_web_copy(make: Callable[[], bytes]) -> None:
    processed = pipeline.process(make())
    for jpeg in (processed.thumbnail, processed.web):
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image[0, 0].min() > 240  # the clear canvas, on white
        assert image[image.shape[0] // 2, image.shape[1] // 2].max() < 30  # the black square


def test_ocr_reads_black_text_on_a_transparent_background() -> None:
    text = photographed_page(shadow=0, skew_degrees=0, contrast=200)
    ink = cv2.cvtColor(text, cv2.COLOR_BGR2GRAY) < 128
    page = np.zeros((*ink.shape, 4), np.uint8)  # black, and clear but for the text
    page[ink, 3] = 255
    processed = pipeline.process(encode(page, ".png"))
    assert character_accuracy(EXPECTED, processed.ocr_text or "") >= 0.95


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_edits_to_png_and_webp_keep_transparency(fmt: str) -> None:
    request = EditRequest.model_validate(
        {
            "operations": [
                {"op": "crop", "x": 0, "y": 0, "width": 100, "height": 50},
                {"op": "convert", "format": fmt},
            ]
        }
    )
    rendered = pipeline.apply_edits(TRANSPARENT_FILES["rgba-png"](), request.operations)
    image = cv2.imdecode(np.frombuffer(rendered.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (50, 100, 4)
    assert image[0, 0, 3] == 0 and image[-1, -1, 3] == 255


def test_an_edit_to_jpeg_puts_transparency_on_white() -> None:
    request = EditRequest.model_validate({"operations": [{"op": "convert", "format": "jpeg"}]})
    rendered = pipeline.apply_edits(TRANSPARENT_FILES["rgba-png"](), request.operations)
    image = cv2.imdecode(np.frombuffer(rendered.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (100, 200, 3)
    assert image[0, 0].min() > 245 and image[50, 100].max() < 10


@pytest.mark.parametrize(
    ("size", "operations", "reason"),
    [
        ((17_000, 10), [{"op": "convert", "format": "webp"}], "17000x10 pixels; a WEBP"),
        (
            (100, 10),
            [{"op": "resize", "width": 20_000}, {"op": "convert", "format": "webp"}],
            "20000x2000 pixels; a WEBP",
        ),
        ((1, 70_000), [{"op": "convert", "format": "jpeg"}], "1x70000 pixels; a JPEG"),
    ],
    ids=["wide-png-to-webp", "resize-then-webp", "tall-strip-to-jpeg"],
)
def test_an_edit_too_long_for_its_output_format_is_rejected(
    size: tuple[int, int], operations: list[dict[str, Any]], reason: str
) -> None:
    request = EditRequest.model_validate({"operations": operations})
    image = encode(np.full((size[1], size[0], 3), 128, np.uint8), ".png")
    with pytest.raises(pipeline.ImageRejected, match=reason):
        pipeline.apply_edits(image, request.operations)


@pytest.mark.parametrize("edge", [1, 8, 16])
def test_auto_enhance_keeps_a_small_dark_image_dark(edge: int) -> None:
    request = EditRequest.model_validate({"operations": [{"op": "auto_enhance"}]})
    image = encode(np.full((edge, edge, 3), 20, np.uint8), ".png")
    rendered = pipeline.apply_edits(image, request.operations)
    assert cv2.imdecode(np.frombuffer(rendered.data, np.uint8), cv2.IMREAD_COLOR).mean() < 30
