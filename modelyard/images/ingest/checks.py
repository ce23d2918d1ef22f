"""The cheap checks an upload passes before anything is stored: what the request can afford (milliseconds, no
pixel decoded) and what refuses every hostile file a clear 4xx.

- Magic bytes: a PNG, JPEG, GIF or WebP signature, and Pillow (restricted to those four formats) agreeing. SVG,
  HTML or a script named `.png` has none of them.
- Structure read from the bytes where it lies, never copied: a PNG's chunks are walked by their lengths, so a
  50 MB text chunk is measured, not read; a file cut short (no PNG IEND, no JPEG end after its last scan, a WebP
  shorter than its RIFF size, a GIF without its trailer) is refused.
- Pixels from the header against the limits from settings: a decompression bomb (a few KB announcing 50 000 x
  50 000) is refused before it is decoded; Pillow's own bomb warning is an error everywhere in the process.
- The size as shown: EXIF orientations 5 to 8 swap width and height; an unknown or broken orientation counts as
  none (the processing step applies the same rule).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from modelyard.core.errors import PayloadTooLarge, ValidationFailed
from modelyard.core.runtime import get_runtime

# A picture Pillow finds "probably a bomb" is refused, never decoded with a warning in the log.
warnings.simplefilter("error", PILImage.DecompressionBombWarning)

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
MAX_PNG_CHUNKS = 100_000  # a real PNG has tens; each costs a step of the walk
ORIENTATION_TAG = 0x0112
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
NOT_AN_IMAGE = "Images are PNG, JPEG, WebP or GIF files; this file is none of them"


@dataclass(frozen=True)
class Inspected:
    """What the checks learnt of an upload: its format, and its size as it is shown."""

    format: str
    width: int
    height: int
    frames: int
    size: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def animated(self) -> bool:
        return self.frames > 1


def max_upload_bytes() -> int:
    return get_runtime().settings.image_max_upload_mb * 1024 * 1024


def sniff(data: bytes) -> str | None:
    """The format the file's first bytes announce, or None."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def inspect(data: bytes) -> Inspected:
    """Check an upload; raises PayloadTooLarge or ValidationFailed (naming the field `images`) when refused."""
    limit = max_upload_bytes()
    if len(data) > limit:
        raise PayloadTooLarge(f"Images are at most {limit // (1024 * 1024)} MB", field="images")
    announced = sniff(data)
    if announced is None:
        raise ValidationFailed(NOT_AN_IMAGE, field="images")
    _check_structure(announced, data)
    try:
        with _bombs_refused(), PILImage.open(io.BytesIO(data), formats=FORMATS) as picture:
            if picture.format != announced:
                raise ValidationFailed(NOT_AN_IMAGE, field="images")
            width, height = picture.size
            _check_pixels(width, height)
            frames = _frames(picture, width * height)
            if orientation(picture) in SWAPPING_ORIENTATIONS:
                width, height = height, width
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ValidationFailed("That image has too many pixels to be decoded safely", field="images") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise ValidationFailed("That file is damaged or not an image we can read", field="images") from exc
    if width < 1 or height < 1:
        raise ValidationFailed("That image has no pixels", field="images")
    return Inspected(format=announced, width=width, height=height, frames=frames, size=len(data))


@contextmanager
def _bombs_refused() -> Iterator[None]:
    """Pillow's bomb warning as an error here, whatever filters were set since start (a test runner, a library):
    the warning filters are the process's, so this also keeps any other thread's bomb warning an error meanwhile,
    which is what the process-wide filter above says anyway."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        yield


def _check_pixels(width: int, height: int) -> None:
    most = get_runtime().settings.image_max_pixels
    if width * height > most:
        raise ValidationFailed(
            f"That image has {width} x {height} pixels; at most {most // 1_000_000} million are accepted",
            field="images",
        )


def _frames(picture: PILImage.Image, pixels: int) -> int:
    settings = get_runtime().settings
    frames = int(getattr(picture, "n_frames", 1) or 1)
    if frames > settings.image_max_frames:
        raise ValidationFailed(f"Animations have at most {settings.image_max_frames} frames", field="images")
    if frames > 1 and frames * pixels > settings.image_max_animation_pixels:
        raise ValidationFailed("That animation is too large (frames x pixels)", field="images")
    return frames


def orientation(picture: PILImage.Image) -> int:
    """The EXIF orientation (1 to 8), 1 when absent, unknown or unreadable: a broken EXIF block must not refuse
    an otherwise good picture, and the pixels are then shown as stored."""
    try:
        value = picture.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - EXIF parsers fail in many ways on hostile blocks; all mean "no orientation"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_structure(announced: str, data: bytes) -> None:
    if announced == "PNG":
        _walk_png(data)
    elif announced == "JPEG":
        # The last end-of-image marker must follow the last start-of-scan (entropy-coded data never holds FFD9:
        # FF bytes are stuffed). An embedded EXIF thumbnail's FFD9 comes before the picture's scans.
        if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
            raise ValidationFailed("That JPEG is cut short (truncated)", field="images")
    elif announced == "WEBP":
        (riff_size,) = struct.unpack_from("<I", data, 4)
        if len(data) < riff_size + 8:
            raise ValidationFailed("That WebP is cut short (truncated)", field="images")
    elif announced == "GIF" and b";" not in data[-16:]:
        raise ValidationFailed("That GIF is cut short (truncated)", field="images")


def _walk_png(data: bytes) -> None:
    """Every chunk's length and type, read in place: the file ends with IEND, and its text is within limits."""
    most_text = get_runtime().settings.image_max_text_mb * 1024 * 1024
    offset, text, chunks, seen_end = len(PNG_SIGNATURE), 0, 0, False
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if chunks == 0 and kind != b"IHDR":
            raise ValidationFailed("That PNG has no header", field="images")
        end = offset + 12 + length
        if end > len(data):
            break
        chunks += 1
        if kind in PNG_TEXT_CHUNKS:
            text += length
            if text > most_text:
                raise ValidationFailed(
                    f"That PNG carries more than {most_text // (1024 * 1024)} MB of text", field="images"
                )
        if kind == b"IEND":
            seen_end = True
            break
        if chunks > MAX_PNG_CHUNKS:
            raise ValidationFailed("That PNG has too many chunks", field="images")
        offset = end
    if not seen_end:
        raise ValidationFailed("That PNG is cut short (truncated)", field="images")
