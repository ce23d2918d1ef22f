"""The text an image file carries, read from its bytes without decoding the picture: PNG text chunks (tEXt, zTXt,
iTXt) and eXIf, JPEG's EXIF (APP1) and comments, WebP's EXIF chunk; from EXIF, the UserComment and the few
string tags generation tools write (ComfyUI puts its graph in Make and Model of a WebP).

Read by hand rather than with Pillow: Pillow must recognise the whole picture first, raises on text chunks over
its MAX_TEXT_CHUNK (1 MiB) and drops them, and we want a chunk cut to our cap instead. Every read here is bounded:
chunk and segment counts, bytes kept per text (compressed text is inflated at most to the cap, so a zTXt
decompression bomb costs nothing), and EXIF entries; offsets are checked against the data, and no IFD chain is
followed beyond IFD0 and the Exif IFD, so a loop of offsets cannot be walked.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAX_CHUNK_TEXT = 4 * 1024 * 1024  # bytes of one text kept (inflated, for compressed text)
MAX_TOTAL_TEXT = 12 * 1024 * 1024  # bytes of text kept from one file
MAX_CHUNKS = 20_000  # PNG chunks, JPEG segments or WebP chunks looked at (a 32 MB PNG has a few thousand)
MAX_TEXT_CHUNKS = 256  # text chunks read from one PNG
MAX_IFD_ENTRIES = 512

_PNG = b"\x89PNG\r\n\x1a\n"
_EXIF_HEADER = b"Exif\x00\x00"
# EXIF string tags worth reading: IFD0 ImageDescription, Make, Model, Software, Artist; the Exif IFD's
# UserComment (0x9286) and Windows' XPComment (0x9C9C, UTF-16LE).
_IFD0_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x013B: "Artist"}
_EXIF_IFD_POINTER = 0x8769
_USER_COMMENT = 0x9286
_XP_COMMENT = 0x9C9C
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


@dataclass
class Texts:
    """What a file says in text, each part cut to the caps."""

    chunks: dict[str, str] = field(default_factory=dict)  # PNG keyword -> text (the first chunk of each)
    exif: dict[str, str] = field(default_factory=dict)  # EXIF tag name (above) -> text
    user_comment: str | None = None
    comment: str | None = None  # JPEG COM segment
    budget: int = MAX_TOTAL_TEXT

    def take(self, raw: bytes) -> bytes:
        """`raw` cut to what is left of the file's text budget."""
        kept = raw[: max(0, min(MAX_CHUNK_TEXT, self.budget))]
        self.budget -= len(kept)
        return kept

    @property
    def empty(self) -> bool:
        return not (self.chunks or self.exif or self.user_comment or self.comment)


def read_texts(data: bytes) -> Texts:
    """The text parts of an image file (PNG, JPEG or WebP; anything else gives nothing)."""
    texts = Texts()
    if data.startswith(_PNG):
        _read_png(data, texts)
    elif data.startswith(b"\xff\xd8"):
        _read_jpeg(data, texts)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        _read_webp(data, texts)
    return texts


# --- PNG --------------------------------------------------------------------------------------------------------


def _read_png(data: bytes, texts: Texts) -> None:
    position, text_chunks = len(_PNG), 0
    for _ in range(MAX_CHUNKS):
        if position + 8 > len(data) or texts.budget <= 0:
            return
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        start = position + 8
        position = start + length + 4  # data, then the CRC (not checked: a bad CRC still carries the text)
        if kind == b"IEND":
            return
        if kind in (b"tEXt", b"zTXt", b"iTXt") and text_chunks < MAX_TEXT_CHUNKS:
            text_chunks += 1
            # Compressed text needs its compressed bytes whole; cap them at the chunk cap too.
            _png_text(kind, data[start : start + min(length, MAX_CHUNK_TEXT)], texts)
        elif kind == b"eXIf":
            _read_tiff(data[start : start + min(length, MAX_CHUNK_TEXT)], texts)


def _png_text(kind: bytes, body: bytes, texts: Texts) -> None:
    keyword, separator, rest = body.partition(b"\x00")
    if not separator or not keyword or len(keyword) > 79:
        return
    name = keyword.decode("latin-1")
    if name in texts.chunks:
        return
    if kind == b"tEXt":
        texts.chunks[name] = texts.take(rest).decode("latin-1")
    elif kind == b"zTXt":
        if rest[:1] == b"\x00":
            texts.chunks[name] = _inflate(rest[1:], texts).decode("latin-1")
    else:  # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
        if len(rest) < 2:
            return
        compressed, rest = rest[0] == 1, rest[2:]
        _language, _, rest = rest.partition(b"\x00")
        _translated, _, rest = rest.partition(b"\x00")
        raw = _inflate(rest, texts) if compressed else texts.take(rest)
        texts.chunks[name] = raw.decode("utf-8", errors="replace")


def _inflate(compressed: bytes, texts: Texts) -> bytes:
    """zlib data inflated to at most the caps: a few KB that would inflate to gigabytes stop at the cap."""
    limit = max(0, min(MAX_CHUNK_TEXT, texts.budget))
    try:
        inflated = zlib.decompressobj().decompress(compressed, limit)
    except zlib.error:
        return b""
    texts.budget -= len(inflated)
    return inflated


# --- JPEG -------------------------------------------------------------------------------------------------------


def _read_jpeg(data: bytes, texts: Texts) -> None:
    position = 2
    for _ in range(MAX_CHUNKS):
        if position + 4 > len(data) or data[position] != 0xFF:
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            position += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: the metadata came before
            return
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        body = data[position + 4 : position + 2 + length]
        position += 2 + length
        if marker == 0xE1 and body.startswith(_EXIF_HEADER):
            _read_tiff(body[len(_EXIF_HEADER) :], texts)
        elif marker == 0xFE and texts.comment is None:
            texts.comment = _decode_text(texts.take(body))


# --- WebP -------------------------------------------------------------------------------------------------------


def _read_webp(data: bytes, texts: Texts) -> None:
    position = 12
    for _ in range(MAX_CHUNKS):
        if position + 8 > len(data):
            return
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        body = data[position + 8 : position + 8 + min(length, MAX_CHUNK_TEXT)]
        position += 8 + length + (length & 1)
        if kind == b"EXIF":
            _read_tiff(body[len(_EXIF_HEADER) :] if body.startswith(_EXIF_HEADER) else body, texts)
            return


# --- EXIF (TIFF structure) --------------------------------------------------------------------------------------


def _read_tiff(tiff: bytes, texts: Texts) -> None:
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    exif_ifd = None
    for tag, kind, count, value in _ifd_entries(tiff, order, ifd0):
        if tag in _IFD0_TAGS and _IFD0_TAGS[tag] not in texts.exif:
            raw = _value(tiff, order, kind, count, value)
            if raw:
                texts.exif[_IFD0_TAGS[tag]] = _decode_text(texts.take(raw.rstrip(b"\x00")))
        elif tag == _EXIF_IFD_POINTER and kind in (4, 13):
            (exif_ifd,) = struct.unpack(order + "I", value)
    if exif_ifd is None or exif_ifd == ifd0:
        return
    for tag, kind, count, value in _ifd_entries(tiff, order, exif_ifd):
        if tag == _USER_COMMENT and texts.user_comment is None:
            texts.user_comment = user_comment(texts.take(_value(tiff, order, kind, count, value)))
        elif tag == _XP_COMMENT and texts.comment is None:
            texts.comment = texts.take(_value(tiff, order, kind, count, value)).decode("utf-16-le", "replace")
            texts.comment = texts.comment.rstrip("\x00") or None


def _ifd_entries(tiff: bytes, order: str, offset: int) -> list[tuple[int, int, int, bytes]]:
    if offset + 2 > len(tiff):
        return []
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    entries = []
    for index in range(min(count, MAX_IFD_ENTRIES)):
        start = offset + 2 + 12 * index
        if start + 12 > len(tiff):
            break
        tag, kind, number = struct.unpack(order + "HHI", tiff[start : start + 8])
        entries.append((tag, kind, number, tiff[start + 8 : start + 12]))
    return entries


def _value(tiff: bytes, order: str, kind: int, count: int, value: bytes) -> bytes:
    """An entry's bytes: inline when they fit in 4 bytes, else at the offset it holds (checked, capped)."""
    size = _TYPE_SIZES.get(kind, 1) * count
    if size <= 4:
        return value[:size]
    (offset,) = struct.unpack(order + "I", value)
    if offset >= len(tiff):
        return b""
    return tiff[offset : offset + min(size, MAX_CHUNK_TEXT)]


def user_comment(raw: bytes) -> str | None:
    """EXIF UserComment: 8 bytes naming the character code, then the text. A1111 writes `UNICODE\\0` and UTF-16
    big-endian (piexif); other tools write little-endian: a byte order mark, or where the zero bytes of ASCII
    text fall, tells which."""
    code, body = raw[:8], raw[8:]
    if code == b"UNICODE\x00":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            decoded = body.decode("utf-16", errors="replace")
        else:
            sample = body[:400]
            big = sample[0::2].count(0) > sample[1::2].count(0)
            decoded = body.decode("utf-16-be" if big else "utf-16-le", errors="replace")
    elif code == b"ASCII\x00\x00\x00":
        decoded = body.decode("latin-1")
    elif code == b"JIS\x00\x00\x00\x00\x00":
        decoded = body.decode("shift_jis", errors="replace")
    else:  # undefined code: most writers put UTF-8 there, some omit the code entirely
        decoded = _decode_text(body if code == b"\x00" * 8 else raw)
    return decoded.strip("\x00").strip() or None


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
