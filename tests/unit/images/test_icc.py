"""Colour profiles: what is made of a wide-gamut photo shows its colours, measured the way a
colour-managed viewer (a browser) shows them."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from smartnote.images import icc, pipeline
from smartnote.models.attachments import EditRequest
from tests.utils.images import ADOBE_RGB, pillow

GREEN = (60, 160, 60)  # sRGB; stored as Adobe RGB it is (102, 159, 70): shown as sRGB, dull
SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}


def _adobe_rgb_photo(fmt: str, colour: tuple[int, int, int] = GREEN) -> bytes:
    """A 600 x 400 picture of `colour` (sRGB), its pixels in Adobe RGB, the profile embedded."""
    adobe = ImageCms.ImageCmsProfile(io.BytesIO(ADOBE_RGB))
    srgb = ImageCms.createProfile("sRGB")
    picture = Image.new("RGB", (600, 400), colour)
    stored = ImageCms.profileToProfile(picture, srgb, adobe, outputMode="RGB")
    assert stored is not None
    return pillow(stored, fmt, icc_profile=ADOBE_RGB, **SAVE_OPTIONS.get(fmt, {}))


def _shown(data: bytes) -> np.ndarray:
    """The mean colour (sRGB) a colour-managed viewer shows of `data`: its pixels converted
    from its profile, or taken as sRGB when it has none."""
    image = Image.open(io.BytesIO(data))
    profile = image.info.get("icc_profile")
    image = image.convert("RGB")
    if profile:
        embedded = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, embedded, ImageCms.createProfile("sRGB"))
        assert converted is not None
        image = converted
    return np.asarray(image).reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_thumbnail_and_web_copy_show_the_colours_of_a_wide_gamut_photo(fmt: str) -> None:
    processed = pipeline.process(_adobe_rgb_photo(fmt))
    for jpeg in (processed.thumbnail, processed.web):
        assert np.abs(_shown(jpeg) - GREEN).max() <= 3


@pytest.mark.parametrize("output", ["jpeg", "png", "webp"])
def test_an_edit_shows_the_colours_of_a_wide_gamut_photo(output: str) -> None:
    request = EditRequest.model_validate(
        {"operations": [{"op": "rotate", "degrees": 90}, {"op": "convert", "format": output}]}
    )
    rendered = pipeline.apply_edits(_adobe_rgb_photo("PNG"), request.operations)
    assert np.abs(_shown(rendered.data) - GREEN).max() <= 3
    decoded = cv2.imdecode(np.frombuffer(rendered.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape[:2] == (600, 400)  # still a file OpenCV reads, turned


def test_a_webp_edit_keeps_its_transparency_with_the_profile() -> None:
    request = EditRequest.model_validate({"operations": [{"op": "convert", "format": "webp"}]})
    picture = Image.new("RGBA", (60, 40), (*GREEN, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 30, 40))  # the left half clear
    rendered = pipeline.apply_edits(
        pillow(picture, "PNG", icc_profile=ADOBE_RGB), request.operations
    )
    shown = Image.open(io.BytesIO(rendered.data))
    assert shown.info.get("icc_profile") == ADOBE_RGB
    alpha = np.asarray(shown.convert("RGBA"))[..., 3]
    assert alpha[:, :30].max() == 0 and alpha[:, 30:].min() == 255


def test_a_gray_edit_goes_without_the_rgb_profile() -> None:
    request = EditRequest.model_validate(
        {"operations": [{"op": "grayscale"}, {"op": "convert", "format": "jpeg"}]}
    )
    rendered = pipeline.apply_edits(_adobe_rgb_photo("JPEG"), request.operations)
    image = Image.open(io.BytesIO(rendered.data))
    assert image.mode == "L" and "icc_profile" not in image.info


def test_a_cmyk_profile_is_not_carried_into_rgb_outputs() -> None:
    """Photoshop's CMYK JPEGs carry a CMYK profile, which an RGB JPEG must not; their pixels
    (inverted, Adobe's way) still come out the colour they are."""
    cmyk_profile = ADOBE_RGB[:16] + b"CMYK" + ADOBE_RGB[20:]
    orange = Image.new("CMYK", (300, 200), (0, 128, 255, 0))
    thumbnail = pipeline.thumbnail(pillow(orange, "JPEG", quality=95, icc_profile=cmyk_profile))
    assert "icc_profile" not in Image.open(io.BytesIO(thumbnail)).info
    assert np.abs(_shown(thumbnail) - (255, 127, 0)).max() <= 3


@pytest.mark.parametrize(
    "profile",
    [ADOBE_RGB[:-40], b"\x00" * 200, ADOBE_RGB[:36] + b"xxxx" + ADOBE_RGB[40:]],
    ids=["truncated", "zeros", "no-signature"],
)
def test_a_damaged_profile_is_left_out(profile: bytes) -> None:
    picture = Image.new("RGB", (300, 200), GREEN)
    processed = pipeline.process(pillow(picture, "JPEG", quality=95, icc_profile=profile))
    assert "icc_profile" not in Image.open(io.BytesIO(processed.thumbnail)).info
    assert np.abs(_shown(processed.thumbnail) - GREEN).max() <= 3


def test_a_lossless_webp_gets_the_profile_and_keeps_its_alpha() -> None:
    """OpenCV writes a simple lossless WebP (VP8L) above quality 100: its VP8X carries the
    alpha flag the VP8L header has."""
    bgra = np.zeros((40, 60, 4), np.uint8)
    bgra[:, 30:] = (60, 160, 60, 255)  # the left half clear
    ok, encoded = cv2.imencode(".webp", bgra, [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok and encoded.tobytes()[12:16] == b"VP8L"
    shown = Image.open(io.BytesIO(icc.embed(encoded.tobytes(), "webp", ADOBE_RGB)))
    assert shown.info.get("icc_profile") == ADOBE_RGB and shown.size == (60, 40)
    alpha = np.asarray(shown.convert("RGBA"))[..., 3]
    assert alpha[:, :30].max() == 0 and alpha[:, 30:].min() == 255
