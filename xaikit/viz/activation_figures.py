"""Activation grids: every channel of chosen layers for one image (the pictures of seeds 000-003).

:func:`activation_grid` draws one figure, ``images_per_row`` tiles per row (16, as the
seeds), one panel per layer, from the mosaics of :mod:`.channel_mosaic`; dead and constant
channels are hatched grey and counted in the panel's title. :func:`activation_pages`
splits the same picture into pages of a bounded size (a layer whose channels do not fit
continues on the next page); :func:`activation_grids` draws one figure per layer.

Every function returns :class:`matplotlib.figure.Figure` objects that are not registered
with pyplot (nothing to close).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import as_numpy, check_positive_int
from .activation_inputs import channels_last, check_image_index, spatial_activation_layers
from .channel_mosaic import activation_mosaic

__all__ = ["MAX_PAGE_INCHES", "MAX_PAGE_PIXELS", "activation_grid", "activation_grids", "activation_pages"]

#: Pixels of one saved page at most (at ``dpi``): PIL refuses images above ~179 Mpx and
#: warns above ~89 Mpx; viewers struggle long before.
MAX_PAGE_PIXELS = 40_000_000
#: Height of one page in inches at most (a page taller than a few screens is no page).
MAX_PAGE_INCHES = 60.0
#: What :func:`activation_grid` draws in one figure at most (at 150 dpi) before asking for pages.
MAX_FIGURE_PIXELS = 89_000_000


def _draw_activation_layer(ax: Any, name: str, fmap: np.ndarray, *, images_per_row: int, cmap: Any, mode: str,
                           max_channels: int | None, image_index: int, gap: int, fontsize: float,
                           first_channel: int = 0, capped: bool = False, more_hint: str = "") -> None:
    from matplotlib.patches import Rectangle

    h, w, c = fmap.shape
    gap = gap * max(1, round(max(h, w) / 32))  # drawn about as wide for large tiles as for small ones
    mosaic, dead, constant = activation_mosaic(fmap, images_per_row=images_per_row, cmap=cmap, mode=mode,
                                               max_channels=max_channels, gap=gap, first_channel=first_channel)
    shown = c - first_channel if max_channels is None else min(c - first_channel, max_channels)
    cols = min(images_per_row, shown)
    rows = math.ceil(shown / cols)
    ax.imshow(mosaic, interpolation="antialiased" if h >= 16 else "nearest")
    for k in np.flatnonzero((dead | constant)[first_channel:first_channel + shown]):
        r, q = divmod(int(k), cols)
        ax.add_patch(Rectangle((q * (w + gap) - 0.5, r * (h + gap) - 0.5), w, h, fill=False, hatch="////",
                               edgecolor="0.55", linewidth=0))
    ax.set_xticks([q * (w + gap) + (w - 1) / 2 for q in range(cols)], labels=[f"+{q}" for q in range(cols)])
    ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(rows)],
                  labels=[str(first_channel + r * cols) for r in range(rows)])
    ax.tick_params(length=0, labelsize=fontsize * 0.7, pad=1.5, colors="0.35")
    for spine in ax.spines.values():
        spine.set_visible(False)
    parts = [f"{c} channels, {h}×{w}"]
    if mode == "layer":
        parts.append(f"one scale {float(fmap.min()):.3g} … {float(fmap.max()):.3g}".replace("-", "\u2212"))
    second = []
    if capped:
        second.append(f"first {shown} of {c} shown" + (f" ({more_hint})" if more_hint else ""))
    elif shown < c:
        second.append(f"channels {first_channel}–{first_channel + shown - 1} of {c}")
    flat = []
    if dead.any():
        flat.append(f"{int(dead.sum())} of {c} dead (all zero)")
    if constant.any():
        flat.append(f"{int(constant.sum())} of {c} constant")
    second.append(", ".join(flat) + " — hatched grey" if flat else "no dead (all-zero) channels")
    ax.set_title(f"{name}  ·  {', '.join(parts)}  ·  image {image_index}\n{'  ·  '.join(second)}",
                 fontsize=fontsize, loc="left")


def _scale_note(mode: str) -> str:
    if mode == "channel":
        return ("Each channel standardised for display: (x − mean) / std · 64 + 128, clipped to [0, 255]; "
                "colours are not comparable across channels. Row label + column label = channel index.")
    return ("One min-max scale per layer: colours are comparable across the channels of a layer. "
            "Row label + column label = channel index.")


@dataclass(frozen=True)
class _Panel:
    """One layer (or one run of its channels) in a figure."""

    name: str
    fmap: np.ndarray  # (h, w, C) of the shown image
    index: int  # the image's index in the batch
    first: int  # first channel shown
    count: int  # channels shown
    capped: bool = False  # the layer has more channels than anyone asked to draw

    def rows(self, images_per_row: int) -> int:
        return math.ceil(self.count / min(images_per_row, self.count))

    def cols(self, images_per_row: int) -> int:
        return min(images_per_row, self.count)

    def height(self, images_per_row: int, tile_inches: float) -> float:
        h, w = self.fmap.shape[:2]
        return self.rows(images_per_row) * tile_inches * h / w  # tiles keep the same width in every panel


_TITLE_IN = 0.55  # per panel
_NOTE_IN = 0.35  # the scale note under the panels
_SUPTITLE_IN = 0.4


def _figure_size(panels: Sequence[_Panel], images_per_row: int, tile_inches: float,
                 title: bool) -> tuple[float, float]:
    cols = max(p.cols(images_per_row) for p in panels)
    fig_w = max(4.0, cols * tile_inches + 0.6)
    fig_h = (sum(p.height(images_per_row, tile_inches) for p in panels) + _TITLE_IN * len(panels) + _NOTE_IN
             + (_SUPTITLE_IN if title else 0.0))
    return fig_w, fig_h


def _panels_figure(panels: Sequence[_Panel], *, images_per_row: int, cmap: Any, mode: str, tile_inches: float,
                   gap: int, title: str | None, more_hint: str = "") -> Any:
    from matplotlib.figure import Figure

    fig_w, fig_h = _figure_size(panels, images_per_row, tile_inches, bool(title))
    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    gs = fig.add_gridspec(len(panels), 1, height_ratios=[p.height(images_per_row, tile_inches) for p in panels])
    cols = max(p.cols(images_per_row) for p in panels)
    fontsize = 10.0 if cols >= 8 else 8.5
    for i, p in enumerate(panels):
        ax = fig.add_subplot(gs[i, 0])
        _draw_activation_layer(ax, p.name, p.fmap, images_per_row=images_per_row, cmap=cmap, mode=mode,
                               max_channels=p.count, image_index=p.index, gap=gap, fontsize=fontsize,
                               first_channel=p.first, capped=p.capped, more_hint=more_hint)
    fig.supxlabel(_scale_note(mode), fontsize=fontsize * 0.75, color="0.35")
    if title:
        fig.suptitle(title, fontsize=fontsize * 1.3)
    return fig


def _panels(activations: Mapping[str, Any], names: Sequence[str], image_index: int,
            max_channels: int | None) -> list[_Panel]:
    panels = []
    for name in names:
        arr = np.asarray(as_numpy(activations[name]), dtype=np.float32)
        idx = check_image_index(image_index, arr.shape[0], name)
        c = arr.shape[-1]
        count = c if max_channels is None else min(c, check_positive_int("max_channels", max_channels))
        panels.append(_Panel(name, arr[idx], idx, 0, count, capped=count < c))
    return panels


def activation_grid(activations: Mapping[str, Any], layers: str | Sequence[str] | None = None, *,
                    image_index: int = 0, images_per_row: int = 16, cmap: Any = "viridis", mode: str = "channel",
                    max_channels: int | None = None, tile_inches: float = 0.9, gap: int = 1,
                    title: str | None = None, layout: str | None = None) -> Any:
    """Every channel of the chosen layers for one image, in one (tall) figure.

    For models with many layers or channels, :func:`activation_pages` splits the same
    picture into pages of a bounded size.

    Parameters
    ----------
    activations
        An :class:`xaikit.Activations` or any mapping ``layer name -> (N, h, w, C)``.
    layers
        One layer name, a list of names (drawn in that order), or None for every layer
        with spatial activations (non-spatial ones, e.g. Dense, are skipped).
    image_index
        Which image of the batch to show.
    images_per_row
        Tiles per row (16, as the seeds).
    cmap
        Matplotlib colormap (``"viridis"`` as the seeds).
    mode
        ``"channel"`` (seeds' per-channel standardisation) or ``"layer"`` (one min-max
        scale per layer); see :func:`standardize_channels`.
    max_channels
        Show at most this many channels per layer (the title says so when it caps).
    tile_inches
        Width of one tile in inches (the seeds use 1).
    gap
        Pixels between tiles (white, or :func:`gap_color` when the colormap reaches white).
    title
        Figure title; default none.
    layout
        ``"NHWC"`` or ``"NCHW"`` maps; ``None``: the layout an :class:`~xaikit.Activations`
        records, else channels last (:func:`channels_last`).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per layer, titled ``"<layer> · C channels, h×w · image i"`` and the
        count of dead (all-zero) and constant channels, which are hatched grey.

    Raises
    ------
    InputError
        When the figure would exceed :data:`MAX_FIGURE_PIXELS` at 150 dpi (a picture
        no image viewer opens): the message says how to draw it in pages or smaller.
    """
    activations = channels_last(activations, layout)
    names = spatial_activation_layers(activations, layers)
    images_per_row = check_positive_int("images_per_row", images_per_row)
    panels = _panels(activations, names, image_index, max_channels)
    fig_w, fig_h = _figure_size(panels, images_per_row, tile_inches, bool(title))
    pixels = fig_w * fig_h * 150 ** 2
    if pixels > MAX_FIGURE_PIXELS:
        raise InputError(f"{len(panels)} layer(s) with up to {max(p.count for p in panels)} channels make a "
                         f"{fig_w:.0f} x {fig_h:.0f} in figure ({pixels / 1e6:.0f} Mpx at 150 dpi), too large to "
                         "open. Draw it in pages with xaikit.viz.activation_pages(...), or pass fewer layers or "
                         "max_channels=N.")
    return _panels_figure(panels, images_per_row=images_per_row, cmap=cmap, mode=mode, tile_inches=tile_inches,
                          gap=gap, title=title, more_hint=f"max_channels={max_channels}" if max_channels else "")


def activation_grids(activations: Mapping[str, Any], layers: str | Sequence[str] | None = None,
                     **kwargs: Any) -> dict[str, Any]:
    """One figure per layer (as the seeds): ``{layer name: Figure}``; see :func:`activation_grid`."""
    names = spatial_activation_layers(activations, layers)
    return {name: activation_grid(activations, name, **kwargs) for name in names}


def activation_pages(activations: Mapping[str, Any], layers: str | Sequence[str] | None = None, *,
                     image_index: int = 0, images_per_row: int = 16, cmap: Any = "viridis", mode: str = "channel",
                     max_channels: int | None = 64, layers_per_page: int = 8, per_layer: bool = False,
                     max_pixels: int = MAX_PAGE_PIXELS, dpi: float = 150, tile_inches: float = 0.9, gap: int = 1,
                     title: str | None = None, more_hint: str = "", layout: str | None = None
                     ) -> list[tuple[str, Any]]:
    """The activation picture of :func:`activation_grid`, split into pages of a bounded size.

    Parameters
    ----------
    activations, layers, image_index, images_per_row, cmap, mode, tile_inches, gap, title
        As in :func:`activation_grid` (the title is repeated on every page, with
        ``"page k of n"``).
    max_channels
        Channels drawn per layer at most (64 by default: wide layers have hundreds or
        thousands; the panel title says how many are shown). None draws all of them.
    layers_per_page
        Layers on one page at most.
    per_layer
        One page per layer (the seeds' one figure per layer) instead of several layers
        per page.
    max_pixels, dpi
        No page exceeds ``max_pixels`` when saved at ``dpi`` (nor :data:`MAX_PAGE_INCHES` in
        height): a layer whose channels do not fit is continued on the next page
        (``"channels 512–1023 of 2048"``).
    more_hint
        Appended to the title of a capped layer (e.g. how to draw more channels).

    Returns
    -------
    list of (str, matplotlib.figure.Figure)
        ``(key, figure)`` per page; the key is ``"p<k>"`` (or the layer name with
        ``per_layer``, ``"<layer>_p<k>"`` when a layer spans pages), for file names.
    """
    activations = channels_last(activations, layout)
    names = spatial_activation_layers(activations, layers)
    images_per_row = check_positive_int("images_per_row", images_per_row)
    layers_per_page = check_positive_int("layers_per_page", layers_per_page)
    panels = _panels(activations, names, image_index, max_channels)
    cols = max(p.cols(images_per_row) for p in panels)
    fig_w = max(4.0, cols * tile_inches + 0.6)
    page_in = min(max_pixels / (fig_w * dpi * dpi), MAX_PAGE_INCHES)
    budget = page_in - _NOTE_IN - (_SUPTITLE_IN if title else 0.0)  # inches of panels on a page

    def split(p: _Panel) -> list[_Panel]:
        """The panel, or runs of its channels that fit a page each."""
        per_row = p.cols(images_per_row)
        row_in = p.height(images_per_row, tile_inches) / p.rows(images_per_row)
        rows_fit = max(1, int((budget - _TITLE_IN) // row_in))
        step = rows_fit * per_row
        if step >= p.count:
            return [p]
        return [_Panel(p.name, p.fmap, p.index, p.first + s, min(step, p.count - s), capped=p.capped and s == 0)
                for s in range(0, p.count, step)]

    pages: list[list[_Panel]] = []
    keys: list[str] = []
    for p in panels:
        parts = split(p)
        for k, part in enumerate(parts):
            height = part.height(images_per_row, tile_inches) + _TITLE_IN
            current = pages[-1] if pages and not per_layer and k == 0 else None
            used = sum(q.height(images_per_row, tile_inches) + _TITLE_IN for q in current) if current else 0.0
            if current is not None and len(current) < layers_per_page and used + height <= budget:
                current.append(part)
                continue
            pages.append([part])
            keys.append(p.name if per_layer and len(parts) == 1 else f"{p.name}_p{k + 1}" if per_layer
                        else f"p{len(pages)}")
    out = []
    for key, page in zip(keys, pages, strict=True):
        head = title if len(pages) == 1 or not title else f"{title} · page {len(out) + 1} of {len(pages)}"
        out.append((key, _panels_figure(page, images_per_row=images_per_row, cmap=cmap, mode=mode,
                                        tile_inches=tile_inches, gap=gap, title=head, more_hint=more_hint)))
    return out
