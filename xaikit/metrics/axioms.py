"""Axioms: properties some methods claim by construction (Sundararajan et al. 2017;
Kindermans et al. 2019), checked on the maps they return (input invariance: on a shifted model
too)."""

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

__all__ = ["completeness", "input_invariance", "non_sensitivity"]


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


def input_invariance(explain_fn: Any, shifted_explain_fn: Any, images: Any, targets: Any, *, shift: float = -1.0,
                     attributions: Any = None, batch_size: int = 32) -> MetricResult:
    r"""Input invariance (Kindermans et al., "The (Un)reliability of Saliency Methods", in
    Explainable AI, Springer LNCS 11700, 2019; arXiv 2017).

    Two models that compute the same function on shifted inputs should get the same map:
    :math:`f_2(x + m) = f_1(x)` where :math:`f_2` is :math:`f_1` with its first layer's
    bias compensating the constant shift :math:`m`, :math:`b_2 = b_1 - m\,W\mathbf 1`. The
    value is the largest change of the map, relative to the map's largest magnitude:

    .. math:: \mathrm{II} = \frac{\max_p \lvert \Phi_{f_1}(x)_p - \Phi_{f_2}(x + m)_p \rvert}
              {\max_p \lvert \Phi_{f_1}(x)_p \rvert}

    0 for an input-invariant method (gradients, Grad-CAM; Integrated Gradients with a
    baseline shifted too), > 0 otherwise (gradient x input, Integrated Gradients from a
    zero baseline, whose maps change with the shift). Lower is better; NaN where the
    original map is all zero. :func:`xaikit.input_invariance_check` builds :math:`f_2`
    through the model's backend and runs both.

    Quantus: ``quantus.InputInvariance(input_shift=shift)`` returns, per image, the
    boolean ``np.all(np.isclose(a, a_shifted, atol=1e-4))`` on the raw maps: True where
    :math:`\max_p \lvert \Delta_p \rvert \le 10^{-4} + 10^{-5} \lvert a_p \rvert`, i.e. an
    absolute threshold of this value times the map's largest magnitude. Its shifted model
    is built the same way (a torch model's first module; it takes the minimum of the
    compensated first layer's output over positions, exact only without zero padding,
    which xaikit refuses instead).

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images (n, H, W, C), targets (n,)) -> (n, H, W)`` maps of :math:`f_1`
        (or an object with ``.attributions``).
    shifted_explain_fn : callable
        The same method on :math:`f_2`; it is given the shifted images :math:`x + m`.
    images : array-like
        ``(N, H, W, C)`` channels-last batch :math:`x` (unshifted).
    targets : int or sequence of int
        The class explained for each image, on both models.
    shift : float
        :math:`m`, added to every input value (Quantus's default -1).
    attributions : array-like or None
        The maps of :math:`f_1` on ``images``; ``None`` computes them with ``explain_fn``.
    batch_size : int
        Largest number of images given to either function at once.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` >= 0.
    """
    import numbers

    from ..errors import InputError
    from ..validation import check_images, check_positive_int, check_targets
    from ._common import check_maps, explained_maps

    x = check_images(images)
    n, h, w, _ = x.shape
    if targets is None:
        raise InputError("targets must be given (the classes explained on both models); pass the model's predicted "
                         "classes, e.g. np.argmax(predict(images), axis=1), or the labels.")
    t = check_targets(targets, n, None)
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not np.isfinite(shift) or shift == 0:
        raise InputError(f"shift must be a finite non-zero number (input units); got {shift!r}.")
    batch_size = check_positive_int("batch_size", batch_size)

    def maps(fn: Any, images: np.ndarray) -> np.ndarray:
        return explained_maps(fn, images, t, batch_size, (h, w)).astype(np.float64)

    original = maps(explain_fn, x) if attributions is None else check_maps(attributions, n=n, size=(h, w))
    flat = np.asarray(original, np.float64).reshape(n, -1)
    shifted = maps(shifted_explain_fn, (x + np.float32(shift)).astype(np.float32)).reshape(n, -1)
    scale = np.abs(flat).max(axis=1)
    change = np.abs(flat - shifted).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(scale > 0, change / np.where(scale > 0, scale, 1.0), np.nan)
    return MetricResult(values=values, targets=t, params={"shift": float(shift), "batch_size": batch_size})
