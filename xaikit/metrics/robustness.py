"""Robustness: does the map stay put when the input barely moves?

These metrics re-run the *method* on perturbed copies of the images, through a plain
``explain_fn(images (n, H, W, C), targets (n,)) -> (n, H, W)`` maps (or anything with an
``attributions`` attribute, such as an :class:`~xaikit.Explanation`). The bench passes
the method's explainer, so they work for every (method, backend) pair. ``explain_fn``
never receives more than ``batch_size`` images at once; draw ``s`` of image ``i`` comes
from ``stream(seed, i, s)`` (:func:`~._common.stream`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_choice, check_images, check_positive_int, check_seed, check_targets
from ._common import ExplainFn, MetricResult, check_maps, chunks, explained_maps, stream

__all__ = ["avg_sensitivity", "continuity", "continuity_shifts", "local_lipschitz_estimate", "max_sensitivity",
           "perturbation", "relative_input_stability", "relative_output_stability", "translate"]


def perturbation(kind: str, scale: float, seed: int, image: int, sample: int, shape: tuple[int, ...]) -> np.ndarray:
    """The noise added to image ``image`` at draw ``sample``: U(-scale, scale) or N(0, scale^2), float32."""
    rng = stream(seed, image, sample)
    if kind == "uniform":
        return rng.uniform(-scale, scale, shape).astype(np.float32)
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _maps(explain_fn: ExplainFn, images: np.ndarray, targets: np.ndarray, batch_size: int,
          size: tuple[int, int]) -> np.ndarray:
    return explained_maps(explain_fn, images, targets, batch_size, size).astype(np.float64)


def _ratios(explain_fn: ExplainFn, images: Any, targets: Any, attributions: Any, *, kind: str, scale: float,
            n_samples: int, batch_size: int, seed: int | None, ratio: Callable[..., np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not np.isfinite(scale) or scale <= 0:
        raise InputError(f"the perturbation size must be a number > 0 (input units); got {scale!r}.")
    seed = check_seed(seed)

    def draw(x: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        delta = perturbation(kind, float(scale), seed, i, j, x.shape)
        return x + delta, delta

    values, t, params = _perturbed_ratios(explain_fn, images, targets, attributions, n_samples=n_samples,
                                          batch_size=batch_size, draw=draw, ratio=ratio)
    return values, t, {**params, "seed": seed, "noise": kind, "scale": float(scale)}


def _perturbed_ratios(explain_fn: ExplainFn, images: Any, targets: Any, attributions: Any, *, n_samples: int,
                      batch_size: int, draw: Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]],
                      ratio: Callable[..., np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``ratio(original maps, perturbed maps, deltas, rows)`` of every (image, draw) pair, ``batch_size`` at a time.

    ``draw(x, i, j)`` returns the perturbed copy of image ``i`` (``x``) at draw ``j`` and its
    change :math:`\\delta` (float32, ``x.shape`` each).
    """
    x = check_images(images)
    n, h, w, _ = x.shape
    if targets is None:
        raise InputError("targets must be given (the classes explained on every perturbed copy); pass the model's "
                         "predicted classes, e.g. np.argmax(predict(images), axis=1), or the labels.")
    t = check_targets(targets, n, None)
    n_samples = check_positive_int("n_samples", n_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    if attributions is None:
        original = _maps(explain_fn, x, t, batch_size, (h, w))
    else:
        original = check_maps(attributions, n=n, size=(h, w)).astype(np.float64)
    values = np.empty(n * n_samples)
    for start, stop in chunks(n * n_samples, batch_size):
        jobs = np.arange(start, stop)
        rows = jobs // n_samples
        drawn = [draw(x[i], int(i), int(j)) for i, j in zip(rows, jobs % n_samples)]
        perturbed = np.stack([p for p, _ in drawn]).astype(np.float32, copy=False)
        deltas = np.stack([d for _, d in drawn])
        maps = _maps(explain_fn, perturbed, t[rows], batch_size, (h, w))
        values[start:stop] = ratio(original[rows].reshape(len(jobs), -1), maps.reshape(len(jobs), -1),
                                   deltas.reshape(len(jobs), -1).astype(np.float64), rows)
    return values.reshape(n, n_samples), t, {"n_samples": n_samples, "batch_size": batch_size}


def _relative_change(a: np.ndarray, b: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    num = np.linalg.norm(b - a, axis=1)
    den = np.linalg.norm(a, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def max_sensitivity(explain_fn: ExplainFn, images: Any, targets: Any, *, attributions: Any = None,
                    radius: float = 0.02, n_samples: int = 10, batch_size: int = 32,
                    seed: int | None = None) -> MetricResult:
    r"""Max-sensitivity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations",
    NeurIPS 2019).

    .. math:: \mathrm{SENS}_{max} = \max_{\delta} \frac{\lVert \Phi(x + \delta) - \Phi(x) \rVert_F}
              {\lVert \Phi(x) \rVert_F}, \qquad \delta \sim U(-r, r)^{H \times W \times C}

    over ``n_samples`` draws, :math:`\Phi` the method (the same target on every copy).
    Lower is better.

    Captum: ``captum.metrics.sensitivity_max(explanation_func, inputs, perturb_radius=radius,
    n_perturb_samples=n_samples, target=targets)`` (Frobenius norm, the same relative
    form). Quantus: ``quantus.MaxSensitivity(nr_samples=n_samples, lower_bound=radius,
    normalise=False, abs=False)`` (its default radius is 0.2, its default
    ``return_nan_when_prediction_changes=False`` is what is computed here). Draw ``s`` of
    image ``i`` is :func:`perturbation` ``("uniform", radius, seed, i, s, (H, W, C))``.

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images (n, H, W, C) float32, targets (n,)) -> (n, H, W)`` maps or an
        object with ``.attributions``.
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    targets : int or sequence of int
        The class explained for each image (also on its perturbed copies).
    attributions : array-like or None
        The maps of the unperturbed images; ``None`` computes them with ``explain_fn``.
    radius : float
        :math:`r`, in input units.
    n_samples : int
        Perturbed copies per image.
    batch_size : int
        Largest number of images given to ``explain_fn`` at once.
    seed : int or None
        Base seed; ``None`` draws one (recorded in ``params``).

    Returns
    -------
    MetricResult
        float64 ``(N,)`` >= 0; NaN for an all-zero original map.
    """
    ratios, t, params = _ratios(explain_fn, images, targets, attributions, kind="uniform", scale=radius,
                                n_samples=n_samples, batch_size=batch_size, seed=seed, ratio=_relative_change)
    return MetricResult(values=ratios.max(axis=1), targets=t, params=params)


def avg_sensitivity(explain_fn: ExplainFn, images: Any, targets: Any, *, attributions: Any = None,
                    radius: float = 0.02, n_samples: int = 10, batch_size: int = 32,
                    seed: int | None = None) -> MetricResult:
    r"""Average sensitivity (Yeh et al., NeurIPS 2019): as :func:`max_sensitivity` with the
    mean over the draws instead of the maximum.

    .. math:: \mathrm{SENS}_{avg} = \mathbb E_{\delta} \frac{\lVert \Phi(x + \delta) - \Phi(x) \rVert_F}
              {\lVert \Phi(x) \rVert_F}

    Quantus: ``quantus.AvgSensitivity(nr_samples=n_samples, lower_bound=radius,
    normalise=False, abs=False)``. Parameters and draws as in :func:`max_sensitivity`.
    """
    ratios, t, params = _ratios(explain_fn, images, targets, attributions, kind="uniform", scale=radius,
                                n_samples=n_samples, batch_size=batch_size, seed=seed, ratio=_relative_change)
    return MetricResult(values=ratios.mean(axis=1), targets=t, params=params)


def _lipschitz(a: np.ndarray, b: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.linalg.norm(b - a, axis=1) / np.linalg.norm(delta, axis=1)


def local_lipschitz_estimate(explain_fn: ExplainFn, images: Any, targets: Any, *, attributions: Any = None,
                             noise_std: float = 0.1, n_samples: int = 10, batch_size: int = 32,
                             seed: int | None = None) -> MetricResult:
    r"""Local Lipschitz estimate (Alvarez-Melis & Jaakkola, "On the Robustness of
    Interpretability Methods", ICML Workshop 2018).

    .. math:: \hat L(x) = \max_{\delta} \frac{\lVert \Phi(x + \delta) - \Phi(x) \rVert_2}
              {\lVert \delta \rVert_2}, \qquad \delta \sim \mathcal N(0, \sigma^2)^{H \times W \times C}

    over ``n_samples`` Gaussian draws (the paper maximises over a ball; sampling is
    Quantus's estimator). Lower is better. Draw ``s`` of image ``i`` is
    :func:`perturbation` ``("gaussian", noise_std, seed, i, s, (H, W, C))``.

    Quantus: ``quantus.LocalLipschitzEstimate(nr_samples=n_samples, perturb_std=noise_std,
    normalise=False, abs=False)``, which adds 1e-10 to the denominator (a relative
    difference below 1e-8 for any realistic draw). Other parameters as in
    :func:`max_sensitivity`.
    """
    ratios, t, params = _ratios(explain_fn, images, targets, attributions, kind="gaussian", scale=noise_std,
                                n_samples=n_samples, batch_size=batch_size, seed=seed, ratio=_lipschitz)
    return MetricResult(values=ratios.max(axis=1), targets=t, params=params)


def _relative(a: np.ndarray, b: np.ndarray, eps_min: float) -> np.ndarray:
    """``||(a - b) / a||`` per row, with ``eps_min`` where ``a`` is 0."""
    return np.linalg.norm((a - b) / (a + (a == 0) * eps_min), axis=1)


def relative_input_stability(explain_fn: ExplainFn, images: Any, targets: Any, *, attributions: Any = None,
                             radius: float = 0.2, n_samples: int = 10, eps_min: float = 1e-6, batch_size: int = 32,
                             seed: int | None = None) -> MetricResult:
    r"""Relative input stability, RIS (Agarwal et al., "Rethinking Stability for
    Attribution-based Explanations", ICLR Workshop 2022).

    .. math:: \mathrm{RIS} = \max_{x'} \frac{\big\lVert \frac{\Phi(x) - \Phi(x')}{\Phi(x)} \big\rVert_2}
              {\max\big(\big\lVert \frac{x - x'}{x} \big\rVert_2, \varepsilon_{min}\big)}

    (element-wise divisions, :math:`\varepsilon_{min}` where the divisor is 0), over
    ``n_samples`` copies :math:`x' = x + \delta`, :math:`\delta \sim U(-r, r)` (draw ``s``
    of image ``i``: :func:`perturbation` ``("uniform", radius, seed, i, s, (H, W, C))``).
    Lower is better.

    Quantus: ``quantus.RelativeInputStability(nr_samples=n_samples, eps_min=eps_min,
    normalise=False, abs=False)`` with its uniform perturbation of radius 0.2 (Quantus adds
    :math:`\varepsilon_{min}` only to a zero denominator instead of taking the maximum: the
    same for any real draw). Other parameters as in :func:`max_sensitivity`.
    """
    x = check_images(images)

    def ratio(a: np.ndarray, b: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        xs = x[rows].reshape(len(rows), -1).astype(np.float64)
        den = np.linalg.norm(delta / (xs + (xs == 0) * eps_min), axis=1)
        return _relative(a, b, eps_min) / np.maximum(den, eps_min)

    ratios, t, params = _ratios(explain_fn, x, targets, attributions, kind="uniform", scale=radius,
                                n_samples=n_samples, batch_size=batch_size, seed=seed, ratio=ratio)
    return MetricResult(values=ratios.max(axis=1), targets=t, params={**params, "eps_min": eps_min})


def relative_output_stability(explain_fn: ExplainFn, images: Any, targets: Any, *, predict: Callable[[np.ndarray], Any],
                              attributions: Any = None, radius: float = 0.2, n_samples: int = 10,
                              eps_min: float = 1e-6, batch_size: int = 32, seed: int | None = None) -> MetricResult:
    r"""Relative output stability, ROS (Agarwal et al., ICLR Workshop 2022).

    As :func:`relative_input_stability` with the change of the model's outputs
    (``predict``, e.g. the logits :math:`h`) in the denominator:

    .. math:: \mathrm{ROS} = \max_{x'} \frac{\big\lVert \frac{\Phi(x) - \Phi(x')}{\Phi(x)} \big\rVert_2}
              {\max\big(\lVert h(x) - h(x') \rVert_2, \varepsilon_{min}\big)}

    Lower is better. Quantus: ``quantus.RelativeOutputStability(nr_samples=n_samples,
    eps_min=eps_min, normalise=False, abs=False)`` (with ``softmax=False``: logits). Both
    ``predict`` (``predict(images (n, H, W, C)) -> (n, K)``, keyword-only) and ``explain_fn``
    receive at most ``batch_size`` images at once.
    """
    from ._common import predicted

    x = check_images(images)
    h_x = np.concatenate([predicted(predict, x[a:b], b - a) for a, b in chunks(len(x), batch_size)])

    def ratio(a: np.ndarray, b: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        perturbed = (x[rows] + delta.reshape(x[rows].shape)).astype(np.float32)
        h = predicted(predict, perturbed, len(rows))
        den = np.linalg.norm(h_x[rows] - h, axis=1)
        return _relative(a, b, eps_min) / np.maximum(den, eps_min)

    ratios, t, params = _ratios(explain_fn, x, targets, attributions, kind="uniform", scale=radius,
                                n_samples=n_samples, batch_size=batch_size, seed=seed, ratio=ratio)
    return MetricResult(values=ratios.max(axis=1), targets=t, params={**params, "eps_min": eps_min})


#: The fills of :func:`continuity`'s uncovered columns: each image's minimum (Quantus's
#: ``"black"``), maximum (``"white"``) or mean over all its values.
TRANSLATION_FILLS = ("min", "max", "mean")


def continuity_shifts(width: int, n_steps: int) -> np.ndarray:
    """The horizontal shifts of :func:`continuity`, in pixels: Quantus's grid over ``[-W, W]``.

    ``-W + k * ((2W + 1) // n_steps)`` for ``k = 1..n_steps`` (clipped to ``[-W, W]``).
    """
    n_steps = check_positive_int("n_steps", n_steps)
    step = (2 * width + 1) // n_steps
    if step < 1:
        raise InputError(f"n_steps must be at most 2 * width + 1 = {2 * width + 1} for images {width} pixels wide "
                         f"(one shift per pixel column); got {n_steps}.")
    return np.clip(-width + step * np.arange(1, n_steps + 1), -width, width)


def translate(image: np.ndarray, shift: int, fill: float) -> np.ndarray:
    """``image`` ``(H, W, C)`` moved ``shift`` pixels to the right (left if negative), uncovered columns ``fill``."""
    w = image.shape[1]
    out = np.full_like(image, fill)
    shift = int(np.clip(shift, -w, w))
    if shift >= 0:
        out[:, shift:] = image[:, :w - shift]
    else:
        out[:, :w + shift] = image[:, -shift:]
    return out


def continuity(explain_fn: ExplainFn, images: Any, targets: Any, *, attributions: Any = None, n_steps: int = 28,
               fill: str | float = "min", batch_size: int = 32) -> MetricResult:
    r"""Continuity (Montavon, Samek & Müller, "Methods for Interpreting and Understanding
    Deep Neural Networks", Digital Signal Processing 73, 2018).

    The strongest variation of the map under a horizontal translation of the image:

    .. math:: \mathrm{C}(x) = \max_{x' \ne x} \frac{\lVert \Phi(x) - \Phi(x') \rVert_1}
              {\lVert x - x' \rVert_2}

    over the copies :math:`x'` of :math:`x` shifted by each of :func:`continuity_shifts`
    ``(W, n_steps)`` pixels (:func:`translate`; the uncovered columns take ``fill``), the
    method :math:`\Phi` explaining the same target on every copy. A copy equal to the image
    (a zero shift, a constant image) does not count. Lower is better. No randomness.

    Quantus: ``quantus.Continuity(nr_steps=n_steps, normalise=False, abs=False)`` (its
    translation is always filled with ``"black"``, each image's minimum: ``fill="min"``;
    its defaults ``normalise=True, abs=True`` correspond to passing max-normalised
    absolute maps). Quantus adds :math:`10^{-9}` to the denominator and so also counts a
    zero shift, where a deterministic method gives 0: the same maximum unless every copy
    equals the image (NaN here, 0 there).

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images (n, H, W, C) float32, targets (n,)) -> (n, H, W)`` maps or an
        object with ``.attributions``; never given more than ``batch_size`` images.
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    targets : int or sequence of int
        The class explained for each image (also on its translated copies).
    attributions : array-like or None
        The maps of the images; ``None`` computes them with ``explain_fn``.
    n_steps : int
        Number of translations, at most ``2W + 1``.
    fill : {"min", "max", "mean"} or float
        The value of the uncovered columns: each image's minimum, maximum or mean over all
        its values, or a constant.
    batch_size : int
        Largest number of images given to ``explain_fn`` at once.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` >= 0; ``params["shifts"]`` the shifts in pixels.
    """
    x = check_images(images)
    if isinstance(fill, str):
        check_choice("fill", fill, TRANSLATION_FILLS)
        values = {"min": x.min(axis=(1, 2, 3)), "max": x.max(axis=(1, 2, 3)),
                  "mean": x.mean(axis=(1, 2, 3), dtype=np.float64)}[fill]
    elif isinstance(fill, numbers.Real) and not isinstance(fill, bool) and np.isfinite(fill):
        values = np.full(len(x), float(fill))
    else:
        raise InputError(f"fill must be one of {TRANSLATION_FILLS} or a finite number; got {fill!r}.")
    shifts = continuity_shifts(x.shape[2], n_steps)

    def draw(image: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        moved = translate(image, int(shifts[j]), float(values[i]))
        return moved, moved - image

    def ratio(a: np.ndarray, b: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        den = np.linalg.norm(delta, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, np.abs(b - a).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)

    ratios, t, params = _perturbed_ratios(explain_fn, x, targets, attributions, n_samples=len(shifts),
                                          batch_size=batch_size, draw=draw, ratio=ratio)
    counted = ~np.isnan(ratios)
    out = np.where(counted.any(axis=1), np.where(counted, ratios, -np.inf).max(axis=1), np.nan)
    return MetricResult(values=out, targets=t, params={"n_steps": len(shifts), "fill": fill if isinstance(
        fill, str) else float(fill), "shifts": shifts.tolist(), "batch_size": params["batch_size"]})
