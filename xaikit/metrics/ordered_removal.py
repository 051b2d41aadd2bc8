"""Faithfulness along the map's order: pixels removed or put back a few at a time, most (or least)
relevant first, and the score watched at every step.

:func:`faithfulness_estimate` and :func:`monotonicity_correlation` remove one group of pixels at a
time and correlate its attribution with the score change; :func:`monotonicity` and
:func:`pixel_flipping` remove (or restore) them cumulatively and summarise the score curve.
Conventions (a feature is a pixel, Quantus's): :mod:`.faithfulness`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import check_positive_int, check_seed
from ._common import (
    Predict,
    describe_fill,
    perturbation_setup,
    rowwise_pearson,
    rowwise_spearman,
    score_jobs,
    stream,
    trapezoid,
)
from ._removal import CurveResult, feature_steps, removal_params, replace_pixels
from .deletion import pixel_ranks

__all__ = ["faithfulness_estimate", "monotonicity", "monotonicity_correlation", "pixel_flipping"]


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
    step, n_steps = feature_steps(h * w, features_in_step)
    ranks = pixel_ranks(s.maps)
    group = ranks // step                                  # (N, HW) group of every pixel
    sums = np.stack([np.bincount(group[i], weights=s.flat[i], minlength=n_steps) for i in range(n)])

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        return replace_pixels(s, rows, group[rows] == j[:, None])

    scores = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_steps)
    params = {"features_in_step": step, **removal_params(s, baseline)}
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
    step, n_steps = feature_steps(h * w, features_in_step)
    ascending = pixel_ranks(-s.maps)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        hidden = ascending[rows] >= ((j + 1) * step)[:, None]
        return replace_pixels(s, rows, hidden)

    scores = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps),
                        batch_size=s.batch_size).reshape(n, n_steps)
    values = np.all(np.diff(scores, axis=1) >= 0, axis=1).astype(np.float64)
    params = {"features_in_step": step, **removal_params(s, baseline)}
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
    step, n_steps = feature_steps(h * w, features_in_step)
    n_samples = check_positive_int("n_samples", n_samples)
    seed = check_seed(seed)
    group = pixel_ranks(-s.maps) // step
    sums = np.stack([np.bincount(group[i], weights=s.flat[i], minlength=n_steps) for i in range(n)])
    per_image = n_steps * n_samples

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j, k = jobs // per_image, (jobs % per_image) // n_samples, jobs % n_samples
        removed = group[rows] == j[:, None]
        out = replace_pixels(s, rows, removed)
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
    step, n_steps = feature_steps(h * w, features_in_step)
    ranks = pixel_ranks(s.maps)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, j = jobs // n_steps, jobs % n_steps
        return replace_pixels(s, rows, ranks[rows] < ((j + 1) * step)[:, None])

    curves = score_jobs(predict, n * n_steps, build, np.repeat(s.targets, n_steps),
                        batch_size=s.batch_size).reshape(n, n_steps)
    params = {"features_in_step": step, **removal_params(s, baseline)}
    return CurveResult(values=trapezoid(curves, np.arange(n_steps)), targets=s.targets, params=params,
                       curves=curves)
