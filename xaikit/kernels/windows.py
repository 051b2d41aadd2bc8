"""Occlusion windows and their accumulation into per-pixel maps."""

from __future__ import annotations

import numpy as np

__all__ = ["accumulate_windows", "occluded_images", "patch_windows", "window_starts"]


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Window starts covering ``range(size)``: ``0, stride, ...`` until a window reaches the end.

    With ``stride == patch`` this is tf-explain's grid (the last window clipped at the
    border); with a smaller stride windows overlap and every pixel is still covered.
    """
    count = -(-max(size - patch, 0) // stride) + 1
    return [i * stride for i in range(count)]


def patch_windows(height: int, width: int, patch: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """``(P, 4)`` int32 windows ``(top, left, bottom, right)``, clipped to the image, row-major."""
    rows = window_starts(height, patch[0], stride[0])
    cols = window_starts(width, patch[1], stride[1])
    return np.array([(r, c, min(r + patch[0], height), min(c + patch[1], width)) for r in rows for c in cols],
                    dtype=np.int32).reshape(-1, 4)


def accumulate_windows(values: np.ndarray, windows: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per-pixel mean of the values of the windows covering each pixel.

    Parameters
    ----------
    values : numpy.ndarray
        ``(N, P)``: one value per image and window (an occlusion drop).
    windows : numpy.ndarray
        ``(P, 4)`` windows from :func:`patch_windows`.
    size : (int, int)
        ``(H, W)`` of the images.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)``; pixels no window covers are 0.
    """
    values = np.asarray(values, np.float64)
    total = np.zeros((values.shape[0], *size), np.float64)
    count = np.zeros(size, np.float64)
    for w, (top, left, bottom, right) in enumerate(windows):  # one vectorised add per window
        total[:, top:bottom, left:right] += values[:, w, None, None]
        count[top:bottom, left:right] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def occluded_images(x: np.ndarray, seg: np.ndarray, windows: np.ndarray, baseline: np.ndarray,
                    channel_axis: int = -1) -> np.ndarray:
    """Row ``i``: image ``x[seg[i]]`` with the pixels of ``windows[i]`` replaced by ``baseline``'s.

    Built for a whole chunk at once, no Python loop per row: the rows are gathered once
    and every window's pixels are written in one indexed assignment (windows clipped at
    the border repeat their last row/column, which writes the same values again). Only
    the window pixels are touched, so it costs the gather plus ``R * patch`` writes: 1.5
    to 5 times faster than a loop of slice assignments here.

    Parameters
    ----------
    x : numpy.ndarray
        ``(S, H, W, C)`` (``channel_axis=-1``) or ``(S, C, H, W)`` (``channel_axis=1``) images.
    seg : numpy.ndarray
        ``(R,)`` int: the image of each row.
    windows : numpy.ndarray
        ``(R, 4)`` int ``(top, left, bottom, right)`` in pixels, one per row, not empty.
    baseline : numpy.ndarray
        One image (``x.shape[1:]``): the occluding values.
    channel_axis : int
        The channel axis of the batch ``x``: ``-1`` (or 3) channels last, ``1`` channels first.

    Returns
    -------
    numpy.ndarray
        ``(R, *x.shape[1:])`` occluded images, of ``x``'s dtype.
    """
    occluded = x[seg]  # a copy: the only (R, ...) array made
    w = np.asarray(windows, np.int64)
    if not len(w):
        return occluded
    top, left = w[:, 0], w[:, 1]
    heights, widths = w[:, 2] - top, w[:, 3] - left
    rows = (top[:, None] + np.minimum(np.arange(heights.max()), heights[:, None] - 1))[:, :, None]  # (R, ph, 1)
    cols = (left[:, None] + np.minimum(np.arange(widths.max()), widths[:, None] - 1))[:, None, :]  # (R, 1, pw)
    index = np.arange(len(w))[:, None, None]
    base = np.asarray(baseline, x.dtype)
    if channel_axis % 4 == 3:
        occluded[index, rows, cols] = base[rows, cols]
    else:  # the indexed axes come first in the selection: (R, ph, pw, C)
        occluded[index, :, rows, cols] = np.moveaxis(base[:, rows, cols], 0, -1)
    return occluded
