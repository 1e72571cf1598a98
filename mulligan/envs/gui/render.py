"""Screenshots: where each element of a screen sits (pure Python) and the drawn image (Pillow).

:func:`layout` gives every visible element a bounding box ``(x0, y0, x1, y1)`` in pixels, the
same boxes :func:`draw` paints, so a test or a critic can find in the image the element the tree
names. Rows are stacked top to bottom under a title bar; children sit inside their container's box.
Everything outside the title bar and the element boxes is background.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from mulligan.envs.gui.widgets import Element, Screen
from mulligan.errors import DependencyNotInstalled

WIDTH, MIN_HEIGHT = 360, 640
TITLE_BOX = (0, 0, WIDTH, 44)
ROW, GAP, HEADER, INDENT, MARGIN = 30, 6, 22, 12, 8
BACKGROUND = (255, 255, 255)
TEXT_DARK, TEXT_LIGHT = (33, 33, 33), (255, 255, 255)
FILLS = {"button": (66, 133, 244), "toggle": (240, 240, 240), "radio": (240, 240, 240), "checkbox": (240, 240, 240),
         "textbox": (248, 248, 248), "listitem": (232, 240, 254), "text": (245, 245, 245)}
IRREVERSIBLE, DISABLED, OUTLINE = (211, 47, 47), (200, 200, 200), (117, 117, 117)
Box = tuple[int, int, int, int]


def layout(screen: Screen) -> tuple[dict[int, Box], int]:
    """The bounding box of every visible element by id, and the image height."""
    boxes: dict[int, Box] = {}

    def place(el: Element, x0: int, x1: int, y: int) -> int:
        kids = el.visible_children()
        if not kids:
            boxes[el.id] = (x0, y, x1, y + ROW)
            return y + ROW + GAP
        inner = y + HEADER + 2
        for child in kids:
            inner = place(child, x0 + INDENT, x1 - INDENT // 2, inner)
        if any(el.hidden_counts()):
            inner += HEADER
        boxes[el.id] = (x0, y, x1, inner)
        return inner + GAP

    y = TITLE_BOX[3] + MARGIN
    for el in screen.elements:
        y = place(el, MARGIN, WIDTH - MARGIN, y)
    return boxes, max(MIN_HEIGHT, y + MARGIN)


@lru_cache(maxsize=1)
def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=13)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _label(el: Element) -> str:
    if el.role == "textbox":
        return f"{el.label}: {el.value or ''}"
    return el.label


def draw(screen: Screen) -> np.ndarray:
    """The screen as an RGB image (height x 360 x 3, uint8).

    Raises:
        DependencyNotInstalled: Pillow is missing.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError as e:
        raise DependencyNotInstalled('Screenshots need Pillow: pip install "mulligan[gui]"') from e
    boxes, height = layout(screen)
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    pen = ImageDraw.Draw(image)
    font = _font()
    pen.rectangle(TITLE_BOX, fill=TEXT_DARK)
    pen.text((MARGIN + 4, 14), screen.title[:40], fill=TEXT_LIGHT, font=font)
    for el, _ in screen.visible():
        x0, y0, x1, y1 = boxes[el.id]
        chars = max(4, (x1 - x0 - 40) // 7)
        if el.visible_children():
            pen.rectangle((x0, y0, x1, y1), outline=OUTLINE)
            pen.text((x0 + 6, y0 + 4), el.label[:chars], fill=OUTLINE, font=font)
            above, below = el.hidden_counts()
            if above or below:
                pen.text((x0 + 6, y1 - HEADER + 4), f"^ {above} more  v {below} more", fill=OUTLINE, font=font)
            continue
        fill = DISABLED if el.disabled else IRREVERSIBLE if el.irreversible else FILLS.get(el.role, FILLS["text"])
        pen.rectangle((x0, y0, x1, y1), fill=fill, outline=OUTLINE if el.role == "textbox" else None)
        ink = TEXT_LIGHT if el.role == "button" and not el.disabled else TEXT_DARK
        left = x0 + 8
        if el.role in ("radio", "checkbox"):
            dot = (x0 + 8, y0 + 9, x0 + 20, y0 + 21)
            pen.ellipse(dot, outline=TEXT_DARK, fill=TEXT_DARK if el.checked else None)
            left = x0 + 28
        if el.role == "toggle":
            pen.rounded_rectangle((x1 - 44, y0 + 7, x1 - 8, y0 + 23), radius=8,
                                  fill=(52, 168, 83) if el.checked else (158, 158, 158))
        pen.text((left, y0 + 8), _label(el)[:chars], fill=ink, font=font)
    return np.asarray(image, dtype=np.uint8).copy()
