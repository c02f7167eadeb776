"""Image formats and sizes from headers alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smartnote import filetypes
from tests.utils.images import animated_gif, encode, png_bomb_header


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tiff", ".bmp"])
def test_each_accepted_format_reports_its_size(ext: str) -> None:
    header = filetypes.read_header(encode(np.zeros((30, 70, 3), np.uint8), ext))
    assert (header.width, header.height, header.frames) == (70, 30, 1)
    assert header.format in filetypes.ACCEPTED_FORMATS


def test_progressive_jpeg_size() -> None:
    ok, data = cv2.imencode(
        ".jpg", np.zeros((33, 77, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    )
    assert ok
    header = filetypes.read_header(data.tobytes())
    assert (header.width, header.height) == (77, 33)


def test_bomb_header_is_read_without_decoding() -> None:
    header = filetypes.read_header(png_bomb_header(50_000, 50_000))
    assert header.pixels == 2_500_000_000


def test_animated_gif_is_recognised() -> None:
    header = filetypes.read_header(animated_gif())
    assert header.format == "gif"
    assert header.frames > 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe0\x00",
        b"RIFF\x00\x00\x00\x00WEBPVP8Z",
    ],
    ids=["empty", "text", "png-signature-only", "jpeg-cut", "webp-unknown-chunk"],
)
def test_not_an_image_or_damaged_header(data: bytes) -> None:
    with pytest.raises(filetypes.NotAnImage):
        filetypes.read_header(data)
