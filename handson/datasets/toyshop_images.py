"""toyshop's pictures: one 128x128 PNG per item, drawn with PIL from its attributes.

Each picture shows the item's **category** as a silhouette (``_SHAPES``, unit coordinates),
filled with its **colour** (``COLOURS``, name -> RGB) and its **pattern** (plain, striped,
dotted), on a noisy light background, jittered in size, position, rotation and mirroring.
Material and brand are never drawn: they are the text-only signals of the shop. Every
picture comes from its own generator ``default_rng([seed, item index])``, so a picture does
not depend on the others and a shop regenerates byte for byte. PIL and tqdm are imported
only when drawing, which keeps ``import handson.datasets`` light.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["IMAGE_SIZE", "COLOURS", "write_images"]

IMAGE_SIZE = 128
COLOURS = {"red": (205, 35, 40), "orange": (245, 135, 20), "yellow": (240, 215, 40),
           "green": (40, 155, 65), "blue": (35, 85, 205), "purple": (125, 50, 170),
           "pink": (245, 125, 185), "black": (35, 35, 35)}

# silhouettes in unit coordinates (x right, y down); a list of (kind, value, points)
_SHAPES: dict[str, list[tuple[str, int, Any]]] = {
    "shirt": [("poly", 255, [(.30, .08), (.40, .05), (.50, .13), (.60, .05), (.70, .08), (.95, .30),
                             (.82, .43), (.74, .35), (.74, .95), (.26, .95), (.26, .35), (.18, .43),
                             (.05, .30)])],
    "mug": [("ellipse", 255, [(.58, .30), (.92, .78)]), ("ellipse", 0, [(.66, .41), (.83, .67)]),
            ("rect", 255, [(.12, .18), (.68, .92)])],
    "lamp": [("poly", 255, [(.32, .06), (.68, .06), (.88, .45), (.12, .45)]),
             ("rect", 255, [(.46, .45), (.54, .86)]), ("ellipse", 255, [(.24, .80), (.76, .95)])],
    "chair": [("rect", 255, [(.22, .04), (.33, .56)]), ("rect", 255, [(.22, .48), (.82, .59)]),
              ("rect", 255, [(.71, .59), (.80, .96)]), ("rect", 255, [(.22, .56), (.31, .96)])],
    "bag": [("ellipse", 255, [(.28, .06), (.72, .62)]), ("ellipse", 0, [(.36, .15), (.64, .55)]),
            ("rect", 255, [(.10, .36), (.90, .92)])],
    "shoe": [("poly", 255, [(.05, .36), (.16, .32), (.32, .40), (.46, .36), (.60, .50), (.82, .57),
                            (.94, .64), (.97, .76), (.95, .84), (.05, .84)])],
    "hat": [("ellipse", 255, [(.04, .58), (.96, .82)]), ("ellipse", 255, [(.26, .20), (.74, .64)]),
            ("rect", 255, [(.26, .42), (.74, .70)])],
    "book": [("rect", 255, [(.20, .06), (.80, .88)]), ("poly", 255, [(.60, .88), (.70, .88),
                                                                      (.70, .99), (.65, .94), (.60, .99)])],
}


def _draw(category: str, colour: str, pattern: str, rng: np.random.Generator) -> Image.Image:
    """One 128x128 RGB image: a noisy light background and the item's silhouette, filled with
    its colour and pattern, jittered in size, position, rotation and mirroring."""
    from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

    s = IMAGE_SIZE
    size = s * rng.uniform(0.62, 0.82)
    x0, y0 = (s - size) / 2 + rng.uniform(-9, 9, 2)
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)
    for kind, value, pts in _SHAPES[category]:
        xy = [(x0 + x * size, y0 + y * size) for x, y in pts]
        {"poly": draw.polygon, "rect": draw.rectangle, "ellipse": draw.ellipse}[kind](xy, fill=value)
    if rng.random() < 0.5:
        mask = ImageOps.mirror(mask)
    mask = mask.rotate(float(rng.uniform(-8, 8)), resample=Image.BILINEAR)
    rgb = np.clip(np.array(COLOURS[colour]) + rng.integers(-12, 13, 3), 0, 255)
    fill = Image.new("RGB", (s, s), tuple(int(c) for c in rgb))
    accent = tuple(int(c) for c in (0.45 * rgb + 0.55 * 255 if rgb.mean() < 150 else 0.6 * rgb))
    pen = ImageDraw.Draw(fill)
    period = int(rng.integers(9, 14))
    if pattern == "striped":
        for k in range(-s, 2 * s, period):
            pen.line([(k, 0), (k + s // 2, s)], fill=accent, width=max(2, period // 3))
    elif pattern == "dotted":
        r = period / 4.5
        for cy in range(period // 2, s, period):
            for cx in range(period // 2 + (cy // period % 2) * period // 2, s, period):
                pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=accent)
    tint = (rng.uniform(228, 248) + rng.uniform(-6, 6, 3)).astype(np.int16)
    bg = np.clip(tint + rng.integers(-4, 5, (s, s, 1), dtype=np.int16), 0, 255).astype(np.uint8)
    img = Image.composite(fill, Image.fromarray(bg), mask)
    edge = ImageChops.subtract(mask.filter(ImageFilter.MaxFilter(3)), mask)
    return Image.composite(Image.new("RGB", (s, s), tuple(int(c * 0.5) for c in rgb)), img, edge)


def write_images(root: Path, items: pd.DataFrame, has_image: np.ndarray, seed: int) -> list[str | None]:
    """Draw ``root/images/<item_id>.png`` for every item where the boolean ``(n_items,)``
    ``has_image`` is set; returns the image column (paths relative to ``root``, None where
    an item has no picture). ``items`` needs item_id, category, colour and pattern."""
    from tqdm.auto import tqdm

    (root / "images").mkdir(parents=True, exist_ok=True)
    paths = [f"images/{i}.png" if ok else None for i, ok in zip(items["item_id"], has_image)]
    looks = list(zip(items["category"], items["colour"], items["pattern"], paths))
    for k in tqdm(np.flatnonzero(has_image), desc="toyshop images", disable=len(items) < 1500):
        category, colour, pattern, path = looks[k]
        _draw(category, colour, pattern, np.random.default_rng([seed, k])).save(
            root / path, compress_level=3)
    return paths
