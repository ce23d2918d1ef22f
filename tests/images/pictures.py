"""Pictures for the ingestion tests, made here byte by byte or with Pillow: ordinary ones, ones carrying private
metadata, animations, and hostile files (each with what the upload must answer)."""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageDraw

MIB = 1024 * 1024
SERIAL = "SN-4242-SECRET"
GPS_IFD = 0x8825
BODY_SERIAL = 0xA431
ORIENTATION = 0x0112


def scene(size: tuple[int, int] = (320, 240), seed: int = 1) -> PILImage.Image:
    """A picture with structure (so its perceptual hash means something): random boxes and ellipses."""
    rng = random.Random(seed)
    picture = PILImage.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(picture)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(20, size[0] // 2), y0 + rng.randrange(20, size[1] // 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x0, y0, x1, y1), fill=colour)
    return picture


def encoded(picture: PILImage.Image, format: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=format, **options)
    return out.getvalue()


def png(colour: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    return encoded(PILImage.new("RGB", size, colour))


def jpeg_with_private_exif(size: tuple[int, int] = (400, 300)) -> bytes:
    """A JPEG carrying a GPS position, a camera serial number and an ICC profile."""
    exif = PILImage.Exif()
    exif[0x010F] = "Camera Maker"
    exif.get_ifd(0x8769)[BODY_SERIAL] = SERIAL
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encoded(scene(size), "JPEG", exif=exif, icc_profile=icc, quality=90)


def oriented_jpeg(orientation: int, size: tuple[int, int] = (60, 30)) -> bytes:
    """Left half red, right half blue as stored, with this EXIF orientation."""
    picture = PILImage.new("RGB", size, "blue")
    picture.paste("red", (0, 0, size[0] // 2, size[1]))
    exif = PILImage.Exif()
    exif[ORIENTATION] = orientation
    return encoded(picture, "JPEG", exif=exif, quality=95)


def animation(
    format: str, colours: tuple[str, ...] = ("red", "lime", "blue"), size: tuple[int, int] = (48, 32)
) -> bytes:
    frames = [PILImage.new("RGB", size, colour) for colour in colours]
    return encoded(
        frames[0], format, save_all=True, append_images=frames[1:], duration=[70, 80, 90][: len(frames)], loop=0
    )


# --- PNG chunks, for hostile files --------------------------------------------------------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_of(width: int, height: int, *, before_data: bytes = b"", rows: bytes | None = None) -> bytes:
    """A greyscale PNG claiming `width` x `height`, its pixel data `rows` (default: a few zero rows)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(rows if rows is not None else b"\x00" * (width + 1) * min(height, 4))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + before_data + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def png_with_big_text(megabytes: int, *, compressed: bool) -> bytes:
    text = b"parameters\x00" + b"a" * (megabytes * MIB)
    if compressed:
        text_chunk = chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(text[len(b"parameters\x00") :], 9))
    else:
        text_chunk = chunk(b"tEXt", text)
    return png_of(16, 16, before_data=text_chunk, rows=b"\x00" * 17 * 16)


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    status: int
    says: str


def hostile_pictures() -> list[Hostile]:
    good_png = png("green", (64, 64))
    good_jpeg = encoded(scene((64, 64)), "JPEG")
    good_webp = encoded(scene((64, 64)), "WEBP")
    good_gif = animation("GIF")
    return [
        Hostile(
            "svg named .png",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            422,
            "PNG, JPEG",
        ),
        Hostile("html named .png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", 422, "PNG, JPEG"),
        Hostile("html behind a png signature", b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>", 422, "PNG"),
        Hostile("empty", b"", 422, "PNG, JPEG"),
        Hostile("truncated png", good_png[: len(good_png) // 2], 422, "cut short"),
        Hostile("truncated jpeg", good_jpeg[: len(good_jpeg) - 40], 422, "cut short"),
        Hostile("truncated webp", good_webp[: len(good_webp) - 30], 422, "cut short"),
        Hostile("truncated gif", good_gif[: len(good_gif) // 2], 422, "cut short"),
        Hostile("decompression bomb", png_of(60_000, 60_000), 422, "pixels"),
        Hostile("bomb within Pillow's error band", png_of(20_000, 20_000), 422, "pixels"),
        Hostile("50 MB of compressed text", png_with_big_text(50, compressed=True), 422, "damaged"),
        Hostile("zero-sized png", png_of(0, 0), 422, ""),
    ]
