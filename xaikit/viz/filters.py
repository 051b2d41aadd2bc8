"""Filter grids: the kernel of a convolution, drawn filter by filter (the picture of seed 001).

The kernel is in Keras layout ``(kh, kw, c_in, c_out)``, normalised for display globally
(min-max over the whole kernel, as seed 001), per filter, or symmetrically (zero at
mid-grey); drawn channel by channel (one block of ``c_in`` tiles per filter) or, when
``c_in == 3``, as RGB images. :func:`filter_grid` returns a
:class:`matplotlib.figure.Figure` that is not registered with pyplot (nothing to close).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import as_numpy, check_positive_int
from .overlay import get_colormap

__all__ = ["filter_grid", "normalize_filters"]

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
    from matplotlib.figure import Figure

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
    cmap_obj = get_colormap(cmap)
    m = _mosaic(scaled, layout, nf, nc, tiles_per_row, pixel, cmap_obj)

    px_per_inch = 100.0
    H, W = m.image.shape[:2]
    fig_w = min(16.0, max(4.5, W / px_per_inch + 1.2))
    img_w_in = fig_w - 1.2
    fig_h = H / W * img_w_in + 1.4
    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    ax = fig.add_subplot()
    _draw_mosaic(ax, m, layout)
    fontsize = 8
    capped = []
    if c_out > nf:
        capped.append(f"first {nf} of {c_out} filters (max_filters={max_filters})")
    if layout == "channels" and c_in > nc:
        capped.append(f"first {nc} of {c_in} input channels (max_channels={max_channels})")
    head = title or f"filters {kh}×{kw}×{c_in}×{c_out} (kh×kw×c_in×c_out)"
    sub = _notes(normalize, layout, m.blocks_per_row, c_in, nc)
    if capped:
        sub += "\nshowing " + " and ".join(capped)
    ax.set_title(f"{head}\n{sub}", fontsize=fontsize + 1, loc="left")
    if layout == "channels" and value_range is not None:
        _weight_colorbar(fig, ax, value_range, cmap_obj, fontsize)
    return fig


@dataclass
class _Mosaic:
    """The filters' tiles in one image (pixels), and where each filter and tile is."""

    image: np.ndarray
    label_pos: list[tuple[int, int]]  # top left of each filter's block
    frames: list[tuple[int, int]]  # top left of each tile
    tile_h: int
    tile_w: int
    inner_gap: int
    block_w: int
    blocks_per_row: int
    nc: int


def _mosaic(scaled: np.ndarray, layout: str, nf: int, nc: int, tiles_per_row: int, pixel: int,
            cmap_obj: Any) -> _Mosaic:
    """The first ``nf`` filters of ``scaled`` (in [0, 1]) as tiles of ``pixel`` screen pixels per weight."""
    kh, kw = scaled.shape[:2]
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
    return _Mosaic(mosaic, label_pos, frames, tile_h, tile_w, inner_gap, block_w, blocks_per_row, nc)


def _draw_mosaic(ax: Any, m: _Mosaic, layout: str, fontsize: int = 8) -> None:
    """The mosaic with hairline frames, and the filters' numbers (or filter and channel ticks)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    ax.imshow(m.image, interpolation="nearest")
    # hairline frames: tiles stay distinct from the white background even where they are white
    ax.add_collection(PatchCollection([Rectangle((x - 0.5, y - 0.5), m.tile_w, m.tile_h) for x, y in m.frames],
                                      facecolor="none", edgecolor="0.7", linewidth=0.4))
    for spine in ax.spines.values():
        spine.set_visible(False)
    if m.blocks_per_row > 1:
        ax.set_xticks([])
        ax.set_yticks([])
        for j, (x0, y0) in enumerate(m.label_pos):
            ax.text(x0 + m.block_w / 2 - 0.5, y0 - 1.5, f"{j}", ha="center", va="bottom", fontsize=fontsize - 1,
                    color="0.3")
        return
    ax.set_yticks([y0 + (m.tile_h - 1) / 2 for _, y0 in m.label_pos],
                  labels=[f"filter {j}" for j in range(len(m.label_pos))])
    if layout == "channels":
        ax.set_xticks([ci * (m.tile_w + m.inner_gap) + (m.tile_w - 1) / 2 for ci in range(m.nc)],
                      labels=[str(ci) for ci in range(m.nc)])
        ax.set_xlabel("input channel", fontsize=fontsize, color="0.3")
        ax.xaxis.set_ticks_position("top")
        ax.xaxis.set_label_position("top")
    else:
        ax.set_xticks([])
    ax.tick_params(length=0, labelsize=fontsize - 1, colors="0.3")


def _notes(normalize: str, layout: str, blocks_per_row: int, c_in: int, nc: int) -> str:
    """The subtitle: how the weights were scaled and how a filter's tiles read."""
    norm_txt = {"global": "global min-max over the kernel (seed 001)",
                "filter": "min-max per filter (not comparable across filters)",
                "symmetric": "symmetric: zero = mid-grey, ±max|w| at the ends"}[normalize]
    notes = [f"normalised {norm_txt}"]
    if layout == "rgb":
        notes.append("RGB: input channels 0, 1, 2 shown as R, G, B")
    elif blocks_per_row > 1 and c_in > 1:
        notes.append(f"each filter = {nc} input channels left to right")
    return "; ".join(notes)


def _weight_colorbar(fig: Any, ax: Any, value_range: tuple[float, float], cmap_obj: Any, fontsize: int) -> None:
    """A colorbar in weight units under the mosaic (zero marked when the range spans it)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    sm = ScalarMappable(norm=Normalize(*value_range), cmap=cmap_obj)
    cb = fig.colorbar(sm, ax=ax, orientation="horizontal", shrink=0.4, aspect=40, pad=0.02)
    lo, hi = value_range
    ticks = [lo, 0.0, hi] if lo < 0 < hi else [lo, hi]
    cb.set_ticks(ticks, labels=[f"{t:.3g}".replace("-", "\u2212") for t in ticks])
    cb.set_label("weight", fontsize=fontsize)
    cb.ax.tick_params(labelsize=fontsize - 1)
    cb.outline.set_visible(False)
