"""Turning a checked original into what the site shows, in one decode: the public copy, its thumbnails, a
BlurHash and a perceptual hash. Pure: bytes in, bytes out; storing is `images.ingest.pipeline`'s.

- The public copy is re-encoded as WebP at most `image_max_side` on its long side, the EXIF orientation applied
  to the pixels. Nothing of the file's metadata travels: no EXIF (GPS position, camera serial numbers, dates), no
  XMP, and no ICC profile: a picture in another colour space is converted to sRGB, which browsers assume.
- An animated GIF or WebP stays animated (an animated WebP, frame timings kept), with its first frame as a still
  poster; the poster is what thumbnails, the BlurHash, the perceptual hash and the classifier see.
- Thumbnails in the widths of `image_thumbnail_widths` narrower than the copy, still WebPs.
- The perceptual hash is a 64-bit DCT hash (pHash) of the grey picture at 32 x 32: re-encoding, resizing and a
  few changed pixels move it by a few bits, a different picture by about half of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, ImageSequence

from modelyard.images import blurhash
from modelyard.images.classifier import on_white
from modelyard.images.ingest.checks import FORMATS

COPY_QUALITY = 88
THUMBNAIL_QUALITY = 80
ANIMATION_QUALITY = 80
MIN_FRAME_MS = 20  # browsers show a 0 ms GIF frame for 100 ms; a WebP keeps what it is told
HASH_SIDE = 32
HASH_BITS = 8


class Unreadable(Exception):
    """The original passed the checks but its pixels cannot be decoded (damaged inside): no retry will help."""


@dataclass(frozen=True)
class Processed:
    webp: bytes
    width: int
    height: int
    animated: bool
    blurhash: str
    phash: int
    poster: bytes | None = None
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    # The still picture thumbnails were made from (the poster of an animation), for the classifier.
    still: PILImage.Image | None = None


def process(original: bytes, *, max_side: int, thumbnail_widths: list[int]) -> Processed:
    """Decode `original` once and make everything shown of it; raises Unreadable."""
    try:
        with PILImage.open(io.BytesIO(original), formats=FORMATS) as source:
            if getattr(source, "n_frames", 1) > 1:
                webp, still = _animated(source, max_side)
                animated = True
            else:
                still = _fitted(_upright(source), max_side)
                webp = _encode(still, COPY_QUALITY)
                animated = False
    except (OSError, ValueError, SyntaxError, EOFError, PILImage.DecompressionBombError) as exc:
        raise Unreadable(f"the picture cannot be decoded: {exc}") from exc
    thumbnails = _thumbnails(still, thumbnail_widths)
    smallest = _hashing_size(still)
    return Processed(
        webp=webp,
        width=still.width,
        height=still.height,
        animated=animated,
        blurhash=blurhash.encode(smallest),
        phash=perceptual_hash(smallest),
        poster=_encode(still, COPY_QUALITY) if animated else None,
        thumbnails=thumbnails,
        still=still,
    )


def _upright(picture: PILImage.Image) -> PILImage.Image:
    """The pixels as they are meant to be seen: EXIF orientation applied, in sRGB, RGB or RGBA."""
    picture.load()
    turned = ImageOps.exif_transpose(picture) or picture
    turned = _to_srgb(turned, picture.info.get("icc_profile"))
    alpha = turned.mode in ("RGBA", "LA", "PA") or (turned.mode == "P" and "transparency" in turned.info)
    if turned.mode.startswith("I;16"):
        turned = turned.point(lambda value: value / 256).convert("L")
    return turned.convert("RGBA" if alpha else "RGB")


def _to_srgb(picture: PILImage.Image, icc: bytes | None) -> PILImage.Image:
    if not icc or picture.mode not in ("RGB", "RGBA", "CMYK"):
        return picture
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        mode = "RGBA" if picture.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(picture, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return picture  # a broken profile: the pixels as stored, which is what most viewers show anyway
    return converted if converted is not None else picture


def _fitted(picture: PILImage.Image, side: int) -> PILImage.Image:
    if max(picture.size) <= side:
        return picture
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(picture: PILImage.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # exif, xmp and icc_profile are written only when given: none is.
    picture.save(out, format="WEBP", quality=quality, method=4)
    return out.getvalue()


def _animated(source: PILImage.Image, max_side: int) -> tuple[bytes, PILImage.Image]:
    """An animated WebP of every frame (fitted, timings kept) and its first frame."""
    frames: list[PILImage.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(source):
        frames.append(_fitted(frame.convert("RGBA"), max_side))
        durations.append(max(int(frame.info.get("duration") or 100), MIN_FRAME_MS))
    sizes = {frame.size for frame in frames}
    if len(sizes) > 1:  # frames of one animation share a canvas; fit strays to the first frame's
        frames = [frame if frame.size == frames[0].size else frame.resize(frames[0].size) for frame in frames]
    out = io.BytesIO()
    frames[0].save(
        out,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=int(source.info.get("loop", 0) or 0),
        quality=ANIMATION_QUALITY,
        method=4,
    )
    return out.getvalue(), frames[0]


def _thumbnails(still: PILImage.Image, widths: list[int]) -> dict[int, bytes]:
    """Largest first, each made from the one before (cheaper than from the full copy, as sharp)."""
    made: dict[int, bytes] = {}
    picture = still
    for width in sorted({width for width in widths if width < still.width}, reverse=True):
        height = max(1, round(still.height * width / still.width))
        picture = picture.resize((width, height), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
        made[width] = _encode(picture, THUMBNAIL_QUALITY)
    return made


def _hashing_size(still: PILImage.Image) -> PILImage.Image:
    """A small version of the still for the hashes (their result does not depend on the size they start from,
    within a few bits, and decoding it is cheap)."""
    side = 256
    if max(still.size) <= side:
        return still
    picture = still.copy()
    picture.thumbnail((side, side), PILImage.Resampling.BILINEAR)
    return picture


# --- perceptual hash ------------------------------------------------------------------------------------------


def _dct_matrix(size: int) -> np.ndarray:
    rows = np.arange(size)[:, None]
    columns = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * columns + 1) * rows / (2 * size)) * np.sqrt(2 / size)
    matrix[0, :] = np.sqrt(1 / size)
    return matrix


_DCT = _dct_matrix(HASH_SIDE)


def perceptual_hash(picture: PILImage.Image) -> int:
    """The 64-bit pHash, as a signed integer (databases store 64 signed bits)."""
    grey = on_white(picture).convert("L").resize((HASH_SIDE, HASH_SIDE), PILImage.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    low = (_DCT @ pixels @ _DCT.T)[:HASH_BITS, :HASH_BITS].flatten()
    bits = low > np.median(low[1:])  # the DC term (overall brightness) would dominate the median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= 1 << 63 else value


def hash_distance(first: int, second: int) -> int:
    """How many of the 64 bits differ."""
    return ((first ^ second) & ((1 << 64) - 1)).bit_count()
