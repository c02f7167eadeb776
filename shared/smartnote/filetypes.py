"""What an image file really is, from its first bytes: format and pixel size, no decoding.

Pure Python (no OpenCV, no numpy): the API uses it to refuse a non-image upload at once,
and the image function uses it to refuse decompression bombs *before* anything decodes them
(a PNG header can announce 50 000 x 50 000 pixels in 100 bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import NamedTuple

MIME_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "gif": "image/gif",
}
ACCEPTED_FORMATS = ("jpeg", "png", "webp", "tiff", "bmp")
# ISO base media files (an `ftyp` box first) by their brands: what phones save (HEIC since
# iOS 11, AVIF), recognised only to be refused by name. AVIF lists mif1 too: it goes first.
_BRANDS = {
    "avif": {b"avif", b"avis"},
    "heic": {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"},
}


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    frames: int = 1  # > 1: animated (GIF, APNG, WebP) or multi-page (TIFF)
    orientation: int = 1  # EXIF orientation, 1 (upright) to 8
    progressive: bool = False  # a progressive JPEG: decoded in as many passes as it has scans

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]


class NotAnImage(ValueError):
    """The bytes are not an image format we know, or its header is unreadable."""


class UnsupportedImage(NotAnImage):
    """A well-formed image whose header says we cannot process its pixels; the message says
    why, in words for the user."""


class _Read(NamedTuple):
    width: int
    height: int
    frames: int = 1
    orientation: int = 1
    progressive: bool = False


_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("jpeg", lambda d: d.startswith(b"\xff\xd8\xff")),
    ("png", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
    ("webp", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP"),
    ("tiff", lambda d: d[:4] in (b"II*\x00", b"MM\x00*")),
    ("bmp", lambda d: d[:2] == b"BM" and len(d) >= 26),
    ("gif", lambda d: d[:6] in (b"GIF87a", b"GIF89a")),
)


def _iso_media_format(data: bytes) -> str | None:
    """ "heic" or "avif" by the brands of a leading `ftyp` box (its major brand, then the
    compatible ones), or None."""
    if data[4:8] != b"ftyp":
        return None
    end = min(int.from_bytes(data[:4], "big"), len(data))
    brands = {data[at : at + 4] for at in (8, *range(16, end - 3, 4))}
    return next((fmt for fmt, names in _BRANDS.items() if brands & names), None)


def sniff_format(data: bytes) -> str | None:
    """The format named by the magic number at the start of `data`, or None."""
    found = next((fmt for fmt, matches in _SIGNATURES if matches(data)), None)
    return found or _iso_media_format(data)


def not_accepted(fmt: str) -> str:
    """Why an image of `fmt`, a format we recognise, is refused, in words for the user."""
    return f"{fmt.upper()} images are not accepted (JPEG, PNG, WebP, TIFF, BMP are)"


def read_header(data: bytes) -> ImageHeader:
    """Format and dimensions from the header alone; NotAnImage when that is impossible."""
    fmt = sniff_format(data)
    if fmt is None:
        raise NotAnImage("not an image (unknown file signature)")
    if fmt not in _READERS:  # known by name only, its header is not worth reading
        raise UnsupportedImage(not_accepted(fmt))
    try:
        read = _READERS[fmt](data)
    except UnsupportedImage:
        raise
    except (struct.error, IndexError, ValueError) as exc:
        raise NotAnImage(f"the {fmt.upper()} header is damaged") from exc
    if read.width <= 0 or read.height <= 0:
        raise NotAnImage(f"the {fmt.upper()} header announces an empty image")
    return ImageHeader(fmt, *read)


_TIFF_TYPES = {1: "B", 3: "H", 4: "I"}  # BYTE, SHORT, LONG: all that the tags we read use
_ORIENTATION = 274


def _byte_order(tiff: bytes) -> str:
    """struct's byte order of a TIFF structure (a TIFF file, or an EXIF block)."""
    return "<" if tiff[:2] == b"II" else ">"


def _first_ifd(tiff: bytes) -> int:
    """The offset of a TIFF file's first IFD."""
    (offset,) = struct.unpack_from(_byte_order(tiff) + "I", tiff, 4)
    return int(offset)


def _header(tiff: bytes, offset: int) -> tuple[str, int]:
    """The byte order (struct's) of a TIFF structure, and how many entries its IFD at
    `offset` holds."""
    order = _byte_order(tiff)
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    return order, count


def _entries(tiff: bytes, offset: int, order: str, count: int) -> Iterator[tuple[int, str, int]]:
    """Of each entry of the IFD at `offset` (its header: `_header`) whose type we read: its
    tag, its first value's struct format (with the byte order) and position. A tag given
    twice comes once, first as libtiff reads it."""
    seen: set[int] = set()
    for entry in range(offset + 2, offset + 2 + count * 12, 12):
        tag, kind, number = struct.unpack_from(order + "HHI", tiff, entry)
        code = _TIFF_TYPES.get(kind)
        if tag in seen or code is None:
            continue
        seen.add(tag)
        where = entry + 8
        if number * struct.calcsize(code) > 4:  # the values are elsewhere, at this offset
            (where,) = struct.unpack_from(order + "I", tiff, where)
        yield tag, order + code, where


def _ifd(tiff: bytes, offset: int, tags: Collection[int]) -> tuple[dict[int, int], int]:
    """The first value of each of `tags` found in the IFD at `offset` of a TIFF structure,
    and the offset of the next IFD (0: none)."""
    order, count = _header(tiff, offset)
    values = {
        tag: struct.unpack_from(code, tiff, where)[0]
        for tag, code, where in _entries(tiff, offset, order, count)
        if tag in tags
    }
    (next_offset,) = struct.unpack_from(order + "I", tiff, offset + 2 + count * 12)
    return values, next_offset


def tiff_as_stored(data: bytes) -> bytes:
    """A copy of `data`, a TIFF, whose orientation says its pixels are upright as stored
    (1), for a decoder whose own turning is wrong: libtiff turns a tiled image tile by tile,
    mirroring each tile in place. `read_header` gives the orientation to apply instead."""
    offset = _first_ifd(data)
    for tag, code, where in _entries(data, offset, *_header(data, offset)):
        if tag == _ORIENTATION:
            patched = bytearray(data)
            struct.pack_into(code, patched, where, 1)
            return bytes(patched)
    return data


def _exif_orientation(exif: bytes) -> int:
    """The orientation (1-8) an EXIF block gives; 1 when it gives none, or nothing valid."""
    exif = exif.removeprefix(b"Exif\x00\x00")  # JPEG's APP1 has it, PNG and WebP may
    try:
        (offset,) = struct.unpack_from("<I" if exif[:2] == b"II" else ">I", exif, 4)
        orientation = _ifd(exif, offset, {_ORIENTATION})[0].get(_ORIENTATION, 1)
    except struct.error:
        return 1  # decoders ignore a damaged EXIF block, and so do we
    return orientation if 1 <= orientation <= 8 else 1


def _png(data: bytes) -> _Read:
    if data[12:16] != b"IHDR":
        raise ValueError("IHDR is not the first chunk")
    width, height = struct.unpack(">II", data[16:24])
    frames, orientation = 1, 1
    pos = 8
    # acTL (animation: APNG) and eXIf come before the first IDAT.
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            break
        if kind == b"acTL":
            (frames,) = struct.unpack_from(">I", data, pos + 8)
        elif kind == b"eXIf":
            orientation = _exif_orientation(data[pos + 8 : pos + 8 + length])
        pos += 12 + length  # length, type, data, CRC
    return _Read(width, height, max(1, frames), orientation)


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
# Markers without a length: TEM and RST0-7. SOI, EOI and SOS cannot come before the frame.
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_APP1 = 0xE1


def _next_marker(data: bytes, pos: int) -> tuple[int, int]:
    """The next marker at or after `pos` and the position after it, found the way libjpeg
    finds it (jdmarker.c next_marker), so that we read the frame header libjpeg decodes:
    bytes other than FF are skipped, so are fill bytes (FF FF) and FF 00 (a stuffed zero,
    never a marker)."""
    while True:
        pos = data.index(0xFF, pos) + 1
        while data[pos] == 0xFF:
            pos += 1
        if data[pos] != 0x00:
            return data[pos], pos + 1
        pos += 1


def _jpeg(data: bytes) -> _Read:
    pos, orientation = 2, 1
    while True:
        marker, pos = _next_marker(data, pos)
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI, EOI, SOS: libjpeg stops without a frame
            raise ValueError("no frame header")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise ValueError("segment length below 2")
        if marker in _SOF:
            height, width = struct.unpack_from(">HH", data, pos + 3)
            return _Read(width, height, 1, orientation, marker in _PROGRESSIVE_SOF)
        if marker == _APP1 and data.startswith(b"Exif\x00\x00", pos + 2):
            orientation = _exif_orientation(data[pos + 2 : pos + length])
        pos += length


def _webp(data: bytes) -> _Read:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return _Read(width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return _Read((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        flags = data[20]
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        frames = 2 if flags & 0x02 else 1  # bit 1: animation
        return _Read(width, height, frames, _webp_orientation(data) if flags & 0x08 else 1)
    raise ValueError("unknown WebP chunk")


def _webp_orientation(data: bytes) -> int:
    """The orientation in the EXIF chunk of an extended (VP8X) WebP."""
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        if kind == b"EXIF":
            return _exif_orientation(data[pos + 8 : pos + 8 + length])
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return 1


_IMAGE_WIDTH, _IMAGE_LENGTH, _BITS_PER_SAMPLE, _SAMPLE_FORMAT = 256, 257, 258, 339
_IEEE_FLOAT = 3  # SampleFormat: OpenCV reads such samples as raw floats, not as a picture


def _tiff(data: bytes) -> _Read:
    offset = _first_ifd(data)
    tags, next_ifd = _ifd(
        data, offset, {_IMAGE_WIDTH, _IMAGE_LENGTH, _BITS_PER_SAMPLE, _SAMPLE_FORMAT}
    )
    if _IMAGE_WIDTH not in tags or _IMAGE_LENGTH not in tags:
        raise ValueError("no ImageWidth or ImageLength")
    if tags.get(_SAMPLE_FORMAT) == _IEEE_FLOAT:
        bits = tags.get(_BITS_PER_SAMPLE, 1)
        raise UnsupportedImage(f"TIFF with {bits}-bit floating-point samples is not supported")
    frames = 2 if next_ifd else 1  # a second IFD is a second page
    # A TIFF file is itself the TIFF structure an EXIF block is.
    return _Read(tags[_IMAGE_WIDTH], tags[_IMAGE_LENGTH], frames, _exif_orientation(data))


_EXTRA_SAMPLES = 338
ASSOCIATED_ALPHA, UNASSOCIATED_ALPHA = 1, 2  # ExtraSamples: colours stored multiplied or not


def tiff_alpha(data: bytes) -> tuple[int, int]:
    """(ExtraSamples, BitsPerSample) of `data`, a TIFF read by `read_header`, its first page:
    what its extra sample is (0: none, or unspecified; ASSOCIATED_ALPHA; UNASSOCIATED_ALPHA)
    and how many bits each sample has."""
    try:
        tags = _ifd(data, _first_ifd(data), {_EXTRA_SAMPLES, _BITS_PER_SAMPLE})[0]
    except struct.error:
        return 0, 8  # a tag pointing outside the file: the colours are left as decoded
    return tags.get(_EXTRA_SAMPLES, 0), tags.get(_BITS_PER_SAMPLE, 1)


def _bmp(data: bytes) -> _Read:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return _Read(width, abs(height))  # a negative height means top-down rows


def _gif(data: bytes) -> _Read:
    width, height = struct.unpack("<HH", data[6:10])
    return _Read(width, height, _gif_frames(data))


_GIF_IMAGE, _GIF_EXTENSION = 0x2C, 0x21


def _colour_table_size(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _after_sub_blocks(data: bytes, pos: int) -> int:
    """The position after the data sub-blocks starting at `pos` (each a length byte and that
    many bytes, the last of length 0)."""
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def _gif_frames(data: bytes) -> int:
    """1 for a still GIF, 2 when a second image follows the first (animated), block by
    block: the compressed pixels can hold any byte pattern. A damaged end stops the count."""
    frames = 0
    pos = 13 + _colour_table_size(data[10])  # header, screen descriptor, global table
    try:
        while frames < 2 and data[pos] in (_GIF_IMAGE, _GIF_EXTENSION):
            if data[pos] == _GIF_EXTENSION:  # introducer, label, sub-blocks
                pos = _after_sub_blocks(data, pos + 2)
                continue
            frames += 1  # descriptor (10 bytes), local table, LZW code size, sub-blocks
            pos = _after_sub_blocks(data, pos + 11 + _colour_table_size(data[pos + 9]))
    except IndexError:
        pass
    return max(1, frames)


_READERS = {"png": _png, "jpeg": _jpeg, "webp": _webp, "tiff": _tiff, "bmp": _bmp, "gif": _gif}
