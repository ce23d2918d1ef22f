"""Preview pictures for the demo catalog: procedural art drawn with Pillow, seeded, so each model's previews
differ and nothing is downloaded."""

from __future__ import annotations

import colorsys
import io
import itertools
import math
import random
from collections.abc import Callable

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter, ImageOps

Color = tuple[int, int, int]
Size = tuple[int, int]


def _hsv(hue: float, saturation: float, value: float) -> Color:
    return tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))  # type: ignore[return-value]


def _mix(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t), int(a[2] + (b[2] - a[2]) * t))


def _gradient(size: Size, top: Color, bottom: Color) -> PILImage.Image:
    column = PILImage.new("RGB", (1, size[1]))
    column.putdata([_mix(top, bottom, y / max(1, size[1] - 1)) for y in range(size[1])])
    return column.resize(size)


def _disc(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: Color | None, **outline: object) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill, **outline)  # type: ignore[arg-type]


def _landscape(rng: random.Random, size: Size) -> PILImage.Image:
    (w, h), hue = size, rng.random()
    horizon, dark = _hsv(hue + 0.1, 0.5, 1.0), _hsv(hue + 0.5, 0.5, 0.15)
    image, glow = _gradient(size, _hsv(hue, 0.6, 0.55), horizon), PILImage.new("RGB", size)
    x, y, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.25, 0.45) * h, rng.uniform(w / 16, w / 8)
    _disc(ImageDraw.Draw(glow), x, y, 2 * r, (255, 240, 200))
    image = PILImage.blend(image, glow.filter(ImageFilter.GaussianBlur(w / 12)), 0.35)
    draw = ImageDraw.Draw(image)
    _disc(draw, x, y, r, _mix(horizon, (255, 255, 235), 0.7))
    for layer in range(4):
        steps = [rng.uniform(-1, 1) * (10 + 4 * layer) * w / 512 for _ in range(w // 8 + 2)]
        ridge = [(i * 8.0, h * (0.48 + 0.13 * layer) + y) for i, y in enumerate(itertools.accumulate(steps))]
        draw.polygon([*ridge, (w, h), (0, h)], _mix(horizon, dark, (layer + 1) / 4.5))
    return image


def _ink(rng: random.Random, size: Size) -> PILImage.Image:
    image = PILImage.new("RGB", size, (242, 236, 222))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(5, 9)):
        x, y, r, angle = rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.uniform(10, 24), rng.random() * math.tau
        tone = rng.randint(20, 140)
        for _ in range(rng.randint(30, 90)):
            angle += rng.uniform(-0.25, 0.25)
            x, y, r = x + 4 * math.cos(angle), y + 4 * math.sin(angle), max(1.5, r * 0.99)
            draw.ellipse((x - r, y - r / 2, x + r, y + r / 2), (tone, tone, tone))
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    x, y = rng.uniform(0.75, 0.85) * size[0], rng.uniform(0.75, 0.85) * size[1]
    ImageDraw.Draw(image).rectangle((x, y, x + 28, y + 28), (178, 34, 34))
    return image


def _pixel(rng: random.Random, size: Size) -> PILImage.Image:
    small = _landscape(rng, (size[0] // 8, size[1] // 8)).quantize(colors=12).convert("RGB")
    for _ in range(rng.randint(3, 7)):  # little houses
        x, y = rng.randrange(small.width - 3), rng.randrange(small.height // 2, small.height - 4)
        ImageDraw.Draw(small).rectangle((x, y, x + 2, y + 3), _hsv(rng.random(), 0.7, 0.6))
    return small.resize(size, PILImage.Resampling.NEAREST)


def _bokeh(rng: random.Random, size: Size) -> PILImage.Image:
    hue = rng.random()
    image, lights = _gradient(size, _hsv(hue, 0.7, 0.12), _hsv(hue + 0.1, 0.6, 0.3)), PILImage.new("RGB", size)
    for _ in range(rng.randint(25, 45)):
        color = _hsv(hue + rng.uniform(-0.15, 0.15), 0.6, rng.uniform(0.4, 1))
        _disc(ImageDraw.Draw(lights), rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.uniform(10, 45), color)
    return PILImage.blend(image, lights.filter(ImageFilter.GaussianBlur(6)), 0.55)


def _waves(rng: random.Random, size: Size) -> PILImage.Image:
    (w, h), hue = size, rng.random()
    image = PILImage.new("RGB", size, _hsv(hue, 0.3, 0.95))
    for band in range(7):
        base, amplitude, phase, period = (
            h * (0.15 + band * 0.13),
            rng.uniform(8, 30),
            rng.random() * 6,
            rng.uniform(40, 90),
        )
        wave = [(x, base + amplitude * math.sin(x / period + phase)) for x in range(0, w + 9, 8)]
        color = _hsv(hue + band * 0.04, 0.35 + band * 0.08, 0.95 - band * 0.09)
        ImageDraw.Draw(image).polygon([*wave, (w, h), (0, h)], color)
    return image


def _contour(rng: random.Random, size: Size) -> PILImage.Image:
    image = PILImage.new("RGB", size, (8, 8, 12))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 4)):
        x, y, stretch = rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1], rng.uniform(0.6, 1.4)
        for ring in range(1, rng.randint(8, 14)):
            r, x, y = ring * rng.uniform(12, 16), x + rng.uniform(-3, 3), y + rng.uniform(-3, 3)
            draw.ellipse((x - r * stretch, y - r, x + r * stretch, y + r), outline=(235, 235, 235), width=2)
    return image


def _nebula(rng: random.Random, size: Size) -> PILImage.Image:
    def noise(step: int) -> PILImage.Image:
        small = (size[0] // step, size[1] // step)
        values = bytes(rng.randrange(256) for _ in range(small[0] * small[1]))
        return PILImage.frombytes("L", small, values).resize(size, PILImage.Resampling.BICUBIC)

    clouds = ImageOps.autocontrast(PILImage.blend(noise(32), noise(12), 0.3).filter(ImageFilter.GaussianBlur(12)))
    hue = rng.random()
    image = ImageOps.colorize(clouds, (2, 2, 10), _hsv(hue + 0.15, 0.3, 1.0), _hsv(hue, 0.8, 0.6))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(120, 220)):  # stars
        _disc(draw, rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.choice([0.5, 1, 1.5]), (255, 255, 250))
    return image


def _geometric(rng: random.Random, size: Size) -> PILImage.Image:
    hue = rng.random()
    image = PILImage.new("RGB", size, _hsv(hue, 0.12, 0.95))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(8, 14)):
        x, y, r = rng.uniform(0, size[0]), rng.uniform(0, size[1]), rng.uniform(20, 110)
        color = _hsv(hue + rng.choice([0, 0.33, 0.5, 0.66]), rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.95))
        corners = rng.choice([[(x - r, y - r), (x + r, y - r), (x + r, y), (x - r, y)], [(x, y - r), (x + r, y + r)]])
        if rng.random() < 0.3:
            _disc(draw, x, y, r, color, outline=(20, 20, 20), width=4)
        else:
            draw.polygon([*corners, (x - r, y + r)][:4], color, outline=(20, 20, 20), width=4)
    return image


def _bloom(rng: random.Random, size: Size) -> PILImage.Image:
    image = _gradient(size, (238, 232, 214), (222, 214, 190))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 6)):
        x, y, r = rng.uniform(0.15, 0.85) * size[0], rng.uniform(0.15, 0.85) * size[1], rng.uniform(40, 110)
        petals, hue = rng.randint(5, 9), rng.choice([0.0, 0.03, 0.85, 0.12, 0.6])
        draw.line((x, y, x + rng.uniform(-40, 40), size[1]), (70, 110, 60), width=4)
        for scale, value in ((1.0, 0.85), (0.6, 0.65)):  # a rose curve, and a smaller one inside it
            reach = [r * scale * (0.45 + 0.55 * abs(math.cos(petals * t / 2))) for t in _ANGLES]
            rose = [(x + d * math.cos(t), y + d * math.sin(t)) for d, t in zip(reach, _ANGLES, strict=True)]
            draw.polygon(rose, _hsv(hue, 0.7, value), outline=(60, 40, 40))
        _disc(draw, x, y, r / 8, (240, 200, 60))
    return image


_ANGLES = [i * math.tau / 240 for i in range(240)]
ART: dict[str, Callable[[random.Random, Size], PILImage.Image]] = {
    "landscape": _landscape, "ink": _ink, "pixel": _pixel, "bokeh": _bokeh, "waves": _waves,
    "contour": _contour, "nebula": _nebula, "geometric": _geometric, "bloom": _bloom,
}  # fmt: skip


def draw_preview(art: str, rng: random.Random, size: Size = (512, 512)) -> bytes:
    """A procedural picture (PNG bytes) in one of the ART styles; the same seed draws the same picture."""
    out = io.BytesIO()
    ART[art](rng, size).save(out, format="PNG", compress_level=1)
    return out.getvalue()
