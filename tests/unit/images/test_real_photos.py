"""The pipeline on real photographs shipped with scikit-image (skimage/data, BSD licensed):
`page.png`, a photographed book page with uneven light and small text, and `rocket.jpg`."""

from __future__ import annotations

import importlib.resources

import cv2
import numpy as np
import pytesseract

from smartnote.images import ocr, pipeline
from tests.utils.images import character_accuracy

SAMPLES = importlib.resources.files("skimage") / "data"
# What page.png shows, transcribed by hand (the last, cut-off line is left out).
PAGE_TEXT = """Region-based segmentation
Let us first determine markers of the coins and the
background. These markers are pixels that we can label
unambiguously as either object or background. Here,
the markers are found at the two extreme parts of the
histogram of grey values:
>>> markers = np.zeros_like(coins)"""


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_photographed_book_page_is_read() -> None:
    processed = pipeline.process(_sample("page.png"))
    assert character_accuracy(PAGE_TEXT, processed.ocr_text or "") >= 0.9
    assert (processed.width, processed.height) == (384, 191)


def test_preprocessing_beats_plain_tesseract_on_the_real_page() -> None:
    image = cv2.imdecode(np.frombuffer(_sample("page.png"), np.uint8), cv2.IMREAD_COLOR)
    plain = pytesseract.image_to_string(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    ours = ocr.read_text(image).text
    assert character_accuracy(PAGE_TEXT, ours) > character_accuracy(PAGE_TEXT, plain) + 0.1


def test_real_jpeg_photo_gets_thumbnail_and_web_copy() -> None:
    processed = pipeline.process(_sample("rocket.jpg"))
    assert (processed.width, processed.height) == (640, 427)
    thumb = cv2.imdecode(np.frombuffer(processed.thumbnail, np.uint8), cv2.IMREAD_COLOR)
    web = cv2.imdecode(np.frombuffer(processed.web, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape[:2] == (342, 512)  # 427 * 512 / 640 = 341.6
    assert web.shape[:2] == (427, 640)  # never upscaled
    assert processed.content_type == "image/jpeg"
