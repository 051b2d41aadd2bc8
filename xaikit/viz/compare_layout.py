"""The layout of the comparison figure (:func:`xaikit.viz.compare_figure`): its sizes in inches, headers, legends.

:func:`compare_layout` decides everything the drawing needs to place (cell size,
font sizes, the column headers' text and height, the colour legends at the bottom,
the figure's size); :mod:`xaikit.viz.compare` draws into a figure of that size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .overlay import get_colormap
from .signed import signed_colormap
from .text import fit_text, text_width, wrap_label

__all__ = ["CompareLayout", "compare_layout", "time_lines"]


def time_lines(text: str, width_in: float, fontsize: float) -> str:
    """The time text on one line if it fits, else its ``" · "``-separated parts on lines of their own."""
    if text_width(text, fontsize, bold=True) <= width_in:
        return text
    return "\n".join(fit_text(part, width_in, fontsize, bold=True) for part in text.split(" · "))


@dataclass
class CompareLayout:
    """Where everything of a comparison figure goes, in inches (y from the top).

    Attributes
    ----------
    first_col, n_cols : int
        1 with an image column (else 0), and the number of columns (image column included).
    left, wgap, row_gap : float
        The left margin (row labels), the gap between columns and between rows.
    cell_w, cell_h, cell_title_h : float
        A cell's size and the height of its title.
    head_fs, cell_fs : float
        Font sizes of the column headers and of the cell titles.
    room : float
        Width a header or cell title may take (a gap between neighbours).
    headers : list of str
        Column headers (label, time, how the maps are drawn), image column included.
    header_h : float
        Height of the header band (and of the title, if any).
    legends : list of tuple
        ``(kind, colormap, (lo, hi), text)`` per colour legend.
    legend_texts : list of str
        Their captions, wrapped.
    width_each, legend_h : float
        Width of a legend's bar, height of the legend band.
    fig_w, fig_h : float
        The figure's size.
    """

    first_col: int
    n_cols: int
    left: float
    wgap: float
    row_gap: float
    cell_w: float
    cell_h: float
    cell_title_h: float
    head_fs: float
    cell_fs: float
    room: float
    headers: list[str]
    header_h: float
    fig_w: float
    fig_h: float = 0.0
    legends: list[tuple[str, Any, tuple[float, float], str]] = field(default_factory=list)
    legend_texts: list[str] = field(default_factory=list)
    width_each: float = 0.0
    legend_h: float = 0.0

    def box(self, x_in: float, y_top_in: float, w_in: float, h_in: float) -> list[float]:
        """``[left, bottom, width, height]`` in figure fractions of a box given in inches from the top left."""
        return [x_in / self.fig_w, 1.0 - (y_top_in + h_in) / self.fig_h, w_in / self.fig_w, h_in / self.fig_h]

    def column_x(self, j: int) -> float:
        """The left edge of column ``j``."""
        return self.left + j * (self.cell_w + self.wgap)

    def row_y(self, i: int) -> float:
        """The top of row ``i``'s cells (below their titles)."""
        return self.header_h + i * (self.cell_title_h + self.cell_h + self.row_gap) + self.cell_title_h


def _headers(labels: Sequence[str], view_texts: Sequence[str], time_texts: Sequence[str | None],
             time_in: str | None, first_col: int, room: float, head_fs: float) -> list[str]:
    """Column headers: the label (two lines at most), the time, how the maps are drawn."""
    headers = ["image"] * first_col
    for c, label in enumerate(labels):
        lines = [wrap_label(label, room, head_fs)]
        if time_texts[c] and time_in == "header":
            lines.append(time_lines(time_texts[c], room, head_fs))
        lines.append(fit_text(view_texts[c], room, head_fs, bold=True))
        headers.append("\n".join(lines))
    return headers


def _legends(views: Sequence[Any], colormap: Any, percentile: float, signed_cmap: Any,
             signed_percentile: float) -> list[tuple[str, Any, tuple[float, float], str]]:
    """The colour legends (how every map was scaled): one for the overlays, one for the signed maps."""
    legends = []
    overlay_modes = sorted({v.text for v in views if v.kind == "overlay"})
    if overlay_modes:
        legends.append(("overlay", get_colormap(colormap), (0.0, 1.0),
                        f"overlay, per map: {', '.join(overlay_modes)} scaled to [0, 1] (P{percentile:g})"))
    if any(v.kind == "signed" for v in views):
        what = "a − median" if any(v.centered for v in views if v.kind == "signed") else "a"
        legends.append(("signed", signed_colormap(signed_cmap, background=1.0), (-1.0, 1.0),
                        (f"signed, per map: v / s, v = {what}, s = P{signed_percentile:g} of |v|; red for the "
                         "target, blue against")))
    return legends


def compare_layout(labels: Sequence[str], views: Sequence[Any], time_texts: Sequence[str | None],
                   time_in: str | None, *, n: int, h: int, w: int, plain: bool, title: str | None,
                   cell_inches: float | None, max_width: float, colormap: Any, percentile: float, signed_cmap: Any,
                   signed_percentile: float) -> CompareLayout:
    """The :class:`CompareLayout` of ``n`` rows of ``(h, w)`` maps in columns ``labels`` drawn as ``views``."""
    first_col = 0 if plain else 1
    n_cols = len(labels) + first_col
    left, right, wgap = 0.32, 0.08, 0.06
    if cell_inches is None:
        cell_w = min(2.2, (max_width - left - right - (n_cols - 1) * wgap) / n_cols)
        cell_w = max(cell_w, 1.0)
    else:
        cell_w = float(cell_inches)
    head_fs = 8.5 if cell_w >= 1.7 else 7.5
    cell_fs = 7.5 if cell_w >= 1.7 else 6.5
    room = cell_w - 0.12  # a clear gap between neighbouring headers
    headers = _headers(labels, [v.text for v in views], time_texts, time_in, first_col, room, head_fs)
    header_lines = max(h.count("\n") + 1 for h in headers)
    header_h = (header_lines + 0.6) * 1.2 * head_fs / 72 + 0.12 + (0.35 if title else 0.0)
    fig_w = left + n_cols * cell_w + (n_cols - 1) * wgap + right
    lay = CompareLayout(first_col, n_cols, left, wgap, 0.05, cell_w, cell_w * h / w, cell_fs * 1.6 / 72, head_fs,
                        cell_fs, room, headers, header_h, fig_w)
    lay.legends = _legends(views, colormap, percentile, signed_cmap, signed_percentile)
    lay.width_each = min(3.6, (fig_w - 0.6) / max(len(lay.legends), 1) - 0.4)
    lay.legend_texts = [wrap_label(text, lay.width_each + 0.3, cell_fs - 0.5, bold=False, lines=4)
                        for *_, text in lay.legends]
    legend_lines = max((t.count("\n") + 1 for t in lay.legend_texts), default=0)
    lay.legend_h = 0.45 + legend_lines * 1.25 * (cell_fs - 0.5) / 72
    lay.fig_h = header_h + n * (lay.cell_title_h + lay.cell_h + lay.row_gap) + lay.legend_h
    return lay
