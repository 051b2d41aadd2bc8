"""Localisation metrics: does the map point at the object?

Both compare a map with a boolean ground-truth mask of the object (segmentation or
filled bounding box) of the explained class. Neither queries the model.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import check_maps, check_masks

__all__ = ["pointing_game", "energy_pointing_game"]


def pointing_game(attributions: Any, masks: Any, *, tolerance: float = 0) -> np.ndarray:
    r"""Pointing game (Zhang et al., "Top-down Neural Attention by Excitation
    Backprop", ECCV 2016).

    A hit when the pixel of maximal attribution lies in the object, up to a tolerance:

    .. math:: \mathrm{hit} = \big[\min_{q \in M} \lVert p^\star - q \rVert_2 \le \tau\big],
              \qquad p^\star = \arg\max_p a_p

    The pointing accuracy of a method is the mean of the hits (Zhang et al. use
    :math:`\tau = 15` pixels).

    Parameters
    ----------
    attributions : array-like
        ``(N, H, W)`` maps. The signed values are used (the maximum is the most
        positive pixel); pass ``np.abs(maps)`` to point with magnitudes.
    masks : array-like of bool
        ``(N, H, W)`` ground truth, True on the object; none may be empty.
    tolerance : float
        :math:`\tau`, in pixels (Euclidean distance between pixel centres), >= 0.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` of 1.0 (hit) and 0.0 (miss).

    Notes
    -----
    When several pixels share the maximum, the first in row-major order is the one
    pointed at (``np.argmax``), so a constant map points at the top-left pixel.
    """
    maps = check_maps(attributions)
    n, h, w = maps.shape
    gt = check_masks(masks, n=n, size=(h, w))
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real) \
            or not np.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"tolerance must be a number of pixels >= 0; got {tolerance!r}.")
    peak = np.argmax(maps.reshape(n, -1), axis=1)
    py, px = np.divmod(peak, w)
    hits = gt[np.arange(n), py, px].astype(np.float64)
    if tolerance > 0:
        for i in np.flatnonzero(hits == 0):
            ys, xs = np.nonzero(gt[i])
            d2 = (ys - py[i]) ** 2 + (xs - px[i]) ** 2
            hits[i] = float(d2.min() <= float(tolerance) ** 2)
    return hits


def energy_pointing_game(attributions: Any, masks: Any) -> np.ndarray:
    r"""Energy-based pointing game (Wang et al., "Score-CAM: Score-Weighted Visual
    Explanations for Convolutional Neural Networks", CVPR Workshops 2020).

    The share of the positive attribution energy that falls inside the object:

    .. math:: \mathrm{proportion} = \frac{\sum_{p \in M} a_p^+}{\sum_p a_p^+},
              \qquad a^+ = \max(a, 0)

    Parameters
    ----------
    attributions : array-like
        ``(N, H, W)`` maps; negative values are ignored (pass ``np.abs(maps)`` to count
        the energy of both signs).
    masks : array-like of bool
        ``(N, H, W)`` ground truth, True on the object; none may be empty.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1]; NaN for a map without any positive value.
    """
    maps = check_maps(attributions)
    n, h, w = maps.shape
    gt = check_masks(masks, n=n, size=(h, w))
    positive = np.clip(maps, 0, None).reshape(n, -1)
    total = positive.sum(axis=1, dtype=np.float64)
    inside = np.where(gt.reshape(n, -1), positive, 0).sum(axis=1, dtype=np.float64)
    out = np.full(n, np.nan)
    ok = total > 0
    out[ok] = inside[ok] / total[ok]
    return out
