"""The colour profile (ICC) of an upload, carried over to the images made from it.

OpenCV decodes pixel values and drops the profile that says what colours they are. An
iPhone photo's values are Display P3, a camera's often Adobe RGB: shown as sRGB, which a
file without a profile is, their saturated colours come out visibly dull. So each JPEG, PNG
and WebP made from an upload carries the upload's RGB profile, and viewers show the colours
the photo has; no colour is converted here. Pure bytes, no decoding: a profile that is
damaged, not RGB (a CMYK JPEG's: OpenCV converts its pixels to RGB) or over MAX_BYTES is
left out, and the image is as it was before profiles were kept.
"""

from __future__ import annotations

import struct
import zlib

MAX_BYTES = 256 * 1024
_JPEG_ICC = b"ICC_PROFILE\x00"
_JPEG_CHUNK = 65_519  # an APP2 segment's 65 533 bytes of data less the tag and the numbering
_APP0, _APP2, _SOS, _EOI = 0xE0, 0xE2, 0xDA, 0xD9
_WEBP_ICC_FLAG, _WEBP_ALPHA_FLAG = 0x20, 0x10


def read(data: bytes, fmt: str) -> bytes | None:
    """The RGB colour profile embedded in `data` (of format `fmt`), or None."""
    reader = _READERS.get(fmt)
    try:
        profile = reader(data) if reader else None
    except (struct.error, IndexError, ValueError, zlib.error):
        return None  # decoders ignore a damaged profile, and so do we
    return profile if profile is not None and _usable(profile) else None


def embed(encoded: bytes, fmt: str, profile: bytes | None) -> bytes:
    """`encoded` (a JPEG, PNG or WebP file as OpenCV writes it) carrying `profile`."""
    if profile is None:
        return encoded
    return _WRITERS[fmt](encoded, profile)


def _usable(profile: bytes) -> bool:
    """An ICC profile of RGB data, as long as its header says, and not too long to carry."""
    return (
        128 <= len(profile) <= MAX_BYTES
        and struct.unpack_from(">I", profile)[0] == len(profile)
        and profile[36:40] == b"acsp"
        and profile[16:20] == b"RGB "
    )


def _from_jpeg(data: bytes) -> bytes | None:
    """APP2 ICC_PROFILE segments before the scan, put together in their numbered order."""
    chunks: dict[int, bytes] = {}
    pos = 2
    while True:
        while data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if data[pos] != 0xFF or data[pos + 1] in (_SOS, _EOI):
            break
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == _APP2 and data.startswith(_JPEG_ICC, pos + 4):
            chunks[data[pos + 16]] = data[pos + 18 : pos + 2 + length]
        pos += 2 + length
    if not chunks or sorted(chunks) != list(range(1, len(chunks) + 1)):
        return None
    return b"".join(chunks[number] for number in sorted(chunks))


def _from_png(data: bytes) -> bytes | None:
    """The iCCP chunk (name, compression method 0, zlib data), which comes before IDAT."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            return None
        if kind == b"iCCP":
            body = data[pos + 8 : pos + 8 + length]
            compressed = body[body.index(b"\x00") + 2 :]
            inflater = zlib.decompressobj()
            profile = inflater.decompress(compressed, MAX_BYTES + 1)  # never a zip bomb
            return profile if inflater.eof else None
        pos += 12 + length
    return None


def _from_webp(data: bytes) -> bytes | None:
    """The ICCP chunk of an extended (VP8X) WebP."""
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        if kind == b"ICCP":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    return None


_ICC_TAG, _UNDEFINED = 34675, 7


def _from_tiff(data: bytes) -> bytes | None:
    """Tag 34675 (InterColorProfile) of the first IFD."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, offset)
    for entry in range(offset + 2, offset + 2 + count * 12, 12):
        tag, kind, number, where = struct.unpack_from(order + "HHII", data, entry)
        if tag == _ICC_TAG and kind == _UNDEFINED and number > 4:
            return data[where : where + number]
    return None


def _into_jpeg(jpeg: bytes, profile: bytes) -> bytes:
    """APP2 segments after SOI and the JFIF APP0 OpenCV writes first."""
    pos = 2
    if jpeg[pos + 1] == _APP0:
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    parts = [profile[at : at + _JPEG_CHUNK] for at in range(0, len(profile), _JPEG_CHUNK)]
    segments = b"".join(
        b"\xff\xe2"
        + struct.pack(">H", 2 + len(_JPEG_ICC) + 2 + len(part))
        + _JPEG_ICC
        + bytes((number, len(parts)))
        + part
        for number, part in enumerate(parts, 1)
    )
    return jpeg[:pos] + segments + jpeg[pos:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _into_png(png: bytes, profile: bytes) -> bytes:
    """An iCCP chunk right after IHDR (8 bytes of signature, 25 of IHDR)."""
    iccp = _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(profile))
    return png[:33] + iccp + png[33:]


def _into_webp(webp: bytes, profile: bytes) -> bytes:
    """An ICCP chunk after the VP8X chunk, which a simple (VP8 or VP8L) WebP gets first."""
    kind = webp[12:16]
    if kind == b"VP8X":
        header = webp[12:20] + bytes((webp[20] | _WEBP_ICC_FLAG,)) + webp[21:30]
        rest = webp[30:]
    else:
        width, height = _webp_size(webp)
        flags = _WEBP_ICC_FLAG
        if kind == b"VP8L" and webp[24] & 0x10:  # the alpha_is_used bit
            flags |= _WEBP_ALPHA_FLAG
        size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        header = b"VP8X" + struct.pack("<I", 10) + bytes((flags, 0, 0, 0)) + size
        rest = webp[12:]
    iccp = b"ICCP" + struct.pack("<I", len(profile)) + profile + b"\x00" * (len(profile) & 1)
    body = b"WEBP" + header + iccp + rest
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_size(webp: bytes) -> tuple[int, int]:
    if webp[12:16] == b"VP8L":
        bits = int.from_bytes(webp[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    width, height = struct.unpack_from("<HH", webp, 26)
    return width & 0x3FFF, height & 0x3FFF


_READERS = {"jpeg": _from_jpeg, "png": _from_png, "webp": _from_webp, "tiff": _from_tiff}
_WRITERS = {"jpeg": _into_jpeg, "png": _into_png, "webp": _into_webp}
