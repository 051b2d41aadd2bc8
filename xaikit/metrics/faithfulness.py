"""Faithfulness: does removing what a map calls important change the model's score?

Every metric here perturbs the images (pixels replaced by a baseline, or Gaussian noise),
scores the perturbed copies through ``predict`` at most ``batch_size`` at a time, and
relates the score changes to the attributions. One value per image; random draws come
from streams keyed by ``(seed, image, sample)`` (:func:`~._common.stream`), so a value
does not depend on ``batch_size`` and the seed is recorded in ``params``.

A *feature* is a pixel: all channels of a pixel are removed together (the maps are
``(N, H, W)``). Quantus broadcasts a one-channel map over the channels and treats every
(channel, pixel) value as a feature; on one-channel images the two agree exactly (the
parity tests run there). The related :func:`~.deletion.deletion`, :func:`~.deletion.insertion`
and :func:`~.fidelity.mu_fidelity` live in their own modules; ROAD in :mod:`.road`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_bool, check_choice, check_positive_int, check_seed
from ._common import (
    MetricResult,
    PerturbationSetup,
    Predict,
    describe_fill,
    fill_rows,
    perturbation_setup,
    rowwise_pearson,
    rowwise_spearman,
    score_jobs,
    stream,
    trapezoid,
)
from .deletion import pixel_ranks

__all__ = ["CurveResult", "faithfulness_correlation", "faithfulness_estimate", "infidelity", "irof", "monotonicity",
           "monotonicity_correlation", "pixel_flipping", "random_subset", "region_perturbation", "selectivity",
           "sensitivity_n", "superpixels"]


@dataclass(frozen=True, eq=False)
class CurveResult(MetricResult):
    """A metric summarising a per-image curve.

    Attributes
    ----------
    curves : numpy.ndarray
        float64 ``(N, S)``: the curve of each image (what it holds is in the metric's docstring).
    """

    curves: np.ndarray


# --------------------------------------------------------------------------- shared set-up
def _replace(s: PerturbationSetup, rows: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Images ``rows`` with the pixels where ``removed`` (``(b, H*W)`` bool) set to the baseline."""
    b = len(rows)
    _, h, w, _ = s.x.shape
    return np.where(removed.reshape(b, h, w, 1), fill_rows(s.fill, rows), s.x[rows])


def _steps(n_pixels: int, features_in_step: Any) -> tuple[int, int]:
    step = check_positive_int("features_in_step", features_in_step, maximum=n_pixels)
    return step, math.ceil(n_pixels / step)


def _common_params(s: PerturbationSetup, baseline: Any) -> dict[str, Any]:
    return {"baseline": describe_fill(baseline), "batch_size": s.batch_size, "score": s.score}


# --------------------------------------------------------------------------- random subsets
def random_subset(seed: int, image: int, sample: int, n_features: int, size: int) -> np.ndarray:
    """The pixel indices (row-major) of subset ``sample`` of image ``image``, as
    :func:`faithfulness_correlation` draws them: ``stream(seed, image, sample).choice(n_features, size,
    replace=False)``."""
    return stream(seed, image, sample).choice(n_features, size, replace=False)


def faithfulness_correlation(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                             subset_size: int = 224, n_samples: int = 100, baseline: Any = 0.0,
                             batch_size: int = 32, seed: int | None = None, score: str = "output") -> MetricResult:
    r"""Faithfulness correlation (Bhatt et al., "Evaluating and Aggregating Feature-based
    Model Explanations", IJCAI 2020).

    For ``n_samples`` random subsets :math:`S` of ``subset_size`` pixels, drawn anew for each image,

    .. math:: \mathrm{FC} = \operatorname{corr}_S\Big(\sum_{p \in S} a_p,\;
              f_t(x) - f_t\big(x_{[x_S = \bar x_S]}\big)\Big)

    (Pearson correlation over the subsets; :math:`\bar x` the baseline). Higher is better,
    in [-1, 1]. :func:`~.fidelity.mu_fidelity` is the same quantity on a grid of
    super-pixels with subsets shared by all images (Xplique's form).

    Quantus: ``quantus.FaithfulnessCorrelation(nr_runs=n_samples, subset_size=subset_size,
    perturb_baseline=baseline, similarity_func=correlation_pearson, abs=False)``; its
    ``normalise=True`` (division by max|a|) does not change a correlation. Quantus draws
    the subsets from NumPy's global generator; here image ``i``'s subset ``s`` is
    :func:`random_subset` ``(seed, i, s, H*W, subset_size)``.

    Parameters
    ----------
    predict : callable
        ``predict(images (n, H, W, C) float32) -> (n, K)``; never receives more than
        ``batch_size`` images at once.
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    attributions : array-like
        ``(N, H, W)`` maps at input resolution.
    targets : None, int or sequence of int
        Output column per image; ``None``: the highest-scoring column.
    subset_size : int
        Pixels per subset, in ``[1, H*W - 1]``.
    n_samples : int
        Subsets per image (>= 2).
    baseline : float, {"zero", "mean", "blur"} or array
        What removed pixels become (see :func:`~.deletion.deletion` for the named fills).
    batch_size : int
        Largest number of images sent to ``predict`` at once.
    seed : int or None
        Base seed; ``None`` draws one (recorded in ``params["seed"]``).
    score : {"output", "probability", "logit"}
        What ``predict`` returns; only recorded.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` in [-1, 1]; NaN where no subset changes the score (undefined).
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    n_pixels = h * w
    if n_pixels < 2:
        raise InputError("faithfulness_correlation needs images of at least 2 pixels.")
    subset_size = check_positive_int("subset_size", subset_size, maximum=n_pixels - 1)
    n_samples = check_positive_int("n_samples", n_samples, minimum=2)
    seed = check_seed(seed)
    sums = np.empty(n * n_samples)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows = jobs // n_samples
        removed = np.zeros((len(jobs), n_pixels), dtype=bool)
        for k, (i, j) in enumerate(zip(rows, jobs % n_samples)):
            idx = random_subset(seed, int(i), int(j), n_pixels, subset_size)
            removed[k, idx] = True
            sums[jobs[k]] = s.flat[i, idx].sum()
        return _replace(s, rows, removed)

    scores = score_jobs(predict, n * n_samples, build, np.repeat(s.targets, n_samples), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_samples)
    values = rowwise_pearson(sums.reshape(n, n_samples), drops)
    params = {"subset_size": subset_size, "n_samples": n_samples, "seed": seed, **_common_params(s, baseline)}
    return MetricResult(values=values, targets=s.targets, params=params)


# --------------------------------------------------------------------------- ordered removal
def faithfulness_estimate(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                          features_in_step: int = 1, baseline: Any = 0.0, batch_size: int = 32,
                          score: str = "output") -> CurveResult:
    r"""Faithfulness estimate (Alvarez-Melis & Jaakkola, "Towards Robust Interpretability
    with Self-Explaining Neural Networks", NeurIPS 2018).

    Pixels are taken in decreasing order of attribution, ``features_in_step`` at a time;
    group :math:`G_j` alone is replaced by the baseline (not cumulatively), and

    .. math:: \mathrm{FE} = \operatorname{corr}_j\Big(\sum_{p \in G_j} a_p,\;
              f_t(x) - f_t\big(x_{[x_{G_j} = \bar x_{G_j}]}\big)\Big)

    (Pearson over the :math:`\lceil HW / \text{step} \rceil` groups). Higher is better.

    Quantus: ``quantus.FaithfulnessEstimate(features_in_step=features_in_step,
    perturb_baseline=baseline, abs=False)`` (``normalise`` does not change it).
    Parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)`` in [-1, 1] (NaN if undefined); ``curves`` the score
        drops ``(N, groups)``.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    step, n_steps = _steps(h * w, features_in_step)
    ranks = pixel_ranks(s.maps)
    group = ranks // step                                  # (N, HW) group of every pixel
    sums = np.stack([np.bincount(group[i], weights=s.flat[i], minlength=n_steps) for i in range(n)])

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        return _replace(s, rows, group[rows] == j[:, None])

    scores = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_steps)
    params = {"features_in_step": step, **_common_params(s, baseline)}
    return CurveResult(values=rowwise_pearson(sums, drops), targets=s.targets, params=params, curves=drops)


def monotonicity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                 features_in_step: int = 1, baseline: Any = 0.0, batch_size: int = 32,
                 score: str = "output") -> CurveResult:
    r"""Monotonicity (Arya et al., "One Explanation Does Not Fit All", 2019).

    Starting from the baseline image, pixels are put back ``features_in_step`` at a time
    in *increasing* order of attribution (cumulatively). The map is monotonic when the
    score never falls:

    .. math:: \mathrm{M} = \big[\, f_t(x^{(1)}) \le f_t(x^{(2)}) \le \dots \le f_t(x^{(L)}) \,\big]

    Quantus: ``quantus.Monotonicity(features_in_step=features_in_step,
    perturb_baseline=baseline, abs=False)``; its default ``abs=True`` is ``np.abs(maps)`` here.

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)`` of 1.0 (monotonic) and 0.0; ``curves`` the scores ``(N, L)``.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    step, n_steps = _steps(h * w, features_in_step)
    ascending = pixel_ranks(-s.maps)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        hidden = ascending[rows] >= ((j + 1) * step)[:, None]
        return _replace(s, rows, hidden)

    scores = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps),
                        batch_size=s.batch_size).reshape(n, n_steps)
    values = np.all(np.diff(scores, axis=1) >= 0, axis=1).astype(np.float64)
    params = {"features_in_step": step, **_common_params(s, baseline)}
    return CurveResult(values=values, targets=s.targets, params=params, curves=scores)


def monotonicity_correlation(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                             features_in_step: int = 1, n_samples: int = 10, baseline: Any = "uniform",
                             eps: float = 1e-5, batch_size: int = 32, seed: int | None = None,
                             score: str = "output") -> CurveResult:
    r"""Monotonicity correlation (Nguyen & Martínez, "On Quantitative Aspects of Model
    Interpretability", 2020).

    Pixels are taken in *increasing* order of attribution, ``features_in_step`` at a time;
    group :math:`G_j` alone is replaced ``n_samples`` times and the normalised variance of
    the score change is compared with the group's attribution:

    .. math:: v_j = \frac{1}{S}\sum_{s=1}^{S} \frac{\big(f_t(x^{(j,s)}) - f_t(x)\big)^2}{f_t(x)^2},
              \qquad \mathrm{MC} = \rho_s\Big(\sum_{p \in G_j} a_p,\; v_j\Big)

    (Spearman over the groups; the division is skipped when :math:`|f_t(x)| < \varepsilon`).
    Higher is better.

    ``baseline="uniform"`` gives every removed value an independent draw from U[0, 1)
    (Quantus's default), from ``stream(seed, image, group, sample)``; any other baseline of
    :func:`faithfulness_correlation` makes the ``n_samples`` copies identical (use
    ``n_samples=1`` then).

    Quantus: ``quantus.MonotonicityCorrelation(features_in_step=features_in_step,
    nr_samples=n_samples, perturb_baseline=baseline, eps=eps, abs=False)``; its default
    ``abs=True`` is ``np.abs(maps)`` here.

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)`` in [-1, 1] (NaN if undefined); ``curves`` the
        :math:`v_j` ``(N, groups)``.
    """
    uniform = isinstance(baseline, str) and baseline == "uniform"
    s = perturbation_setup(predict, images, attributions, targets, baseline=0.0 if uniform else baseline,
                           batch_size=batch_size, score=score)
    n, h, w, c = s.x.shape
    step, n_steps = _steps(h * w, features_in_step)
    n_samples = check_positive_int("n_samples", n_samples)
    seed = check_seed(seed)
    group = pixel_ranks(-s.maps) // step
    sums = np.stack([np.bincount(group[i], weights=s.flat[i], minlength=n_steps) for i in range(n)])
    per_image = n_steps * n_samples

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j, k = jobs // per_image, (jobs % per_image) // n_samples, jobs % n_samples
        removed = group[rows] == j[:, None]
        out = _replace(s, rows, removed)
        if uniform:
            for b in range(len(jobs)):
                noise = stream(seed, int(rows[b]), int(j[b]), int(k[b])).random((h, w, c), dtype=np.float32)
                mask = removed[b].reshape(h, w)
                out[b][mask] = noise[mask]
        return out

    scores = score_jobs(predict, n * per_image, build, np.repeat(s.targets, per_image),
                        batch_size=s.batch_size).reshape(n, n_steps, n_samples)
    inv = np.where(np.abs(s.base) >= eps, 1.0 / np.maximum(np.abs(s.base), 1e-300), 1.0) ** 2
    variances = ((scores - s.base[:, None, None]) ** 2).mean(axis=2) * inv[:, None]
    params = {"features_in_step": step, "n_samples": n_samples, "eps": eps, "seed": seed,
              "baseline": "uniform" if uniform else describe_fill(baseline), "batch_size": s.batch_size,
              "score": s.score}
    return CurveResult(values=rowwise_spearman(sums, variances), targets=s.targets, params=params,
                       curves=variances)


def pixel_flipping(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                   features_in_step: int = 1, baseline: Any = 0.0, batch_size: int = 32,
                   score: str = "output") -> CurveResult:
    r"""Pixel flipping (Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier
    Decisions by Layer-Wise Relevance Propagation", PLoS ONE 2015).

    Pixels are replaced by the baseline ``features_in_step`` at a time in decreasing order
    of attribution, cumulatively; the curve is :math:`f_t(x^{(j)})`, :math:`j = 1..L`, and
    the value its area with unit spacing (Quantus's AUC):

    .. math:: \mathrm{PF} = \sum_{j=1}^{L-1} \tfrac12\big(f_t(x^{(j)}) + f_t(x^{(j+1)})\big)

    Lower is better. It is :func:`~.deletion.deletion` with one curve point per step, no
    point at 0 %, and an area that grows with the number of steps (divide by ``L - 1``
    to compare image sizes).

    Quantus: ``quantus.PixelFlipping(features_in_step=features_in_step,
    perturb_baseline=baseline, return_auc_per_sample=True, abs=False)`` (the curve is what
    it returns with ``return_auc_per_sample=False``; ``normalise`` does not change it).

    Returns
    -------
    CurveResult
        ``values`` float64 ``(N,)``; ``curves`` the scores ``(N, L)``.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    step, n_steps = _steps(h * w, features_in_step)
    ranks = pixel_ranks(s.maps)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        return _replace(s, rows, ranks[rows] < ((j + 1) * step)[:, None])

    curves = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps),
                        batch_size=s.batch_size).reshape(n, n_steps)
    params = {"features_in_step": step, **_common_params(s, baseline)}
    return CurveResult(values=trapezoid(curves, np.arange(n_steps)), targets=s.targets, params=params,
                       curves=curves)


# --------------------------------------------------------------------------- regions (patches)
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
        return _replace(s, rows, pixel_rank[rows] <= k[:, None])

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
              **_common_params(s, baseline)}
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
    params = {"patch_size": list(_patch(patch_size, *s.x.shape[1:3])), **_common_params(s, baseline)}
    return CurveResult(values=trapezoid(curves, np.arange(curves.shape[1])), targets=s.targets, params=params,
                       curves=curves)


# --------------------------------------------------------------------------- infidelity
def infidelity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, noise_std: float = 0.1,
               n_samples: int = 10, normalize: bool = False, batch_size: int = 32, seed: int | None = None,
               score: str = "output") -> MetricResult:
    r"""Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations",
    NeurIPS 2019).

    With Gaussian perturbations :math:`I \sim \mathcal N(0, \sigma^2)` of every input
    value and the map broadcast over the channels,

    .. math:: \mathrm{INFD} = \mathbb E_I\Big[\Big(\sum_{p,c} I_{p,c}\, a_p
              - \big(f_t(x) - f_t(x - I)\big)\Big)^2\Big]

    estimated with ``n_samples`` draws. Lower is better. ``normalize=True`` first scales
    the attribution term by :math:`\beta = \mathbb E[I^\top a\,\Delta f] / \mathbb E[(I^\top a)^2]`
    (the paper's scale-invariant form), as Captum does.

    Captum: ``captum.metrics.infidelity(forward_func, perturb_func, inputs, attributions,
    target=targets, n_perturb_samples=n_samples, normalize=normalize)`` with a
    ``perturb_func`` returning ``(I, x - I)``; draw ``s`` of image ``i`` is
    ``noise_std * stream(seed, i, s).standard_normal((H, W, C))``. Quantus's
    ``Infidelity`` is another definition (deterministic square patches set to a
    baseline), not computed here.

    Parameters
    ----------
    noise_std : float
        :math:`\sigma`, in the units of the model input.
    n_samples : int
        Perturbations per image.
    normalize : bool
        Use the optimally scaled attribution term.
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    MetricResult
        float64 ``(N,)``, >= 0.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=0.0, batch_size=batch_size, score=score)
    n, h, w, c = s.x.shape
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float, np.floating, np.integer)) \
            or not np.isfinite(noise_std) or noise_std <= 0:
        raise InputError(f"noise_std must be a number > 0 (input units); got {noise_std!r}.")
    n_samples = check_positive_int("n_samples", n_samples)
    normalize = check_bool("normalize", normalize)
    seed = check_seed(seed)
    dots = np.empty(n * n_samples)

    def build(jobs: np.ndarray) -> np.ndarray:
        out = np.empty((len(jobs), h, w, c), dtype=np.float32)
        for b, job in enumerate(jobs):
            i, k = divmod(int(job), n_samples)
            noise = (noise_std * stream(seed, i, k).standard_normal((h, w, c))).astype(np.float32)
            dots[job] = float(np.einsum("hwc,hw->", noise.astype(np.float64), s.maps[i].astype(np.float64)))
            out[b] = s.x[i] - noise
        return out

    scores = score_jobs(predict, n * n_samples, build, np.repeat(s.targets, n_samples), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_samples)
    dots2 = dots.reshape(n, n_samples)
    if normalize:
        den = (dots2 ** 2).mean(axis=1)
        beta = np.where(den > 0, (dots2 * drops).mean(axis=1) / np.where(den > 0, den, 1.0), 0.0)
        dots2 = dots2 * beta[:, None]
    values = ((dots2 - drops) ** 2).mean(axis=1)
    params = {"noise_std": float(noise_std), "n_samples": n_samples, "normalize": normalize, "seed": seed,
              "batch_size": s.batch_size, "score": s.score}
    return MetricResult(values=values, targets=s.targets, params=params)


# --------------------------------------------------------------------------- sensitivity-n
def sensitivity_n(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                  sizes: Any = (1, 4, 16, 64, 256), n_samples: int = 32, baseline: Any = 0.0, batch_size: int = 32,
                  seed: int | None = None, score: str = "output") -> CurveResult:
    r"""Sensitivity-n (Ancona et al., "Towards Better Understanding of Gradient-based
    Attribution Methods for Deep Neural Networks", ICLR 2018).

    For each subset size :math:`n`, the Pearson correlation over ``n_samples`` random
    subsets :math:`S` of :math:`n` pixels between :math:`\sum_{p \in S} a_p` and
    :math:`f_t(x) - f_t(x_{[x_S = \bar x_S]})`: :func:`faithfulness_correlation` at
    ``subset_size = n`` (with the same seed, the subsets of every size are drawn from
    the same streams). A method satisfies sensitivity-n when the correlation is 1.

    Quantus's ``SensitivityN`` removes pixels cumulatively in the order of the map and
    correlates over images, another quantity; it is not reproduced.

    Parameters
    ----------
    sizes : sequence of int
        The subset sizes :math:`n`, each in ``[1, H*W - 1]``.
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    CurveResult
        ``curves`` the correlation per size ``(N, len(sizes))``; ``values`` their mean
        over the sizes (NaN-ignoring).
    """
    seed = check_seed(seed)
    sizes = [check_positive_int("sizes", n) for n in np.atleast_1d(np.asarray(sizes)).tolist()]
    if not sizes:
        raise InputError("sizes must list at least one subset size.")
    curves, last = [], None
    for n in sizes:
        last = faithfulness_correlation(predict, images, attributions, targets, subset_size=n, n_samples=n_samples,
                                        baseline=baseline, batch_size=batch_size, seed=seed, score=score)
        curves.append(last.values)
    stacked = np.stack(curves, axis=1)
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(stacked)
        values = np.where(valid.any(axis=1), np.where(valid, stacked, 0).sum(axis=1) / np.maximum(valid.sum(1), 1),
                          np.nan)
    assert last is not None
    params = {**last.params, "sizes": sizes}
    params.pop("subset_size")
    return CurveResult(values=values, targets=last.targets, params=params, curves=stacked)


# --------------------------------------------------------------------------- IROF
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
        return _replace(s, rows, ranks[rows] <= k[:, None])

    scores = score_jobs(predict, len(jobs), build, s.targets[jobs[:, 0]], batch_size=s.batch_size)
    curves = np.full((n, int(counts.max())), np.nan)
    curves[jobs[:, 0], jobs[:, 1]] = scores / s.base[jobs[:, 0]]
    values = np.array([counts[i] - trapezoid(curves[i, :counts[i]], np.arange(counts[i])) for i in range(n)])
    params = {"segments": "slic" if segments is None else "given", "n_segments": counts.tolist(),
              **_common_params(s, baseline)}
    return CurveResult(values=values, targets=s.targets, params=params, curves=curves)
