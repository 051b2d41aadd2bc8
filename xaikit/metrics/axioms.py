"""Axioms: properties some methods claim by construction (Sundararajan et al. 2017;
Kindermans et al. 2019), checked on the maps they return."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import check_images, check_positive_int
from ._common import (
    MetricResult,
    Predict,
    check_maps,
    check_score_label,
    describe_fill,
    fill_rows,
    resolve_fill,
    resolve_targets,
    score_jobs,
)

__all__ = ["completeness"]


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
    x = check_images(images)
    n, h, w, _ = x.shape
    maps = check_maps(attributions, n=n, size=(h, w))
    batch_size = check_positive_int("batch_size", batch_size)
    score = check_score_label(score)
    fill = resolve_fill(baseline, x, name="baseline")
    t, base = resolve_targets(predict, x, targets, batch_size=batch_size)
    ref_scores = score_jobs(predict, n, lambda rows: np.broadcast_to(fill_rows(fill, rows), (len(rows), *x.shape[1:])),
                            t, batch_size=batch_size)
    gaps = maps.reshape(n, -1).sum(axis=1, dtype=np.float64) - (base - ref_scores)
    return MetricResult(values=gaps, targets=t, params={"baseline": describe_fill(baseline),
                                                        "batch_size": batch_size, "score": score})
