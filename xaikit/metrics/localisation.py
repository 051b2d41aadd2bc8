"""Localisation metrics: does the map point at the object?

All compare a map with a boolean ground-truth mask of the object (segmentation or
filled bounding box) of the explained class. Neither queries the model.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import InputError
from ._common import check_maps, check_masks

__all__ = ["attribution_localisation", "energy_pointing_game", "localisation_auc", "pointing_game",
           "relevance_mass_accuracy", "relevance_rank_accuracy", "top_k_intersection"]


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


def _masked(attributions: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    maps = check_maps(attributions)
    n, h, w = maps.shape
    gt = check_masks(masks, n=n, size=(h, w))
    return maps.reshape(n, -1).astype(np.float64), gt.reshape(n, -1)


def relevance_mass_accuracy(attributions: Any, masks: Any) -> np.ndarray:
    r"""Relevance mass accuracy (Arras et al., "CLEVR-XAI: A Benchmark Dataset for the
    Ground Truth Evaluation of Neural Network Explanations", Information Fusion 2022).

    .. math:: \mathrm{RMA} = \frac{\sum_{p \in M} a_p}{\sum_p a_p}

    The signed map is used (Arras et al. keep positive relevance: pass
    ``np.clip(maps, 0, None)``; for magnitudes ``np.abs(maps)``). Higher is better.

    Quantus: ``quantus.RelevanceMassAccuracy(abs=False)`` (its ``normalise`` divides
    numerator and denominator alike).

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)``; NaN where the map sums to 0.
    """
    a, gt = _masked(attributions, masks)
    total = a.sum(axis=1)
    inside = np.where(gt, a, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, inside / np.where(total != 0, total, 1.0), np.nan)


def _top_pixels(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Boolean ``(N, P)``: the ``k[i]`` pixels of highest value of each row (ties: row-major order)."""
    order = np.argsort(-a, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(a.shape[1]), a.shape), axis=1)
    return ranks < k[:, None]


def relevance_rank_accuracy(attributions: Any, masks: Any) -> np.ndarray:
    r"""Relevance rank accuracy (Arras et al., Information Fusion 2022).

    With :math:`K = |M|` and :math:`T_K` the :math:`K` pixels of highest attribution,

    .. math:: \mathrm{RRA} = \frac{|T_K \cap M|}{K}

    Higher is better. Ties at the threshold are broken by row-major pixel order.
    Quantus: ``quantus.RelevanceRankAccuracy(abs=False)``.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1].
    """
    a, gt = _masked(attributions, masks)
    k = gt.sum(axis=1)
    return (_top_pixels(a, k) & gt).sum(axis=1) / k


def top_k_intersection(attributions: Any, masks: Any, *, k: int = 1000) -> np.ndarray:
    r"""Top-k intersection (Theiner et al., "Interpretable Semantic Photo Geolocation", WACV 2022).

    .. math:: \mathrm{TKI} = \frac{|T_k \cap M|}{k}

    the share of the ``k`` pixels of highest attribution that lie in the object. Higher
    is better. Quantus: ``quantus.TopKIntersection(k=k, abs=False)``.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1].
    """
    from ..validation import check_positive_int

    a, gt = _masked(attributions, masks)
    k = check_positive_int("k", k, maximum=a.shape[1])
    return (_top_pixels(a, np.full(len(a), k)) & gt).sum(axis=1) / k


def attribution_localisation(attributions: Any, masks: Any, *, weighted: bool = False) -> np.ndarray:
    r"""Attribution localisation (Kohlbrenner et al., "Towards Best Practice in Explaining
    Neural Network Decisions with LRP", IJCNN 2020).

    The share of the positive attribution inside the object, optionally weighted by the
    inverse of the object's share of the image:

    .. math:: \mu = \frac{\sum_{p \in M} a_p^+}{\sum_p a_p^+}, \qquad
              \mu_w = \mu \cdot \frac{HW}{|M|}

    Higher is better. Quantus: ``quantus.AttributionLocalisation(abs=False)`` computes
    :math:`\mu` with 1e-9 added to the denominator; its ``weighted=True`` multiplies by
    an expression of ``x_batch[2:].size`` (a slice of the batch, not the image size) and
    is not reproduced; :math:`\mu_w` here is the paper's.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)``; NaN for a map without positive values.
    """
    from ..validation import check_bool

    a, gt = _masked(attributions, masks)
    pos = np.clip(a, 0, None)
    total = pos.sum(axis=1)
    inside = np.where(gt, pos, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
    if check_bool("weighted", weighted):
        mu = mu * a.shape[1] / gt.sum(axis=1)
    return mu


def localisation_auc(attributions: Any, masks: Any) -> np.ndarray:
    r"""Area under the ROC curve of the map as a detector of the object's pixels
    (Fawcett, "An Introduction to ROC Analysis", Pattern Recognition Letters 2006).

    .. math:: \mathrm{AUC} = P(a_p > a_q) + \tfrac12 P(a_p = a_q), \qquad p \in M,\ q \notin M

    (the Mann-Whitney form, equal to the trapezoid area under the ROC curve with ties).
    0.5 is chance, 1 a perfect separation. Quantus: ``quantus.AUC(abs=False)``
    (scikit-learn's ``roc_curve`` and ``auc``).

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1]; NaN for a mask covering the whole image.
    """
    from ._common import rankdata

    a, gt = _masked(attributions, masks)
    ranks = rankdata(a)
    n_pos = gt.sum(axis=1).astype(np.float64)
    n_neg = gt.shape[1] - n_pos
    rank_sum = np.where(gt, ranks, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = rank_sum - n_pos * (n_pos + 1) / 2
        return np.where(n_neg > 0, u / (n_pos * np.where(n_neg > 0, n_neg, 1.0)), np.nan)
