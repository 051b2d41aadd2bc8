"""Axioms: properties some methods claim by construction (Sundararajan et al. 2017;
Kindermans et al. 2019), checked on the maps they return."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import (
    MetricResult,
    Predict,
    describe_fill,
    fill_rows,
    perturbation_setup,
    score_jobs,
)

__all__ = ["completeness", "non_sensitivity"]


def completeness(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, baseline: Any = 0.0,
                 batch_size: int = 32, score: str = "output") -> MetricResult:
    r"""Completeness gap (Sundararajan et al., "Axiomatic Attribution for Deep Networks",
    ICML 2017; "summation to delta", Shrikumar et al. 2017).

    .. math:: \mathrm{gap} = \sum_p a_p - \big(f_t(x) - f_t(\bar x)\big)

    0 for a method that satisfies completeness with respect to the baseline
    :math:`\bar x` (Integrated Gradients up to its integration error, DeepLIFT-like
    rules, exact Shapley values); a meaningful check only for methods that claim it and
    for the score they explain (usually the logit). Smaller :math:`|\mathrm{gap}|` is better.

    Quantus: ``quantus.Completeness(perturb_baseline=baseline)`` returns
    ``sum(a) == f(x) - f(baseline)`` as a boolean (exact float equality, almost always
    False); the gap here is the quantity that test thresholds at 0.

    Parameters
    ----------
    baseline : float, {"zero", "mean", "blur"} or array
        :math:`\bar x`, the reference the method integrates from.
    Other parameters as in :func:`xaikit.metrics.faithfulness_correlation`.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` signed gaps, in score units.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n = len(s.x)
    ref_scores = score_jobs(predict, n, lambda rows: np.broadcast_to(fill_rows(s.fill, rows),
                                                                     (len(rows), *s.x.shape[1:])),
                            s.targets, batch_size=s.batch_size)
    gaps = s.flat.sum(axis=1) - (s.base - ref_scores)
    return MetricResult(values=gaps, targets=s.targets, params={"baseline": describe_fill(baseline),
                                                                "batch_size": s.batch_size, "score": s.score})


def non_sensitivity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, eps: float = 1e-5,
                    baseline: Any = 0.0, batch_size: int = 32, score: str = "output") -> MetricResult:
    r"""Non-sensitivity violations (Nguyen & Martínez, "On Quantitative Aspects of Model
    Interpretability", 2020; the axiom of Sundararajan et al. 2017).

    A pixel that does not affect the score should get no attribution, and one that gets
    none should not affect the score. Each pixel alone is replaced by the baseline; the
    value counts the pixels where the two disagree:

    .. math:: \mathrm{NS} = \big|\{p : [\,|a_p| < \varepsilon \max_q |a_q|\,] \ne
              [\,|f_t(x) - f_t(x_{[x_p = \bar x_p]})| < \varepsilon\,]\}\big|

    Lower is better (0: no violation). ``H*W`` model calls per image.

    Quantus: ``quantus.NonSensitivity(eps=eps, features_in_step=1, perturb_baseline=baseline)``
    with its defaults ``abs=True, normalise=True`` counts exactly this on one image at a
    time (it divides by the largest magnitude of the whole batch).

    Returns
    -------
    MetricResult
        float64 ``(N,)`` counts of violating pixels.
    """
    import numbers

    from ..errors import InputError

    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise InputError(f"eps must be a number in [0, 1); got {eps!r}.")
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    x, fill, t, base, batch_size, score = s.x, s.fill, s.targets, s.base, s.batch_size, s.score
    n, h, w, _ = x.shape
    hw = h * w

    def build(jobs: np.ndarray) -> np.ndarray:
        rows, pixel = jobs // hw, jobs % hw
        removed = np.zeros((len(jobs), hw), dtype=bool)
        removed[np.arange(len(jobs)), pixel] = True
        return np.where(removed.reshape(-1, h, w, 1), fill_rows(fill, rows), x[rows])

    scores = score_jobs(predict, n * hw, build, np.repeat(t, hw), batch_size=batch_size).reshape(n, hw)
    magnitude = np.abs(s.flat)
    unattributed = magnitude < eps * magnitude.max(axis=1, keepdims=True)
    ineffective = np.abs(scores - base[:, None]) < eps
    values = (unattributed != ineffective).sum(axis=1).astype(np.float64)
    return MetricResult(values=values, targets=t, params={"eps": float(eps), "baseline": describe_fill(baseline),
                                                          "batch_size": batch_size, "score": score})
