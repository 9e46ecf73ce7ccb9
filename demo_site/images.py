"""Product images: small PNGs whose look depends on the product's category.

Each category draws its own shape in its own colour family (kitchen: red circles,
outdoor: green triangles, ...), jittered in size, position, rotation and colour, on a
random pale background with pixel noise. A small CNN can learn the category from the
picture, but not from one pixel. The bytes depend only on (seed, product id, category).
"""

from __future__ import annotations

import io
import math
import zlib

import numpy as np
from PIL import Image, ImageDraw

from demo_site.words import CategoryWords

SIZE = 64


def _points(shape: str, cx: float, cy: float, r: float, turn: float) -> list[tuple[float, float]]:
    corners = {"triangle": 3, "square": 4}.get(shape)
    if corners:
        return [
            (
                cx + r * math.cos(turn + 2 * math.pi * i / corners),
                cy + r * math.sin(turn + 2 * math.pi * i / corners),
            )
            for i in range(corners)
        ]
    if shape == "star":
        return [
            (
                cx + (r if i % 2 == 0 else r * 0.45) * math.cos(turn + math.pi * i / 5),
                cy + (r if i % 2 == 0 else r * 0.45) * math.sin(turn + math.pi * i / 5),
            )
            for i in range(10)
        ]
    if shape == "cross":
        w = r * 0.35
        arm = [
            (-w, -r),
            (w, -r),
            (w, -w),
            (r, -w),
            (r, w),
            (w, w),
            (w, r),
            (-w, r),
            (-w, w),
            (-r, w),
            (-r, -w),
            (-w, -w),
        ]
        cos, sin = math.cos(turn), math.sin(turn)
        return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in arm]
    raise ValueError(f"no polygon for shape {shape!r}")


def _draw(
    draw: ImageDraw.ImageDraw, shape: str, rng: np.random.Generator, fill: tuple[int, int, int]
) -> None:
    cx, cy = (SIZE / 2 + rng.uniform(-8, 8) for _ in range(2))
    r = rng.uniform(13, 22)
    turn = rng.uniform(0, 2 * math.pi)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        draw.ellipse(
            (cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45),
            outline=(250, 250, 250),
            width=2,
        )
    elif shape == "bars":
        for i in range(int(rng.integers(3, 6))):
            x = 10 + i * rng.uniform(9, 11)
            top = rng.uniform(8, 22)
            draw.rectangle(
                (x, top, x + 6, 56),
                fill=tuple(min(255, int(c * rng.uniform(0.7, 1.1))) for c in fill),
            )
    else:
        draw.polygon(_points(shape, cx, cy, r, turn), fill=fill)


def product_png(seed: int, product_id: int, category: CategoryWords) -> bytes:
    """The PNG of one product's picture."""
    rng = np.random.default_rng(zlib.crc32(f"{seed}/image/{product_id}".encode()))
    background = tuple(int(v) for v in rng.integers(205, 250, size=3))
    image = Image.new("RGB", (SIZE, SIZE), background)  # type: ignore[arg-type]
    fill = tuple(int(np.clip(c + rng.integers(-35, 36), 0, 255)) for c in category.colour)
    _draw(ImageDraw.Draw(image), category.shape, rng, fill)  # type: ignore[arg-type]
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 10, size=(SIZE, SIZE, 3)).astype(
        np.int16
    )
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
