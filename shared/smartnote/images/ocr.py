"""OCR fit for photographed pages: flatten the lighting, fix the scale and the skew, then
let Tesseract (single-threaded, via pytesseract) read a clean black-on-white page."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytesseract

from smartnote.images.decode import Image
from smartnote.images.transform import shrink, size_at

logger = logging.getLogger("smartnote.images.ocr")

# A line of text needs ~12 px (a one-line screenshot is no taller); in less Tesseract reads
# noise, if anything.
MIN_EDGE = 12
# Text of ~20-40 px cap height reads best; photographed pages at 1500-3000 px get there.
TARGET_MIN_LONG_EDGE = 1800
TARGET_MAX_LONG_EDGE = 3500
MAX_DESKEW_DEGREES = 15.0
OCR_TIMEOUT_SECONDS = 60
# Bounds the note document (MongoDB's limit is 16 MB for the note and all its attachments).
MAX_TEXT_CHARS = 50_000


class OcrFailed(Exception):
    """Tesseract did not read the page; the message says why, on one line, for the logs."""


# What pytesseract raises when the Tesseract program does not read a page: its own error (an
# exit status: a language pack missing, a library the program lacks), its timeout
# (RuntimeError), the program missing or not runnable (OSError: TesseractNotFoundError,
# PermissionError, an exec format error, or its output files missing when another program
# answers to the name), or the version check of a process's first OCR failing
# (CalledProcessError; SystemExit for a version it cannot read, which must not end the
# image function's process).
_TESSERACT_FAILURES = (
    pytesseract.TesseractError,
    RuntimeError,
    OSError,
    subprocess.SubprocessError,
    SystemExit,
)


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float | None  # 0..1, mean over the words read; None when no word was


def _rescale(gray: Image) -> Image:
    longest = max(gray.shape[:2])
    if longest < TARGET_MIN_LONG_EDGE:
        scale = min(3.0, TARGET_MIN_LONG_EDGE / longest)
        return cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if longest > TARGET_MAX_LONG_EDGE:
        scale = TARGET_MAX_LONG_EDGE / longest
        return shrink(gray, size_at(gray, scale))
    return gray


def flatten_lighting(gray: Image) -> Image:
    """Divide by the estimated background (a closing wipes the text out of the page), which
    evens out shadows and vignetting, then stretch the contrast to the full range."""
    size = max(15, (min(gray.shape[:2]) // 20) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)
    background = cv2.GaussianBlur(background, (0, 0), size / 4)
    flat = cv2.divide(gray, background, scale=255)
    return np.asarray(cv2.normalize(flat, flat, 0, 255, cv2.NORM_MINMAX), dtype=np.uint8)


def skew_angle(binary_text: Image) -> float:
    """The small rotation (degrees) that levels the text lines; 0 when unsure."""
    # Smear characters into line blobs, then take the dominant orientation of the blobs.
    lines = cv2.morphologyEx(
        binary_text, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 3))
    )
    contours, _ = cv2.findContours(lines, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    angles: list[float] = []
    weights: list[float] = []
    for contour in contours:
        (_, _), (w, h), angle = cv2.minAreaRect(contour)
        if min(w, h) < 5 or max(w, h) < 4 * min(w, h):
            continue  # not line-shaped
        # The rectangle's edges are perpendicular: fold its angle to the one within +-45,
        # which for a line-shaped blob is the line's own direction (any OpenCV convention).
        angle = (angle + 45) % 90 - 45
        if abs(angle) <= MAX_DESKEW_DEGREES:
            angles.append(angle)
            weights.append(max(w, h))
    if not angles:
        return 0.0
    return float(np.average(angles, weights=weights))


def _rotate(image: Image, degrees: float) -> Image:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=(255,))


def prepare(image: Image) -> Image:
    """Black text on white, upright, at a scale Tesseract reads well."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    gray = flatten_lighting(_rescale(gray))
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if np.count_nonzero(binary) < binary.size / 2:
        binary = cv2.bitwise_not(binary)  # light text on a dark page: invert
    angle = skew_angle(cv2.bitwise_not(binary))
    if abs(angle) >= 0.3:
        binary = _rotate(binary, angle)
    return np.asarray(binary, dtype=np.uint8)


def read_text(image: Image, languages: str = "eng") -> OcrResult:
    """The text of `image` and Tesseract's mean word confidence."""
    if min(image.shape[:2]) < MIN_EDGE:
        return OcrResult("", None)
    data = _tesseract_words(prepare(image), languages)
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    for index, raw_word in enumerate(data["text"]):
        word = raw_word.strip()
        confidence = float(data["conf"][index])
        if not word or confidence < 0:
            continue
        key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
        lines.setdefault(key, []).append(word)
        confidences.append(confidence)
    text = "\n".join(" ".join(words) for words in lines.values())[:MAX_TEXT_CHARS]
    mean = round(sum(confidences) / len(confidences) / 100, 3) if confidences else None
    return OcrResult(text, mean)


def _tesseract_words(page: Image, languages: str) -> dict[str, list[Any]]:
    """Tesseract's words of `page` (pytesseract's table), or OcrFailed with the cause."""
    try:
        data: dict[str, list[Any]] = pytesseract.image_to_data(
            page,
            lang=languages,
            config="--oem 1 --psm 3",
            output_type=pytesseract.Output.DICT,
            timeout=OCR_TIMEOUT_SECONDS,
        )
    except _TESSERACT_FAILURES as exc:
        raise OcrFailed(_cause(exc)) from exc
    return data


def _cause(exc: BaseException) -> str:
    """One line on why Tesseract did not read: the error, what the program printed, and the
    error it replaced (pytesseract says "not installed" for one it could not run)."""
    said = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, subprocess.CalledProcessError) and exc.output:
        output = exc.output  # bytes: pytesseract's version check reads it so
        said += " It printed: " + output.decode(errors="replace")
    before = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if before is not None:
        said += f" (from {type(before).__name__}: {before})"
    return " ".join(said.split())
