"""Image attachments as clients see them, what they may send, and the edit operations."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    model_validator,
)

from smartnote.models.common import InputModel, OutputModel
from smartnote.models.text import ONE_LINE_SCHEMA, as_one_line, is_invisible, one_line, visible

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Lambda takes at most 6 MB per synchronous invocation, and API Gateway hands it a binary
# body (multipart/form-data is one) base64-encoded, 4/3 of its size: a multipart body over
# ~4.7 MB never reaches the function (API Gateway answers 502). API.md's 5 MB cannot be had
# this way; 4 MiB of file and its envelope fit, with room for the rest of the event.
MAX_MULTIPART_BYTES = 4 * 1024 * 1024
MULTIPART_ENVELOPE_BYTES = 64 * 1024  # the parts' headers and the form's other fields
MAX_PIXELS = 40_000_000
MAX_EDIT_OPERATIONS = 10
MAX_EDGE = 20_000  # resize/crop targets; nothing we accept is larger
# The longest side each edit output format can be written with: libjpeg's 65500, WebP's
# 14-bit sizes, and libpng's default user limit (which its readers apply too).
MAX_ENCODED_EDGE = {"jpeg": 65_500, "webp": 16_383, "png": 1_000_000}


def too_long_to_encode(fmt: str, width: int, height: int) -> str | None:
    """Why an image of `width` x `height` cannot be written as `fmt`; None when it can."""
    if max(width, height) <= MAX_ENCODED_EDGE[fmt]:
        return None
    return (
        f"The result would be {width}x{height} pixels; a {fmt.upper()} image can be at most"
        f" {MAX_ENCODED_EDGE[fmt]} pixels on a side"
    )


def edit_output_format(content_type: str) -> str:
    """The format an edit of an image of `content_type` writes unless it converts: a PNG
    stays a PNG (lossless, transparency kept), anything else becomes a JPEG."""
    return "png" if content_type == "image/png" else "jpeg"


# Declared types we accept; the processor still decides from the bytes.
ACCEPTED_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/tiff", "image/bmp")
# Other names clients send for them: older browsers and Windows (image/pjpeg, image/x-png,
# image/x-ms-bmp), and the common misspelling image/jpg.
CONTENT_TYPE_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "image/tif": "image/tiff",
    "image/x-tiff": "image/tiff",
}


def canonical_content_type(declared: str) -> str:
    """The type a declared one names, without its parameters and case (`IMAGE/JPG;
    name=a.jpg` is image/jpeg); anything else as given, lower-cased, for the 415."""
    media_type = declared.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_ALIASES.get(media_type, media_type)


Status = Literal["pending", "processing", "ready", "failed"]

_DIRECTORIES = re.compile(r"^.*[/\\]")
_NAMES_OF_DIRECTORIES = (".", "..")
_FALLBACK_FILENAME = "image"


def base_name(name: str) -> str:
    """The name of a file without the directories a client may put before it (a browser's
    `C:\\fakepath\\photo.jpg`, `../photo.jpg`): RFC 7578 4.2, a sender's path is not to
    be trusted, and the name is shown as one line of text."""
    return _DIRECTORIES.sub("", name).strip()


def _names_a_file(name: str) -> bool:
    return name not in _NAMES_OF_DIRECTORIES and not is_invisible(name)


def upload_filename(name: str | None) -> str:
    """The filename to keep of a multipart upload, whatever its part said: its base name as
    one line of text, at most 255 characters; "image" when that names no file (nothing
    visible is left, or "." or "..")."""
    cleaned = base_name(as_one_line(name or ""))[:255].strip()
    return cleaned if _names_a_file(cleaned) else _FALLBACK_FILENAME


def _plain_name(name: str) -> str:
    plain = base_name(name)
    if not plain or plain in _NAMES_OF_DIRECTORIES:
        raise ValueError("the filename names a directory, not a file")
    return visible(plain)


# One line of text that a reader sees, kept without its directories.
Filename = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(one_line),
    AfterValidator(_plain_name),
    Field(json_schema_extra=ONE_LINE_SCHEMA),
]


def _json_integer(value: object) -> object:
    # Pydantic's lax mode reads true as 1, 1e3 as 1000 and "5" as 5, and a Literal of ints
    # takes 90.0: a size and an edit's numbers are JSON integers as written (10, not 10.0).
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a JSON integer, such as 10 (not 10.0, 1e1, true or a string)")
    return value


JsonInteger = BeforeValidator(_json_integer)


class AttachmentCreate(InputModel):
    """An upload to come: the presigned POST will enforce this type and at most this size."""

    filename: Filename
    content_type: Annotated[str, StringConstraints(max_length=100)] = Field(
        description="One of "
        + ", ".join(ACCEPTED_CONTENT_TYPES)
        + " (else 415), or another name of one ("
        + ", ".join(CONTENT_TYPE_ALIASES)
        + "), parameters ignored."
    )
    size: Annotated[int, JsonInteger] = Field(
        gt=0, description="Bytes, a JSON integer; at most 20 MB (else 413)."
    )


class UploadTicket(OutputModel):
    """A presigned S3 POST: send `fields` and then `file` as multipart/form-data to `url`."""

    url: str
    fields: dict[str, str]
    expires_in: int


# Every download URL in an answer (`storage.presigned_get`).
SHORT_LIVED_URL = (
    "A presigned S3 GET URL, valid for `DOWNLOAD_URL_TTL_SECONDS` (300 s unless configured);"
    " read the attachment again for a fresh one. `null` while there is nothing to download."
)


# A filename as shown: one stored before filenames were checked is made one (no migration
# rewrote them): one line, no directories, no bidi override.
ShownFilename = Annotated[str, AfterValidator(upload_filename)]


class AttachmentSummary(OutputModel):
    """What a note shows of each of its attachments."""

    id: str
    filename: ShownFilename
    content_type: str
    size: int = 0
    status: Status
    error: str | None = None


class DerivedImage(OutputModel):
    """The result of one edit request."""

    id: str
    status: Status
    error: str | None = None
    operations: list[dict[str, Any]]
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = Field(default=None, description=SHORT_LIVED_URL)
    created_at: datetime


class Attachment(AttachmentSummary):
    width: int | None = None
    height: int | None = None
    ocr_text: str | None = None
    ocr_confidence: float | None = None
    original_url: str | None = Field(default=None, description=SHORT_LIVED_URL)
    thumbnail_url: str | None = Field(default=None, description=SHORT_LIVED_URL)
    web_url: str | None = Field(default=None, description=SHORT_LIVED_URL)
    derived: list[DerivedImage] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class AttachmentCreated(OutputModel):
    attachment: Attachment
    upload: UploadTicket


# --- edits -----------------------------------------------------------------------------------

# The bounds before the validator: after it, pydantic can only check them as a function of
# its own and writes them into the JSON schema under its names (`gt`, `le`), unknown to
# every JSON Schema reader; before it, they are the schema's exclusiveMinimum and maximum.
Edge = Annotated[int, Field(gt=0, le=MAX_EDGE), JsonInteger]
Offset = Annotated[int, Field(ge=0, le=MAX_EDGE), JsonInteger]


class Rotate(InputModel):
    op: Literal["rotate"]
    degrees: Annotated[Literal[90, 180, 270, -90, -180, -270], JsonInteger] = Field(
        description="Clockwise"
    )


class Crop(InputModel):
    op: Literal["crop"]
    x: Offset
    y: Offset
    width: Edge
    height: Edge


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) scaled by `scale`, at least 1 x 1: the rounding of every resize."""
    return max(1, round(width * scale)), max(1, round(height * scale))


class Resize(InputModel):
    """Fit inside width x height; one of them alone keeps the aspect ratio."""

    op: Literal["resize"]
    width: Edge | None = None
    height: Edge | None = None

    @model_validator(mode="after")
    def _needs_a_size(self) -> Resize:
        if self.width is None and self.height is None:
            raise ValueError("resize needs width, height or both")
        return self

    def scale_for(self, width: int, height: int) -> float:
        """The factor this resize applies to a width x height image."""
        sides = ((self.width, width), (self.height, height))
        return min(target / current for target, current in sides if target)

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """The size this resize makes of a width x height image (the processor's, exactly)."""
        return scaled_size(width, height, self.scale_for(width, height))


class Grayscale(InputModel):
    op: Literal["grayscale"]


class AutoEnhance(InputModel):
    """Contrast (CLAHE on lightness) and a light denoise."""

    op: Literal["auto_enhance"]


class Convert(InputModel):
    op: Literal["convert"]
    format: Literal["png", "jpeg", "webp"]


Operation = Annotated[
    Rotate | Crop | Resize | Grayscale | AutoEnhance | Convert, Field(discriminator="op")
]


class EditRequest(InputModel):
    """The operations, applied in order. Their numbers are JSON integers: 10, not 10.0, 1e1,
    "10" or true (a 422)."""

    operations: list[Operation] = Field(min_length=1, max_length=MAX_EDIT_OPERATIONS)


class EditAccepted(OutputModel):
    """202: the edit is queued; it appears in the attachment's `derived` list."""

    attachment_id: str
    derived: DerivedImage
