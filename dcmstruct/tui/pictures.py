"""Which widget draws the pixel preview: real pixels through textual-image (the kitty terminal
graphics protocol, or sixel) when the optional ``pictures`` extra is installed and the
terminal says it takes one of them; else half blocks (:class:`PixelView`), two pixels a cell.

textual-image asks the terminal when it is imported, and it can ask only before Textual starts
reading the terminal's input: :func:`probe` is called once before the app runs. Set
``DCMSTRUCT_PICTURES=off`` to skip the question (and keep half blocks).

The preview is behind the same gate either way (under the mask, ``p`` asks again before it
shows pixels that may carry burned-in text): this module only chooses how to draw them.
"""

from __future__ import annotations

import os
from importlib import import_module
from importlib.util import find_spec
from typing import Any

import numpy as np
from textual.app import ComposeResult
from textual.widget import Widget

from dcmstruct.tui.pixels import U8
from dcmstruct.tui.widgets.pixel_view import PixelView

ENV = "DCMSTRUCT_PICTURES"
_chosen: type[Widget] | None = None  # textual-image's widget class for this terminal


def probe() -> None:
    """Import textual-image if it is installed (it asks the terminal what it supports), and
    keep its kitty or sixel widget if the terminal takes one. Never raises."""
    global _chosen
    _chosen = None
    if os.environ.get(ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return
    try:
        if find_spec("textual_image") is None:
            return
        renderable = import_module("textual_image.renderable")
        widget = import_module("textual_image.widget")
    except Exception:  # a broken install, a terminal that answers oddly: half blocks
        return
    if renderable.Image is renderable.TGPImage:
        _chosen = widget.TGPImage
    elif renderable.Image is renderable.SixelImage:
        _chosen = widget.SixelImage


def graphics() -> type[Widget] | None:
    """The graphics widget :func:`probe` chose; None: half blocks."""
    return _chosen


class Picture(Widget):
    """The preview drawn by a textual-image widget; the same :attr:`image` interface as
    :class:`PixelView` (uint8 grey or RGB levels)."""

    DEFAULT_CSS = """
    Picture { height: 1fr; align: center middle; }
    Picture > * { width: auto; height: 100%; }
    """

    def __init__(self, renderer: type[Widget], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.renderer = renderer
        self._image: U8 | None = None

    def compose(self) -> ComposeResult:
        yield self.renderer()

    @property
    def levels(self) -> U8 | None:
        return self._image

    @property
    def image(self) -> U8 | None:
        return self._image

    @image.setter
    def image(self, image: U8 | None) -> None:
        self._image = image
        target: Any = self.query_one(self.renderer)
        target.image = None if image is None or not image.size else _pil(image)


def _pil(levels: U8) -> Any:
    pil = import_module("PIL.Image")
    return pil.fromarray(np.ascontiguousarray(levels), "L" if levels.ndim == 2 else "RGB")


def picture_view(*, id: str | None = None) -> PixelView | Picture:
    """The widget for the preview: textual-image's where the terminal takes graphics, half
    blocks otherwise."""
    chosen = graphics()
    return PixelView(id=id) if chosen is None else Picture(chosen, id=id)
