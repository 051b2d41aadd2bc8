"""Complexity of attribution maps: how concentrated is the attribution mass?

The metrics look only at the magnitudes ``|a|`` and are invariant to a positive
rescaling of the map. Neither queries the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import check_maps

__all__ = ["complexity", "effective_complexity", "sparseness"]


def sparseness(attributions: Any) -> np.ndarray:
    r"""Sparseness: the Gini index of ``|attributions|`` (Chalasani et al., "Concise
    Explanations of Neural Networks using Adversarial Training", ICML 2020).

    With :math:`v_{(1)} \le \dots \le v_{(n)}` the sorted magnitudes of a map of
    :math:`n = HW` pixels,

    .. math:: G = \frac{\sum_{k=1}^{n} (2k - n - 1)\, v_{(k)}}{n \sum_{k=1}^{n} v_{(k)}}

    0 for a constant map (mass spread evenly), :math:`(n - 1)/n \approx 1` for a
    single non-zero pixel. Higher is sparser.

    Parameters
    ----------
    attributions : array-like
        ``(N, H, W)`` maps.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)``; NaN for an all-zero map (undefined).
    """
    maps = check_maps(attributions)
    n_maps = maps.shape[0]
    v = np.sort(np.abs(maps).reshape(n_maps, -1), axis=1)
    n = v.shape[1]
    total = v.sum(axis=1, dtype=np.float64)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    out = np.full(n_maps, np.nan)
    ok = total > 0
    out[ok] = (v[ok] @ weights) / (n * total[ok])
    return out


def complexity(attributions: Any) -> np.ndarray:
    r"""Complexity: the entropy of the normalised ``|attributions|`` (Bhatt et al.,
    "Evaluating and Aggregating Feature-based Model Explanations", IJCAI 2020).

    .. math:: H = -\sum_p P_p \ln P_p, \qquad P_p = \frac{|a_p|}{\sum_q |a_q|}

    in nats, with :math:`0 \ln 0 = 0`: 0 for a single non-zero pixel, :math:`\ln(HW)`
    for a constant map. Lower is simpler.

    Parameters
    ----------
    attributions : array-like
        ``(N, H, W)`` maps.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)``; NaN for an all-zero map (undefined).
    """
    maps = check_maps(attributions)
    n_maps = maps.shape[0]
    v = np.abs(maps).reshape(n_maps, -1)
    total = v.sum(axis=1, dtype=np.float64)
    out = np.full(n_maps, np.nan)
    ok = total > 0
    p = v[ok] / total[ok, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[ok] = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return out


def effective_complexity(attributions: Any, *, eps: float = 1e-5) -> np.ndarray:
    r"""Effective complexity (Nguyen & Martínez, "On Quantitative Aspects of Model
    Interpretability", 2020): the number of pixels whose attribution matters,

    .. math:: \mathrm{EC} = \big|\{p : |a_p| > \varepsilon \max_q |a_q|\}\big|

    (relative to the largest magnitude, so invariant to a rescaling). Lower is simpler.

    Quantus: ``quantus.EffectiveComplexity(eps=eps)`` with its defaults ``abs=True,
    normalise=True`` (division by max|a|) computes exactly this count.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` counts; 0 for an all-zero map.
    """
    import numbers

    from ..errors import InputError

    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise InputError(f"eps must be a number in [0, 1) (a fraction of the largest magnitude); got {eps!r}.")
    maps = check_maps(attributions)
    v = np.abs(maps).reshape(maps.shape[0], -1).astype(np.float64)
    peak = v.max(axis=1, keepdims=True)
    return np.where(peak[:, 0] > 0, (v > eps * peak).sum(axis=1), 0).astype(np.float64)
