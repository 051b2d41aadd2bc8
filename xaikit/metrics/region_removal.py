"""Faithfulness by regions: patches or super-pixels removed cumulatively in the order of their
attribution, and the score curve summarised.

:func:`region_perturbation` (AOPC) and :func:`selectivity` tile the image in square patches;
:func:`irof` cuts it in super-pixels (:func:`superpixels`). Conventions: :mod:`.faithfulness`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_choice, check_positive_int, check_seed
from ._common import PerturbationSetup, Predict, perturbation_setup, score_jobs, stream, trapezoid
from ._removal import CurveResult, removal_params, replace_pixels

__all__ = ["irof", "region_perturbation", "selectivity", "superpixels"]


def _patch_curve(predict: Predict, s: PerturbationSetup, patch_size: Any, order: str, n_regions: int | None,
                 seed: int) -> np.ndarray:
    """Scores ``(N, R)`` after cumulatively replacing the first 1..R patches in ``order``."""
    n, h, w, _ = s.x.shape
    ph, pw = _patch(patch_size, h, w)
    rows_n, cols_n = -(-h // ph), -(-w // pw)
    cells = ((np.arange(h) // ph)[:, None] * cols_n + (np.arange(w) // pw)[None, :]).reshape(-1)
    n_patches = rows_n * cols_n
    sums = np.stack([np.bincount(cells, weights=s.flat[i], minlength=n_patches) for i in range(n)])
    if order == "morf":
        ordering = np.argsort(-sums, axis=1, kind="stable")
    elif order == "lerf":
        ordering = np.argsort(sums, axis=1, kind="stable")
    else:
        ordering = np.stack([stream(seed, i).permutation(n_patches) for i in range(n)])
    patch_rank = np.empty_like(ordering)
    np.put_along_axis(patch_rank, ordering, np.broadcast_to(np.arange(n_patches), ordering.shape), axis=1)
    pixel_rank = patch_rank[:, cells]                      # (N, HW): rank of each pixel's patch
    r = n_patches if n_regions is None else min(n_regions, n_patches)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, k = jobs // r, jobs % r
        return replace_pixels(s, rows, pixel_rank[rows] <= k[:, None])

    return score_jobs(predict, n * r, build, np.repeat(s.targets, r), batch_size=s.batch_size).reshape(n, r)


def _patch(patch_size: Any, h: int, w: int) -> tuple[int, int]:
    from ..validation import check_pair

    ph, pw = check_pair("patch_size", patch_size)
    if ph > h or pw > w:
        raise InputError(f"patch_size {(ph, pw)} is larger than the {h} x {w} images; use at most ({h}, {w}).")
    return ph, pw


def region_perturbation(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                        patch_size: int | tuple[int, int] = 8, regions: int | None = 100, order: str = "morf",
                        baseline: Any = 0.0, batch_size: int = 32, seed: int | None = None,
                        score: str = "output") -> CurveResult:
    r"""Region perturbation and its AOPC (Samek et al., "Evaluating the Visualization of
    What a Deep Neural Network Has Learned", IEEE TNNLS 2017).

    The image is tiled in ``patch_size`` patches (the last row/column of patches is
    cut at the border); patches are replaced by the baseline one after the other
    (cumulatively) in decreasing (``"morf"``), increasing (``"lerf"``) or random order
    of their attribution sum. With :math:`x^{(k)}` the image after :math:`k` patches,

    .. math:: \mathrm{AOPC} = \frac{1}{R + 1}\sum_{k=0}^{R} \big(f_t(x) - f_t(x^{(k)})\big)

    (the :math:`k = 0` term is 0). MoRF: higher is better; LeRF: lower is better.

    Quantus: ``quantus.RegionPerturbation(patch_size=patch_size, regions_evaluation=regions,
    order=order, perturb_baseline=baseline)`` returns the curve ``f(x) - f(x^(k))``,
    :math:`k = 1..R` (``curves`` here); the AOPC is its sum divided by ``R + 1``.
    Quantus pads a non-dividing image instead of cutting the last patches (the same
    pixels are removed with a constant baseline).

    Parameters
    ----------
    patch_size : int or (int, int)
        Patch height and width in pixels.
    regions : int or None
        Number of patches removed (``R``); ``None``: all of them.
    order : {"morf", "lerf", "random"}
        Most relevant first, least relevant first, or a random order per image
        (``stream(seed, image).permutation``).
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    CurveResult
        ``values`` the AOPC ``(N,)``; ``curves`` the score drops ``(N, R)``.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    order = check_choice("order", order, ("morf", "lerf", "random"))
    if regions is not None:
        regions = check_positive_int("regions", regions)
    seed = check_seed(seed)
    drops = s.base[:, None] - _patch_curve(predict, s, patch_size, order, regions, seed)
    params = {"patch_size": list(_patch(patch_size, *s.x.shape[1:3])), "regions": drops.shape[1], "order": order,
              **removal_params(s, baseline)}
    if order == "random":
        params["seed"] = seed
    return CurveResult(values=drops.sum(axis=1) / (drops.shape[1] + 1), targets=s.targets, params=params,
                       curves=drops)


def selectivity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                patch_size: int | tuple[int, int] = 8, baseline: Any = 0.0, batch_size: int = 32,
                score: str = "output") -> CurveResult:
    r"""Selectivity (Montavon et al., "Methods for Interpreting and Understanding Deep
    Neural Networks", Digital Signal Processing 2018).

    Every patch is removed, cumulatively, in decreasing order of its attribution sum
    (as :func:`region_perturbation` with ``order="morf"``, ``regions=None``); the curve
    is the score :math:`f_t(x^{(k)})`, :math:`k = 1..P`, and the value its area with
    unit spacing (Quantus's AUC). Lower is better.

    Quantus: ``quantus.Selectivity(patch_size=patch_size, perturb_baseline=baseline)``
    returns the curve (``curves`` here).

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)``; ``curves`` the scores ``(N, P)``.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    curves = _patch_curve(predict, s, patch_size, "morf", None, 0)
    params = {"patch_size": list(_patch(patch_size, *s.x.shape[1:3])), **removal_params(s, baseline)}
    return CurveResult(values=trapezoid(curves, np.arange(curves.shape[1])), targets=s.targets, params=params,
                       curves=curves)



def superpixels(image: np.ndarray) -> np.ndarray:
    """SLIC super-pixels of one ``(H, W, C)`` image as int64 ``(H, W)`` labels from 0:
    ``skimage.segmentation.slic(image.astype(float64), start_label=0)`` (the call Quantus makes)."""
    try:
        from skimage.segmentation import slic
    except ImportError as exc:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("IROF's super-pixels come from scikit-image's SLIC: pip install scikit-image "
                                     "(or 'xaikit[methods]'), or pass segments=.") from exc
    return np.asarray(slic(np.asarray(image, np.float64), start_label=0), dtype=np.int64)


def irof(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, segments: Any = None,
         baseline: Any = "mean", batch_size: int = 32, score: str = "output") -> CurveResult:
    r"""Iterative removal of features, IROF (Rieger & Hansen, "IROF: a Low Resource
    Evaluation Metric for Explanation Methods", ICLR Workshop 2020).

    The image is cut into super-pixels; they are replaced by the baseline one after the
    other (cumulatively) in decreasing order of their *mean* attribution, and the curve is
    the score relative to the original, :math:`c_k = f_t(x^{(k)}) / f_t(x)`, :math:`k =
    1..L`. The value is the area over the curve with unit spacing,

    .. math:: \mathrm{IROF} = L - \sum_{k=1}^{L-1} \tfrac12 (c_k + c_{k+1})

    Higher is better (the score falls fast). Meaningful for a positive score (a probability).

    Quantus: ``quantus.IROF(segmentation_method="slic", perturb_baseline=baseline,
    abs=False)``; its AOC calls ``np.trapz`` (removed in NumPy 2). With ``"mean"`` Quantus
    takes the mean of the *already perturbed* image at every step; here the fill is the
    original image's per-channel mean throughout (what the paper describes).

    Parameters
    ----------
    segments : array-like of int or None
        ``(N, H, W)`` labels (any integers); ``None``: :func:`superpixels` of each image.
    baseline : {"mean", "zero", "blur"}, float or array
        What removed super-pixels become.
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)``; ``curves`` ``(N, L_max)``, NaN after an image's last segment.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    if segments is None:
        labels = np.stack([superpixels(s.x[i]) for i in range(n)])
    else:
        from ..validation import as_numpy

        labels = as_numpy(segments)
        if labels.shape != (n, h, w) or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"segments must be integer labels of shape {(n, h, w)}; got {labels.dtype} "
                             f"{labels.shape}.")
    ranks = np.zeros((n, h * w), dtype=np.int64)        # removal step of each pixel's segment
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        ids, inverse = np.unique(labels[i].reshape(-1), return_inverse=True)
        means = np.bincount(inverse, weights=s.flat[i]) / np.bincount(inverse)
        order = np.argsort(-means, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        ranks[i], counts[i] = rank[inverse], len(ids)
    jobs = np.concatenate([np.stack([np.full(c, i), np.arange(c)], axis=1) for i, c in enumerate(counts)])

    def build(batch: np.ndarray) -> np.ndarray:
        rows, k = jobs[batch, 0], jobs[batch, 1]
        return replace_pixels(s, rows, ranks[rows] <= k[:, None])

    scores = score_jobs(predict, len(jobs), build, s.targets[jobs[:, 0]], batch_size=s.batch_size)
    curves = np.full((n, int(counts.max())), np.nan)
    curves[jobs[:, 0], jobs[:, 1]] = scores / s.base[jobs[:, 0]]
    values = np.array([counts[i] - trapezoid(curves[i, :counts[i]], np.arange(counts[i])) for i in range(n)])
    params = {"segments": "slic" if segments is None else "given", "n_segments": counts.tolist(),
              **removal_params(s, baseline)}
    return CurveResult(values=values, targets=s.targets, params=params, curves=curves)
