"""Display helpers shared by the result types and the pictures: map scaling, parameter lines.

Kept apart from :mod:`xaikit.explanation` (which re-exports them) so that
:mod:`xaikit.viz` can use them without importing the result types, whose display
methods import :mod:`xaikit.viz`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["NORMALIZE_MODES", "OFFSET_BAND", "SIGN_TOLERANCE", "format_params", "has_negative_values", "map_offset",
           "normalize_maps"]

NORMALIZE_MODES = ("auto", "max", "minmax", "abs", "positive", "signed", "median")

#: A map is *offset* when its values (0.5th to 99.5th percentile) span less than this
#: fraction of their magnitude: a band away from zero, e.g. tf-explain's occlusion
#: ``1 - p(occluded)``, which is ``1 - p(image)`` everywhere but where the object is. Scaled
#: as they are, such maps draw as one flat colour; their deviations from the median show
#: the data.
OFFSET_BAND = 0.5

#: Negative values smaller than this fraction of ``max |a|`` are round-off, not a sign.
SIGN_TOLERANCE = 0.01


def map_offset(m: np.ndarray) -> float:
    """The constant a map is offset by: its median when the map is offset (see :data:`OFFSET_BAND`), else 0.

    A constant non-zero map is offset by its value (its deviations are all zero).
    """
    m = np.asarray(m, dtype=np.float64)
    lo, hi = np.percentile(m, [0.5, 99.5])
    magnitude = max(abs(lo), abs(hi))
    if magnitude > 0 and hi - lo < OFFSET_BAND * magnitude:
        return float(np.median(m))
    return 0.0


def has_negative_values(m: np.ndarray) -> bool:
    """Whether a map has negative values beyond round-off (:data:`SIGN_TOLERANCE` of its largest magnitude)."""
    m = np.asarray(m)
    peak = float(np.max(np.abs(m))) if m.size else 0.0
    return peak > 0 and float(np.min(m)) < -SIGN_TOLERANCE * peak


def _scaled(values: np.ndarray, percentile: float, low: float) -> np.ndarray:
    """``values / P(|values|)`` clipped to ``[low, 1]``; the maximum when the percentile is 0; zeros if all zero."""
    magnitude = np.abs(values)
    scale = np.percentile(magnitude, percentile)
    scale = scale if scale > 0 else magnitude.max()
    return np.clip(values / scale, low, 1) if scale > 0 else np.zeros_like(values)


def normalize_maps(maps: np.ndarray, mode: str = "auto", *, percentile: float = 99.5) -> np.ndarray:
    """Scale each map of a batch for display, independently per image.

    Parameters
    ----------
    maps
        ``(N, H, W)`` attribution maps.
    mode
        ``"max"``: ``a / max(a)`` clipped at 0, for non-negative maps (zero stays zero).
        ``"minmax"``: ``(a - min) / (max - min)``, the pytorch-grad-cam convention.
        ``"abs"``: ``|a| / P(|a|)`` clipped to [0, 1], where ``P`` is the ``percentile``
        (the magnitude: right for gradients, whose sign is mostly noise).
        ``"positive"``: ``max(a, 0) / P(a+)`` clipped to [0, 1] (the evidence for the target).
        ``"median"``: ``max(a - median, 0) / P``: how far each pixel rises above the map's
        typical value (for maps offset by a constant, see :data:`OFFSET_BAND`).
        ``"signed"``: ``a / P(|a|)`` clipped to [-1, 1], a symmetric scale for diverging maps.
        ``"auto"``: chosen per map from what it contains: ``"median"`` for an offset map
        (:func:`map_offset`), ``"max"`` for a map without negative values, ``"positive"``
        for a map with negative values (a sequential colour scale cannot show a sign, and
        ``|a|`` would draw evidence *against* the target as hot; draw signed maps with
        :func:`xaikit.viz.signed_rgb`, or ask for ``"abs"`` when only the magnitude matters).
    percentile
        Percentile used as the scale for ``abs``/``positive``/``median``/``signed`` so that
        a few extreme pixels do not wash the map out (shap's image plot uses 99.9).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape; ``[0, 1]`` for every mode but ``"signed"``
        (``[-1, 1]``). A constant map becomes all zeros.
    """
    if mode not in NORMALIZE_MODES:
        raise InputError(f"normalize mode must be one of {NORMALIZE_MODES}; got {mode!r}")
    if not 0 < percentile <= 100:
        raise InputError(f"percentile must be in (0, 100]; got {percentile}")
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise InputError(f"maps must have shape (N, H, W); got {maps.shape}")
    out = np.zeros_like(maps)
    for i, m in enumerate(maps):
        chosen = mode
        if mode == "auto":
            chosen = "median" if map_offset(m) != 0 else "positive" if has_negative_values(m) else "max"
        if chosen == "max":
            scale = m.max()
            out[i] = np.clip(m, 0, None) / scale if scale > 0 else 0.0
        elif chosen == "minmax":
            lo, hi = m.min(), m.max()
            out[i] = (m - lo) / (hi - lo) if hi > lo else 0.0
        elif chosen == "abs":
            out[i] = _scaled(np.abs(m), percentile, 0.0)
        elif chosen == "positive":
            out[i] = _scaled(np.clip(m, 0, None), percentile, 0.0)
        elif chosen == "median":
            out[i] = _scaled(np.clip(m - np.median(m), 0, None), percentile, 0.0)
        else:  # signed
            out[i] = _scaled(m, percentile, -1.0)
    return out


def format_params(params: Mapping[str, Any]) -> str:
    """Effective parameters as one line, ``key=value, ...``; recorded arrays shown by their shape."""
    def show(v: Any) -> str:
        if isinstance(v, dict) and "array_shape" in v:
            return "array " + "x".join(str(d) for d in v["array_shape"])
        return repr(v)
    return ", ".join(f"{k}={show(v)}" for k, v in params.items())
