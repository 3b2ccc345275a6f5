"""An image drawn with half blocks: each cell is two pixels, ``▀`` in the upper one's colour
on the lower one's. Grey levels or RGB come ready-scaled from :mod:`dcmstruct.tui.pixels`."""

from __future__ import annotations

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from dcmstruct.tui.pixels import U8, fit

_UPPER = "▀"


class PixelView(Widget):
    """Shows :attr:`image` ((h, w) grey or (h, w, 3) RGB, uint8) scaled to fit, centred."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._image: U8 | None = None
        self._levels: U8 | None = None
        self._fitted_to: tuple[int, int] | None = None
        self._rows: list[list[tuple[int, ...]]] = []
        self._styles: dict[tuple[tuple[int, ...], tuple[int, ...]], Style] = {}

    @property
    def image(self) -> U8 | None:
        return self._image

    @image.setter
    def image(self, image: U8 | None) -> None:
        self._image = image
        self._fitted_to = None
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        size = (self.size.width, self.size.height)
        if size == self._fitted_to:
            return
        self._fitted_to = size
        image = self._image
        self._set_levels(None if image is None else fit(image, *size))

    @property
    def levels(self) -> U8 | None:
        """The image as drawn: scaled to the widget."""
        return self._levels

    def _set_levels(self, levels: U8 | None) -> None:
        self._levels = levels
        # Python lists once, not a numpy scalar per cell per redraw.
        self._rows = []
        if levels is not None and levels.size:
            grey = levels.ndim == 2
            self._rows = [[(v,) if grey else tuple(v) for v in row] for row in levels.tolist()]
        self.refresh()

    def _pair(self, top: tuple[int, ...], bottom: tuple[int, ...]) -> Style:
        key = (top, bottom)
        style = self._styles.get(key)
        if style is None:
            fg = Color.from_rgb(*(top * 3 if len(top) == 1 else top))
            bg = Color.from_rgb(*(bottom * 3 if len(bottom) == 1 else bottom))
            style = self._styles[key] = Style(color=fg, bgcolor=bg)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        levels = self._levels
        if levels is None or levels.size == 0:
            return Strip.blank(width, base)
        h, w = levels.shape[:2]
        cells = -(-h // 2)
        top_pad = max(0, (self.size.height - cells) // 2)
        row = y - top_pad
        if not 0 <= row < cells:
            return Strip.blank(width, base)
        left = max(0, (width - w) // 2)
        upper = self._rows[2 * row]
        lower = self._rows[2 * row + 1] if 2 * row + 1 < h else None
        segments = [Segment(" " * left, base)] if left else []
        shown = min(w, width)
        for x in range(shown):
            top = upper[x]
            if lower is None:  # an odd last row: the lower half is background
                segments.append(Segment(_UPPER, base + Style(color=self._pair(top, top).color)))
            else:
                segments.append(Segment(_UPPER, self._pair(top, lower[x])))
        rest = width - left - shown
        if rest > 0:
            segments.append(Segment(" " * rest, base))
        return Strip(segments, width)
