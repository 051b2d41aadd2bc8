"""Activation grids and filter grids (the pictures of seeds 000-003 and 001).

Activation grid: every channel of a layer's feature map for one image, ``images_per_row``
tiles per row (16, as the seeds), each channel standardised for display with the seeds'
``(x - mean) / std * 64 + 128`` clipped to [0, 255] (or one min-max scale for the whole
layer, which keeps relative magnitudes). Channels that carry nothing are never drawn as
if they did: an all-zero ("dead") channel and a constant one are filled with a flat grey
and hatched, and counted in the title.

Filter grid: the kernel of a convolution in Keras layout ``(kh, kw, c_in, c_out)``,
normalised for display globally (min-max over the whole kernel, as seed 001), per filter,
or symmetrically (zero at mid-grey); drawn channel by channel (one block of ``c_in``
tiles per filter) or, when ``c_in == 3``, as RGB images.

Every function returns a :class:`matplotlib.figure.Figure` that is not registered with
pyplot (nothing to close).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..kernels import to_layout
from ..validation import as_numpy, check_positive_int
from .overlay import get_colormap

__all__ = [
    "channels_last",
    "MAX_PAGE_INCHES",
    "MAX_PAGE_PIXELS",
    "activation_grid",
    "activation_grids",
    "activation_mosaic",
    "activation_pages",
    "filter_grid",
    "gap_color",
    "normalize_filters",
    "standardize_channels",
]

_DEAD_RGB = (0.86, 0.86, 0.86)  # flat light grey for channels without information
_GAP_RGB = (1.0, 1.0, 1.0)  # white between tiles and for empty cells, unless the colormap reaches white
#: Gap colours tried when the colormap itself reaches white (e.g. "gray": its maximum *is* white).
_GAP_CANDIDATES = ((1.0, 1.0, 1.0), (0.55, 0.8, 1.0), (1.0, 0.72, 0.45), (0.95, 0.55, 0.85))
#: A gap colour must be at least this far (RGB distance) from every colour of the colormap.
_GAP_MIN_DISTANCE = 0.3

#: Pixels of one saved page at most (at ``dpi``): PIL refuses images above ~179 Mpx and
#: warns above ~89 Mpx; viewers struggle long before.
MAX_PAGE_PIXELS = 40_000_000
#: Height of one page in inches at most (a page taller than a few screens is no page).
MAX_PAGE_INCHES = 60.0
#: What :func:`activation_grid` draws in one figure at most (at 150 dpi) before asking for pages.
MAX_FIGURE_PIXELS = 89_000_000


def gap_color(cmap: Any) -> tuple[float, float, float]:
    """The colour between tiles: white, unless the colormap reaches (near) white, then the candidate farthest
    from all its colours, so that tile edges stay visible whatever the values at the border."""
    colours = np.asarray(get_colormap(cmap)(np.linspace(0, 1, 256)))[:, :3]

    def distance(c: tuple[float, float, float]) -> float:
        return float(np.min(np.linalg.norm(colours - np.asarray(c), axis=1)))

    for candidate in _GAP_CANDIDATES:  # the calmest colour that stands out
        if distance(candidate) >= _GAP_MIN_DISTANCE:
            return candidate
    return max(_GAP_CANDIDATES, key=distance)


# --------------------------------------------------------------------------- activations
def standardize_channels(fmap: Any, *, mode: str = "channel") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale every channel of one feature map to [0, 1] for display.

    Parameters
    ----------
    fmap
        ``(h, w, C)`` feature map of one image.
    mode
        ``"channel"`` (the seeds): ``clip((x - mean) / std * 64 + 128, 0, 255) / 255``
        per channel, so every channel uses the colour range (magnitudes across channels
        are not comparable). ``"layer"``: ``(x - min) / (max - min)`` with the min and
        max of the whole layer, so a weak channel looks weak.

    Returns
    -------
    scaled : numpy.ndarray
        float32 ``(h, w, C)`` in [0, 1]; flat channels are 0.5.
    dead : numpy.ndarray
        bool ``(C,)``: channels that are exactly zero everywhere (e.g. a ReLU that never
        fired for this image).
    constant : numpy.ndarray
        bool ``(C,)``: channels that are constant but not zero.
    """
    x = np.asarray(as_numpy(fmap), dtype=np.float32)
    if x.ndim != 3:
        raise InputError(f"a feature map must be (h, w, C); got {x.shape}")
    if mode not in ("channel", "layer"):
        raise InputError(f"mode must be 'channel' (the seeds' per-channel standardisation) or 'layer'; got {mode!r}")
    if not np.isfinite(x).all():
        raise InputError("the feature map contains NaN or Inf; check the model and its inputs.")
    flat = x.reshape(-1, x.shape[-1])
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    dead = (lo == 0) & (hi == 0)
    constant = (lo == hi) & ~dead
    informative = ~(dead | constant)
    out = np.full_like(x, 0.5)
    if mode == "channel":
        mean = flat.mean(axis=0, dtype=np.float64)
        std = flat.std(axis=0, dtype=np.float64)
        std = np.where(std > 0, std, 1.0)
        scaled = np.clip(((x - mean) / std * 64.0 + 128.0) / 255.0, 0.0, 1.0)
    else:
        glo, ghi = float(x.min()), float(x.max())
        scaled = (x - glo) / (ghi - glo) if ghi > glo else np.full_like(x, 0.5)
    out[..., informative] = scaled[..., informative]
    return out.astype(np.float32), dead, constant


def activation_mosaic(fmap: Any, *, images_per_row: int = 16, cmap: Any = "viridis", mode: str = "channel",
                      max_channels: int | None = None, gap: int = 1,
                      first_channel: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The RGB mosaic of one feature map, as the seeds' ``display_grid`` (coloured, with gaps).

    Parameters
    ----------
    fmap
        ``(h, w, C)`` feature map of one image.
    images_per_row
        Tiles per row (16 as the seeds). Unlike the seeds' ``C // images_per_row``, a
        last partial row is kept (its empty cells are white).
    cmap
        Matplotlib colormap for the standardised values.
    mode
        See :func:`standardize_channels`.
    max_channels
        Show at most ``max_channels`` channels (None: all).
    gap
        Pixels between tiles (0 gives the seeds' seamless grid), in :func:`gap_color`
        (the figures widen it for tiles larger than 32 pixels, so that it stays visible):
        white, or a colour the colormap does not contain when it reaches white.
    first_channel
        The first channel shown (pages of a layer with many channels).

    Returns
    -------
    mosaic : numpy.ndarray
        float32 RGB ``(rows * (h + gap) - gap, cols * (w + gap) - gap, 3)``; dead and
        constant channels are flat grey.
    dead, constant : numpy.ndarray
        bool ``(C,)`` masks over *all* channels (not only the shown ones).
    """
    images_per_row = check_positive_int("images_per_row", images_per_row)
    gap = check_positive_int("gap", gap, minimum=0)
    scaled, dead, constant = standardize_channels(fmap, mode=mode)
    h, w, c = scaled.shape
    first = check_positive_int("first_channel", first_channel, minimum=0)
    if first >= c:
        raise InputError(f"first_channel={first} but the feature map has {c} channels")
    shown = c - first if max_channels is None else min(c - first, check_positive_int("max_channels", max_channels))
    cols = min(images_per_row, shown)
    rows = math.ceil(shown / cols)
    cmap_obj = get_colormap(cmap)
    mosaic = np.empty((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), dtype=np.float32)
    mosaic[:] = gap_color(cmap_obj)
    for k in range(shown):
        r, q = divmod(k, cols)
        tile = mosaic[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w]
        ch = first + k
        tile[:] = _DEAD_RGB if (dead[ch] or constant[ch]) else cmap_obj(scaled[:, :, ch])[..., :3]
    return mosaic, dead, constant


def channels_last(activations: Mapping[str, Any], layout: str | None = None) -> Mapping[str, Any]:
    """The activations with spatial maps channels last ``(N, h, w, C)``, as the grids draw them.

    ``layout`` says how the maps are laid out; ``None`` takes the layout an
    :class:`~xaikit.Activations` records (PyTorch's are ``"NCHW"``). A plain mapping without
    ``layout`` is read channels last (Keras' layout): pass ``layout="NCHW"`` for PyTorch maps.
    """
    layout = layout or getattr(activations, "layout", None) or "NHWC"
    if layout == "NHWC":
        return activations
    return {name: (to_layout(as_numpy(v), layout, "NHWC") if np.ndim(v) == 4 else v) for name, v in activations.items()}


def _spatial_layers(activations: Mapping[str, Any], layers: Any) -> list[str]:
    names = list(activations.keys())
    if layers is None:
        chosen = [n for n in names if np.ndim(activations[n]) == 4]
        if not chosen:
            shapes = {n: np.shape(activations[n]) for n in names}
            raise InputError(f"none of the layers has spatial (N, h, w, C) activations: {shapes}; "
                             "activation grids need convolution or pooling layers.")
        return chosen
    if isinstance(layers, str):
        layers = [layers]
    chosen = list(layers)
    for n in chosen:
        if n not in activations:
            raise InputError(f"no activations for layer {n!r}; available: {names}")
        if np.ndim(activations[n]) != 4:
            raise InputError(f"layer {n!r} has activations of shape {np.shape(activations[n])}, not (N, h, w, C): "
                             "activation grids need a spatial layer (convolution, pooling). "
                             f"Spatial layers here: {[m for m in names if np.ndim(activations[m]) == 4]}")
    if not chosen:
        raise InputError("layers is empty; pass a layer name, a list of names, or None for every spatial layer.")
    return chosen


def _check_index(index: Any, n: int, layer: str) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise InputError(f"image_index must be an int; got {index!r}")
    if not -n <= index < n:
        raise InputError(f"image_index={index} is out of range: layer {layer!r} has activations for {n} image(s) "
                         f"(valid: 0..{n - 1}).")
    return int(index) % n


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
        idx = _check_index(image_index, arr.shape[0], name)
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
    names = _spatial_layers(activations, layers)
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
    names = _spatial_layers(activations, layers)
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
    names = _spatial_layers(activations, layers)
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


# --------------------------------------------------------------------------- filters
_FILTER_NORMS = ("global", "filter", "symmetric")


def _check_weights(weights: Any) -> np.ndarray:
    w = np.asarray(as_numpy(weights))
    if isinstance(weights, (list, tuple)) and len(weights) == 2 and np.ndim(weights[0]) == 4:
        raise InputError("got [kernel, bias] (layer.get_weights()); pass the kernel only: layer.get_weights()[0]")
    if w.ndim != 4:
        raise InputError(f"filter weights must be a 4-D kernel (kh, kw, c_in, c_out) in Keras layout; got shape "
                         f"{w.shape}. Take layer.get_weights()[0] of a Conv2D layer.")
    keras_like = w.shape[0] == w.shape[1] and w.shape[0] <= 11
    torch_like = w.shape[2] == w.shape[3] and w.shape[2] <= 11
    if torch_like and not keras_like:
        raise InputError(f"weights of shape {w.shape} look like PyTorch layout (c_out, c_in, kh, kw); "
                         "pass weights.transpose(2, 3, 1, 0) to get Keras layout (kh, kw, c_in, c_out).")
    if not np.issubdtype(w.dtype, np.number) or not np.isfinite(w).all():
        raise InputError("filter weights must be finite numbers.")
    return w.astype(np.float32)


def normalize_filters(weights: Any, mode: str = "global") -> tuple[np.ndarray, tuple[float, float] | None]:
    """Scale a kernel ``(kh, kw, c_in, c_out)`` to [0, 1] for display.

    Parameters
    ----------
    weights
        Convolution kernel in Keras layout.
    mode
        ``"global"``: ``(w - min) / (max - min)`` over the whole kernel (seed 001).
        ``"filter"``: the same per output filter (each filter uses the full range;
        filters are not comparable). ``"symmetric"``: ``w / max|w| / 2 + 0.5`` over the
        whole kernel, so zero is mid-grey and the sign is visible.

    Returns
    -------
    scaled : numpy.ndarray
        float32, same shape, in [0, 1].
    value_range : tuple or None
        The weight values at 0 and 1 (None for ``"filter"``, whose scale varies).
    """
    w = _check_weights(weights)
    if mode not in _FILTER_NORMS:
        raise InputError(f"normalize must be one of {_FILTER_NORMS}; got {mode!r}")
    if mode == "global":
        lo, hi = float(w.min()), float(w.max())
        return ((w - lo) / (hi - lo) if hi > lo else np.full_like(w, 0.5)), (lo, hi)
    if mode == "symmetric":
        m = float(np.abs(w).max())
        return ((w / m) / 2 + 0.5 if m > 0 else np.full_like(w, 0.5)), (-m, m)
    lo = w.min(axis=(0, 1, 2), keepdims=True)
    hi = w.max(axis=(0, 1, 2), keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, (w - lo) / span, 0.5).astype(np.float32), None


def filter_grid(weights: Any, *, layout: str = "auto", normalize: str = "global", max_filters: int = 32,
                max_channels: int = 16, tiles_per_row: int = 16, cmap: Any = "gray", title: str | None = None,
                pixel: int = 12) -> Any:
    """Draw the filters of a convolution kernel.

    Parameters
    ----------
    weights
        Kernel ``(kh, kw, c_in, c_out)`` in Keras layout (``layer.get_weights()[0]``).
    layout
        ``"channels"``: one block per filter, the block being the filter's ``c_in`` input
        channels side by side (grayscale via ``cmap``); blocks wrap so that a row holds
        about ``tiles_per_row`` tiles (several filters per row when ``c_in`` is small, one
        filter per row otherwise). ``"rgb"``: each filter as one colour image (needs
        ``c_in == 3``; channel order as the model's input). ``"auto"``: ``"rgb"`` when
        ``c_in == 3``, else ``"channels"``.
    normalize
        ``"global"`` (seed 001), ``"filter"`` or ``"symmetric"``; see
        :func:`normalize_filters`. A colorbar in weight units is drawn for the global
        scales in the channels layout.
    max_filters
        Show only the first ``max_filters`` filters (a note says so when it caps).
    max_channels
        Show only the first ``max_channels`` input channels per filter (channels layout).
    tiles_per_row
        About how many tiles a row holds.
    cmap
        Colormap of the channels layout (``"gray"`` as the seed; ``"RdBu_r"`` suits
        ``normalize="symmetric"``).
    title
        Figure title; default ``"filters (kh×kw×c_in×c_out)"``.
    pixel
        Screen pixels per kernel element in the mosaic (nearest-neighbour).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    w = _check_weights(weights)
    kh, kw, c_in, c_out = w.shape
    if layout not in ("auto", "channels", "rgb"):
        raise InputError(f"layout must be 'auto', 'channels' or 'rgb'; got {layout!r}")
    if layout == "auto":
        layout = "rgb" if c_in == 3 else "channels"
    if layout == "rgb" and c_in != 3:
        raise InputError(f"layout='rgb' needs 3 input channels; this kernel has c_in={c_in}. Use layout='channels'.")
    max_filters = check_positive_int("max_filters", max_filters)
    max_channels = check_positive_int("max_channels", max_channels)
    tiles_per_row = check_positive_int("tiles_per_row", tiles_per_row)
    pixel = check_positive_int("pixel", pixel)
    scaled, value_range = normalize_filters(w, normalize)
    nf = min(c_out, max_filters)
    nc = c_in if layout == "rgb" else min(c_in, max_channels)
    block_tiles = 1 if layout == "rgb" else nc
    blocks_per_row = max(1, tiles_per_row // block_tiles)
    blocks_per_row = min(blocks_per_row, nf)
    block_rows = math.ceil(nf / blocks_per_row)

    tile_h, tile_w = kh * pixel, kw * pixel
    inner_gap = max(1, pixel // 4)  # between channels of one filter
    outer_gap = max(3 * inner_gap, tile_w // 3)  # between filters
    label_h = max(8, tile_h // 2) if blocks_per_row > 1 else inner_gap * 2
    block_w = block_tiles * tile_w + (block_tiles - 1) * inner_gap
    H = block_rows * (tile_h + label_h) + (block_rows - 1) * inner_gap
    W = blocks_per_row * block_w + (blocks_per_row - 1) * outer_gap
    mosaic = np.ones((H, W, 3), dtype=np.float32)
    cmap_obj = get_colormap(cmap)
    label_pos, frames = [], []
    for j in range(nf):
        br, bc = divmod(j, blocks_per_row)
        y0 = br * (tile_h + label_h + inner_gap) + label_h
        x0 = bc * (block_w + outer_gap)
        label_pos.append((x0, y0))
        if layout == "rgb":
            tile = np.repeat(np.repeat(scaled[:, :, :, j], pixel, axis=0), pixel, axis=1)
            mosaic[y0:y0 + tile_h, x0:x0 + tile_w] = tile
            frames.append((x0, y0))
        else:
            for ci in range(nc):
                tile = np.repeat(np.repeat(scaled[:, :, ci, j], pixel, axis=0), pixel, axis=1)
                xs = x0 + ci * (tile_w + inner_gap)
                mosaic[y0:y0 + tile_h, xs:xs + tile_w] = cmap_obj(tile)[..., :3]
                frames.append((xs, y0))

    px_per_inch = 100.0
    fig_w = min(16.0, max(4.5, W / px_per_inch + 1.2))
    img_w_in = fig_w - 1.2
    fig_h = H / W * img_w_in + 1.4
    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    # hairline frames: tiles stay distinct from the white background even where they are white
    ax.add_collection(PatchCollection([Rectangle((x - 0.5, y - 0.5), tile_w, tile_h) for x, y in frames],
                                      facecolor="none", edgecolor="0.7", linewidth=0.4))
    for spine in ax.spines.values():
        spine.set_visible(False)
    fontsize = 8
    if blocks_per_row > 1:
        ax.set_xticks([])
        ax.set_yticks([])
        for j, (x0, y0) in enumerate(label_pos):
            ax.text(x0 + block_w / 2 - 0.5, y0 - 1.5, f"{j}", ha="center", va="bottom", fontsize=fontsize - 1,
                    color="0.3")
    else:
        ax.set_yticks([y0 + (tile_h - 1) / 2 for _, y0 in label_pos], labels=[f"filter {j}" for j in range(nf)])
        if layout == "channels":
            ax.set_xticks([ci * (tile_w + inner_gap) + (tile_w - 1) / 2 for ci in range(nc)],
                          labels=[str(ci) for ci in range(nc)])
            ax.set_xlabel("input channel", fontsize=fontsize, color="0.3")
            ax.xaxis.set_ticks_position("top")
            ax.xaxis.set_label_position("top")
        else:
            ax.set_xticks([])
        ax.tick_params(length=0, labelsize=fontsize - 1, colors="0.3")
    norm_txt = {"global": "global min-max over the kernel (seed 001)",
                "filter": "min-max per filter (not comparable across filters)",
                "symmetric": "symmetric: zero = mid-grey, ±max|w| at the ends"}[normalize]
    notes = [f"normalised {norm_txt}"]
    if layout == "rgb":
        notes.append("RGB: input channels 0, 1, 2 shown as R, G, B")
    elif blocks_per_row > 1 and c_in > 1:
        notes.append(f"each filter = {nc} input channels left to right")
    capped = []
    if c_out > nf:
        capped.append(f"first {nf} of {c_out} filters (max_filters={max_filters})")
    if layout == "channels" and c_in > nc:
        capped.append(f"first {nc} of {c_in} input channels (max_channels={max_channels})")
    head = title or f"filters {kh}×{kw}×{c_in}×{c_out} (kh×kw×c_in×c_out)"
    sub = "; ".join(notes)
    if capped:
        sub += "\nshowing " + " and ".join(capped)
    ax.set_title(f"{head}\n{sub}", fontsize=fontsize + 1, loc="left")
    if layout == "channels" and value_range is not None:
        sm = ScalarMappable(norm=Normalize(*value_range), cmap=cmap_obj)
        cb = fig.colorbar(sm, ax=ax, orientation="horizontal", shrink=0.4, aspect=40, pad=0.02)
        lo, hi = value_range
        ticks = [lo, 0.0, hi] if lo < 0 < hi else [lo, hi]
        cb.set_ticks(ticks, labels=[f"{t:.3g}".replace("-", "\u2212") for t in ticks])
        cb.set_label("weight", fontsize=fontsize)
        cb.ax.tick_params(labelsize=fontsize - 1)
        cb.outline.set_visible(False)
    return fig
