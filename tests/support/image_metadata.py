"""Image files carrying generation data, built here: PNG text chunks written byte by byte (so tests can make
chunks no encoder would: bombs, lies about lengths), and EXIF written by Pillow (an independent writer)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image as PILImage

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAKE, MODEL = 0x010F, 0x0110


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def text_chunk(keyword: str, text: str, kind: str = "tEXt") -> bytes:
    """A PNG text chunk: tEXt (Latin-1), zTXt (compressed Latin-1) or iTXt (UTF-8, compressed when `iTXt-z`)."""
    name = keyword.encode("latin-1") + b"\x00"
    if kind == "tEXt":
        return _chunk(b"tEXt", name + text.encode("latin-1"))
    if kind == "zTXt":
        return _chunk(b"zTXt", name + b"\x00" + zlib.compress(text.encode("latin-1")))
    compressed = kind == "iTXt-z"
    body = text.encode("utf-8")
    return _chunk(b"iTXt", name + bytes([compressed, 0]) + b"\x00\x00" + (zlib.compress(body) if compressed else body))


def picture(size: tuple[int, int] = (16, 16), fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (90, 120, 200)).save(out, format=fmt, **options)
    return out.getvalue()


def png_with(*chunks: bytes, after_pixels: bool = False) -> bytes:
    """A real PNG with `chunks` inserted after its header (or after its pixel data, as some tools write them)."""
    data = picture()
    header_end = 8 + 8 + 13 + 4  # signature, then the IHDR chunk
    if after_pixels:
        end = data.rindex(b"IEND") - 4
        return data[:end] + b"".join(chunks) + data[end:]
    return data[:header_end] + b"".join(chunks) + data[header_end:]


def png_text(**texts: str) -> bytes:
    return png_with(*(text_chunk(key, value) for key, value in texts.items()))


def user_comment(text: str, *, big_endian: bool = True) -> bytes:
    """EXIF UserComment as A1111 writes it (`UNICODE\\0`, then UTF-16; piexif writes big-endian)."""
    return b"UNICODE\x00" + text.encode("utf-16-be" if big_endian else "utf-16-le")


def exif_picture(fmt: str, *, comment: bytes | None = None, ifd0: dict[int, str] | None = None) -> bytes:
    """A JPEG or WebP whose EXIF holds `comment` as UserComment and `ifd0` string tags."""
    exif = PILImage.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if comment is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = comment
    return picture(fmt=fmt, exif=exif.tobytes())
