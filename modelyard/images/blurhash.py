"""BlurHash (https://blurha.sh): a 20-30 character placeholder of an image, which Civitai sends as every image's
`hash` and clients paint while the image loads.

Encoded from the picture shrunk to 32 x 32, which keeps the pure-Python sums to a few milliseconds per image;
the result differs from one computed at full size only in the last digit of a component. `decode` checks a hash
and paints it (tests, and the placeholder of a missing picture).
"""

from __future__ import annotations

import math
from functools import cache

from PIL import Image as PILImage

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_DIGITS = {character: value for value, character in enumerate(ALPHABET)}
SAMPLE_SIDE = 32
COMPONENTS = (4, 3)  # across, down: Civitai's and most clients' choice for landscape and portrait alike
# A flat mid grey: what an image whose picture cannot be read gets, so every image still has a valid hash.
NEUTRAL = "L1Eyb[~qfQ~q~qoffQoffQfQfQfQ"


class InvalidBlurhash(ValueError):
    pass


def encode(picture: PILImage.Image, components: tuple[int, int] = COMPONENTS) -> str:
    """The BlurHash of a picture (any mode, any size)."""
    across, down = components
    if not (1 <= across <= 9 and 1 <= down <= 9):
        raise ValueError("BlurHash components are 1 to 9 each way")
    sample = picture.convert("RGB")
    sample.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), PILImage.Resampling.BOX)
    width, height = sample.size
    raw = sample.tobytes()
    pixels = [(_to_linear[raw[k]], _to_linear[raw[k + 1]], _to_linear[raw[k + 2]]) for k in range(0, len(raw), 3)]
    factors = []
    for j in range(down):
        column_basis = _cosines(j, height)
        for i in range(across):
            row_basis = _cosines(i, width)
            red = green = blue = 0.0
            for y in range(height):
                vertical = column_basis[y]
                offset = y * width
                for x in range(width):
                    basis = row_basis[x] * vertical
                    r, g, b = pixels[offset + x]
                    red += basis * r
                    green += basis * g
                    blue += basis * b
            scale = (1.0 if i == 0 and j == 0 else 2.0) / (width * height)
            factors.append((red * scale, green * scale, blue * scale))
    return _pack(factors, across, down)


def _pack(factors: list[tuple[float, float, float]], across: int, down: int) -> str:
    dc, ac = factors[0], factors[1:]
    out = [_base83((across - 1) + (down - 1) * 9, 1)]
    if ac:
        largest = max(abs(value) for factor in ac for value in factor)
        quantised = max(0, min(82, math.floor(largest * 166 - 0.5)))
        maximum = (quantised + 1) / 166
        out.append(_base83(quantised, 1))
    else:
        maximum = 1.0
        out.append(_base83(0, 1))
    out.append(_base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4))
    for factor in ac:
        r, g, b = (max(0, min(18, math.floor(_signed_sqrt(value / maximum) * 9 + 9.5))) for value in factor)
        out.append(_base83(r * 19 * 19 + g * 19 + b, 2))
    return "".join(out)


def components_of(blurhash: str) -> tuple[int, int]:
    """(across, down) of a hash, after checking its alphabet and length; `InvalidBlurhash` otherwise."""
    if not isinstance(blurhash, str) or len(blurhash) < 6 or any(c not in _DIGITS for c in blurhash):
        raise InvalidBlurhash("a BlurHash is at least 6 characters of its base-83 alphabet")
    size = _DIGITS[blurhash[0]]
    across, down = size % 9 + 1, size // 9 + 1
    if len(blurhash) != 4 + 2 * across * down:
        raise InvalidBlurhash(f"a {across}x{down} BlurHash is {4 + 2 * across * down} characters")
    return across, down


def decode(blurhash: str, width: int = 32, height: int = 32) -> PILImage.Image:
    """Paint a hash as an RGB picture of `width` x `height`; `InvalidBlurhash` if it is not one."""
    across, down = components_of(blurhash)
    maximum = (_decode83(blurhash[1]) + 1) / 166
    dc = _decode83(blurhash[2:6])
    colours = [(_from_srgb(dc >> 16), _from_srgb((dc >> 8) & 255), _from_srgb(dc & 255))]
    for index in range(1, across * down):
        value = _decode83(blurhash[4 + index * 2 : 6 + index * 2])
        quantised = (value // (19 * 19), (value // 19) % 19, value % 19)
        colours.append(tuple(_signed_square((q - 9) / 9) * maximum for q in quantised))  # type: ignore[arg-type]
    data = bytearray()
    for y in range(height):
        for x in range(width):
            rgb = [0.0, 0.0, 0.0]
            for j in range(down):
                for i in range(across):
                    basis = math.cos(math.pi * x * i / width) * math.cos(math.pi * y * j / height)
                    colour = colours[i + j * across]
                    for channel in range(3):
                        rgb[channel] += colour[channel] * basis
            data += bytes((_to_srgb(rgb[0]), _to_srgb(rgb[1]), _to_srgb(rgb[2])))
    return PILImage.frombytes("RGB", (width, height), bytes(data))


@cache
def _cosines(frequency: int, size: int) -> tuple[float, ...]:
    return tuple(math.cos(math.pi * frequency * position / size) for position in range(size))


def _srgb_to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


_to_linear = [_srgb_to_linear(value) for value in range(256)]


def _from_srgb(value: int) -> float:
    return _to_linear[value]


def _to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _signed_sqrt(value: float) -> float:
    return math.copysign(math.sqrt(abs(value)), value)


def _signed_square(value: float) -> float:
    return math.copysign(value * value, value)


def _base83(value: int, length: int) -> str:
    return "".join(ALPHABET[(value // 83 ** (length - position - 1)) % 83] for position in range(length))


def _decode83(text: str) -> int:
    value = 0
    for character in text:
        value = value * 83 + _DIGITS[character]
    return value
