"""Image formats and sizes from headers alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from smartnote import filetypes
from tests.utils.images import (
    animated,
    encode,
    jpeg_behind_a_fake_frame,
    pillow,
    png_bomb_header,
    tiff_with_tags,
    with_orientation,
)

_JPEG = encode(np.zeros((90, 120, 3), np.uint8))


def _decoded_size(data: bytes) -> tuple[int, int]:
    """(width, height) as OpenCV's decoders (libjpeg, libtiff) see the file."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image.shape[1], image.shape[0]


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


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("GIF", "gif"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tiff")],
    ids=["gif", "apng", "animated-webp", "multi-page-tiff"],
)
def test_animated_and_multi_page_images_are_recognised(fmt: str, expected: str) -> None:
    header = filetypes.read_header(animated(fmt))
    assert header.format == expected
    assert header.frames > 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_still_gif_is_one_frame(seed: int) -> None:
    noise = np.random.default_rng(seed).integers(0, 255, (200, 300, 3), np.uint8)
    assert filetypes.read_header(pillow(Image.fromarray(noise), "GIF")).frames == 1
    assert filetypes.read_header(pillow(Image.new("P", (300, 200)), "GIF")).frames == 1


def test_an_animated_gif_that_does_not_loop_is_recognised() -> None:
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "green", "blue")]
    data = pillow(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert b"NETSCAPE2.0" not in data
    assert filetypes.read_header(data).frames > 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_read(fmt: str) -> None:
    for orientation in (1, 6, 8):
        data = with_orientation(np.zeros((30, 70, 3), np.uint8), fmt, orientation)
        assert filetypes.read_header(data).orientation == orientation


@pytest.mark.parametrize(
    "data",
    [
        jpeg_behind_a_fake_frame(1200, 900),
        # Fill bytes, a stuffed zero and stray bytes, then the real segments.
        _JPEG[:2] + b"\xff\xff\xff\x00\x12\x34" + _JPEG[2:],
        # libtiff reads the first of a tag given twice.
        tiff_with_tags(
            (256, 30), (256, 10), (257, 5), (258, 8), (262, 1), (278, 5), (279, 150), strip=150
        ),
    ],
    ids=["jpeg-fake-frame-after-ff00", "jpeg-fill-and-stray-bytes", "tiff-width-twice"],
)
def test_header_size_is_the_decoded_size(data: bytes) -> None:
    header = filetypes.read_header(data)
    assert (header.width, header.height) == _decoded_size(data)


def test_float_tiff_is_unsupported_with_the_reason() -> None:
    ok, data = cv2.imencode(".tiff", np.zeros((50, 60, 3), np.float32))
    assert ok
    with pytest.raises(
        filetypes.UnsupportedImage, match="TIFF with 32-bit floating-point samples is not supported"
    ):
        filetypes.read_header(data.tobytes())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe0\x00",
        b"RIFF\x00\x00\x00\x00WEBPVP8Z",
        tiff_with_tags((259, 1)),
        b"\xff\xd8\xff\xda\x00\x08" + bytes(6),
    ],
    ids=[
        "empty",
        "text",
        "png-signature-only",
        "jpeg-cut",
        "webp-unknown-chunk",
        "tiff-without-size",
        "jpeg-scan-before-frame",
    ],
)
def test_not_an_image_or_damaged_header(data: bytes) -> None:
    with pytest.raises(filetypes.NotAnImage):
        filetypes.read_header(data)
