"""A feature map's channels as one RGB mosaic (the seeds' ``display_grid``), as arrays.

Each channel is standardised for display with the seeds' ``(x - mean) / std * 64 + 128``
clipped to [0, 255] (or one min-max scale for the whole layer, which keeps relative
magnitudes). Channels that carry nothing are never drawn as if they did: an all-zero
("dead") channel and a constant one are filled with a flat grey (the figures of
:mod:`.activation_figures` hatch them and count them in the title). Tiles are separated
by :func:`gap_color`. Nothing here imports matplotlib's pyplot or draws a figure.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import as_numpy, check_positive_int
from .overlay import get_colormap

__all__ = ["activation_mosaic", "gap_color", "standardize_channels"]

_DEAD_RGB = (0.86, 0.86, 0.86)  # flat light grey for channels without information
#: Gap colours tried when the colormap itself reaches white (e.g. "gray": its maximum *is* white).
_GAP_CANDIDATES = ((1.0, 1.0, 1.0), (0.55, 0.8, 1.0), (1.0, 0.72, 0.45), (0.95, 0.55, 0.85))
#: A gap colour must be at least this far (RGB distance) from every colour of the colormap.
_GAP_MIN_DISTANCE = 0.3


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
