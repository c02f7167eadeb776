"""From bytes to pixels: refusals by header and by decoded size, transparency, orientation."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from smartnote import filetypes
from smartnote.images import decode, pipeline
from tests.utils.images import (
    AVIF_START,
    HEIC_START,
    TRANSPARENT_FILES,
    animated,
    encode,
    jpeg_of_scans,
    pillow,
    png_bomb_header,
    tiff_with_tags,
    tiled_tiff,
    with_orientation,
)

ROOT = Path(__file__).resolve().parents[3]


def _pillow_upright(data: bytes) -> np.ndarray:
    """What Pillow shows of `data`, EXIF orientation applied, as BGR(A)."""
    image = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)


def _marked(width: int, height: int, channels: int = 3) -> np.ndarray:
    """Black with a blue top-left quarter: any turn or flip moves the quarter."""
    image = np.zeros((height, width, channels), np.uint8)
    image[: height // 2, : width // 2, 0] = 255
    if channels == 4:
        image[..., 3] = 255
        image[height // 2 :, width // 2 :, 3] = 0  # and a clear bottom-right quarter
    return image


@pytest.mark.parametrize("make", TRANSPARENT_FILES.values(), ids=TRANSPARENT_FILES.keys())
def test_transparency_is_kept_as_a_fourth_channel(make: Callable[[], bytes]) -> None:
    image = decode.decode(make())
    assert image.shape == (100, 200, 4)
    assert image[0, 0, 3] == 0  # the clear canvas
    assert image[50, 100, 3] == 255 and image[50, 100, :3].max() < 20  # the black square


@pytest.mark.parametrize("fmt", [".png", ".webp", ".tiff"])
def test_an_opaque_alpha_channel_is_dropped(fmt: str) -> None:
    image = decode.decode(encode(np.full((20, 30, 4), 255, np.uint8), fmt))
    assert image.shape == (20, 30, 3)


@pytest.mark.parametrize("alpha", [False, True], ids=["gray", "bgra"])
def test_sixteen_bit_samples_are_scaled_to_eight(alpha: bool) -> None:
    ramp = np.linspace(0, 65535, 300 * 200).reshape(200, 300).astype(np.uint16)
    opaque = np.full_like(ramp, 65535)
    image = decode.decode(encode(cv2.merge([ramp, ramp, ramp, opaque]) if alpha else ramp, ".png"))
    assert image.dtype == np.uint8 and image.shape == (200, 300, 3)
    assert image[0, 0, 0] == 0 and image[-1, -1, 0] == 255
    assert 120 < image.mean() < 136


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_in_every_format(fmt: str, orientation: int) -> None:
    data = with_orientation(_marked(40, 20), fmt, orientation)
    expected = _pillow_upright(data)
    image = decode.decode(data)
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).mean() < 3


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [3, 6, 7])
def test_exif_orientation_turns_the_alpha_too(fmt: str, orientation: int) -> None:
    data = with_orientation(_marked(40, 20, 4), fmt, orientation)
    assert np.array_equal(decode.decode(data), _pillow_upright(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_a_reduced_jpeg_decode(orientation: int) -> None:
    data = with_orientation(_marked(2400, 1000), "JPEG", orientation)
    image = decode.decode_at_least(data, decode.inspect(data), 512)
    assert max(image.shape[:2]) == 600  # 1/4 scale
    expected = cv2.resize(_pillow_upright(data), image.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(int) - expected).mean() < 5


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (animated("PNG"), "Animated images are not accepted"),
        (animated("WEBP"), "Animated images are not accepted"),
        (animated("TIFF"), "Multi-page images are not accepted"),
        (tiff_with_tags((259, 1)), "The file is not a supported image: the TIFF header"),
        (HEIC_START, "HEIC images are not accepted (JPEG, PNG, WebP, TIFF, BMP are)"),
        (AVIF_START, "AVIF images are not accepted (JPEG, PNG, WebP, TIFF, BMP are)"),
        (
            encode(np.zeros((50, 60, 3), np.float32), ".tiff"),  # type: ignore[arg-type]
            "TIFF with 32-bit floating-point samples is not supported",
        ),
    ],
    ids=[
        "apng",
        "animated-webp",
        "multi-page-tiff",
        "tiff-without-size",
        "heic",
        "avif",
        "float-tiff",
    ],
)
def test_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(decode.ImageRejected) as refused:
        decode.decode(data)
    assert refused.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("width", "height", "said"),
    [(8001, 5000, "40.1"), (40_000_001, 1, "40.1"), (7000, 7000, "49"), (50_000, 50_000, "2500")],
)
def test_the_refusal_past_the_pixel_limit_never_says_the_limit_itself(
    width: int, height: int, said: str
) -> None:
    """Rounded up: "(40 megapixels); at most 40 megapixels are accepted" refused nothing."""
    with pytest.raises(decode.ImageRejected) as refused:
        decode.inspect(png_bomb_header(width, height))
    assert refused.value.reason == (
        f"The image is {width}x{height} ({said} megapixels); at most 40 megapixels are accepted"
    )


def test_a_jpeg_of_more_than_100_scans_is_refused_before_decoding() -> None:
    """Each scan of a progressive JPEG is a pass of libjpeg over every block of the image, and
    can be a few bytes: a 36 MP JPEG of 4000 scans (380 KB) decoded for about 2 minutes, past
    the image function's timeout, on each of Lambda's retries. libtiff refuses a TIFF's JPEG
    data past 100 scans."""
    with pytest.raises(decode.ImageRejected) as refused:
        decode.inspect(jpeg_of_scans(101))
    assert refused.value.reason == "The JPEG has 101 scans; at most 100 are accepted"


def test_a_baseline_jpeg_is_not_refused_for_scans_repeated_after_its_own() -> None:
    """libjpeg decodes a baseline JPEG from its one scan and ignores any repeated after it
    (a whole pass each would need a few bits for every block: no small file holds many), so
    the photos' usual path pays no count of its scans."""
    data = jpeg_of_scans(150, progressive=False)
    assert not filetypes.read_header(data).progressive
    assert decode.decode(data).shape == (48, 64, 3)


def test_a_jpeg_of_100_scans_decodes() -> None:
    assert decode.decode(jpeg_of_scans(100)).shape == (48, 64, 3)


def _semi_transparent_tiff(dtype: type[np.unsignedinteger[Any]], alpha: str) -> bytes:
    """A TIFF of one colour, RGB (200, 100, 40) at alpha 128 (half clear), with `dtype`
    samples and alpha of the kind `alpha` names (associated: stored multiplied by alpha)."""
    top = np.iinfo(dtype).max
    rgba = np.array([200, 100, 40, 128], float) / 255
    if alpha == "assocalpha":
        rgba[:3] *= rgba[3]
    pixels = np.broadcast_to(np.round(rgba * top).astype(dtype), (8, 12, 4))
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", extrasamples=[alpha])
    return buffer.getvalue()


@pytest.mark.parametrize("alpha", ["unassalpha", "assocalpha"], ids=["unassociated", "associated"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8-bit", "16-bit"])
def test_a_semi_transparent_tiff_decodes_to_its_own_colours(
    dtype: type[np.unsignedinteger[Any]], alpha: str
) -> None:
    """libtiff's RGBA reader, OpenCV's for 8-bit samples, gives colours multiplied by their
    alpha, and associated alpha is stored so; the rest of the pipeline takes colours as they
    are (as PNG and WebP give them): half-clear pixels of a TIFF came out darker."""
    image = decode.decode(_semi_transparent_tiff(dtype, alpha))
    assert np.abs(image[4, 6].astype(int) - [40, 100, 200, 128]).max() <= 2


def test_a_semi_transparent_tiff_thumbnail_is_as_light_as_the_png_one() -> None:
    half_clear = Image.new("RGBA", (40, 30), (200, 100, 40, 128))
    png, tiff = (pipeline.thumbnail(pillow(half_clear, fmt)) for fmt in ("PNG", "TIFF"))
    pixel = [
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[15, 20]
        for data in (png, tiff)
    ]
    assert np.abs(pixel[0].astype(int) - pixel[1]).max() <= 2


@pytest.mark.parametrize("compression", [None, "zlib"], ids=["uncompressed", "deflate"])
@pytest.mark.parametrize("tile", [(16, 16), (48, 32), (32, 32)], ids=["16x16", "48x32", "32x32"])
@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
def test_a_tiled_tiff_decodes_to_its_pixels(
    channels: int, tile: tuple[int, int], compression: str | None
) -> None:
    """Uncompressed tiles of other than a multiple of 1 KiB (16 x 16 x 3 bytes) were refused
    as "corrupt or truncated": libtiff rounds its read buffer for a file read from memory
    (cv2.imdecode) up to 1 KiB, then finds that it is not the tile's size."""
    rgb = np.random.default_rng(5).integers(0, 256, (80, 64, 3), np.uint8)
    stored = rgb if channels == 3 else rgb[..., 0]
    image = decode.decode(tiled_tiff(stored, tile, compression))
    expected = cv2.cvtColor(stored, cv2.COLOR_RGB2BGR if channels == 3 else cv2.COLOR_GRAY2BGR)
    assert np.array_equal(image, expected)


@pytest.mark.parametrize("compression", [None, "zlib"], ids=["uncompressed", "deflate"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_a_tiled_tiff(
    orientation: int, compression: str | None
) -> None:
    """libtiff turns tiled pixels by their orientation tile by tile: each 16 x 16 tile was
    mirrored in place, a scramble no turn of the whole image undoes."""
    rgb = np.random.default_rng(orientation).integers(0, 256, (80, 64, 3), np.uint8)
    data = tiled_tiff(rgb, (16, 16), compression, orientation)
    assert np.array_equal(decode.decode(data), _pillow_upright(data))


def test_a_truncated_tiled_tiff_is_refused_as_such() -> None:
    data = tiled_tiff(np.zeros((80, 64, 3), np.uint8), (16, 16), None)
    with pytest.raises(decode.ImageRejected, match="corrupt or truncated"):
        decode.decode(data[: len(data) // 2])


# In a fresh interpreter (OpenCV reads its cap when it loads): decode a 49 MP image past our
# header check, which sees it first in production, to see what stops it.
_PAST_THE_HEADER = """
import {first}, {second}
from smartnote.images import decode
import numpy as np
data = cv2.imencode(".png", np.zeros((7000, 7000), np.uint8))[1].tobytes()
try:
    decode._imdecode(data, cv2.IMREAD_GRAYSCALE)
except decode.ImageRejected as refused:
    print(refused.reason)
"""


@pytest.mark.parametrize(
    ("first", "second"), [("smartnote.images", "cv2"), ("cv2", "smartnote.images")]
)
def test_a_decode_past_the_pixel_limit_is_refused_whatever_the_import_order(
    first: str, second: str
) -> None:
    env = {
        name: value for name, value in os.environ.items() if name != "OPENCV_IO_MAX_IMAGE_PIXELS"
    }
    env["PYTHONPATH"] = os.pathsep.join((str(ROOT / "shared"), str(ROOT)))
    result = subprocess.run(
        [sys.executable, "-c", _PAST_THE_HEADER.format(first=first, second=second)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if first == "cv2":  # OpenCV loaded without its cap: we say so, and refuse by the size
        assert "OpenCV's own pixel cap is off" in result.stderr
        assert result.stdout.strip() == (
            "The image is 7000x7000 (49 megapixels); at most 40 megapixels are accepted"
        )
    else:  # OpenCV's cap refuses it before it allocates anything
        assert "pixel cap is off" not in result.stderr
        assert "cannot be decoded" in result.stdout
