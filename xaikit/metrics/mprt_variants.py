"""The smooth and efficient model-parameter randomisation tests, sMPRT and eMPRT (Hedström, Weber,
Lapuschkin & Höhne, "Sanity Checks Revisited", NeurIPS 2023 workshop).

Both randomise the model through a :class:`~.mprt.Randomizer`, as the cascading check
(:func:`~.mprt.cascading_randomisation`) does: sMPRT runs that check on maps averaged over
noisy copies of the images, eMPRT compares the entropy of the maps before and after every
layer is randomised.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_choice, check_images, check_positive_int, check_seed, check_targets
from ._common import ExplainFn, MetricResult, check_maps, chunks, explained_maps, stream
from .mprt import RandomisationResult, Randomizer, cascading_randomisation, chosen_layers

__all__ = ["discrete_entropy", "efficient_mprt", "smooth_mprt", "smoothing_noise"]


def smoothing_noise(seed: int, image: int, sample: int, x: np.ndarray, noise_magnitude: float,
                    n_samples: int) -> np.ndarray:
    """The noisy copy of image ``image`` (``x``, ``(H, W, C)``) at draw ``sample`` of :func:`smooth_mprt`.

    :math:`x + \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal N(0, \\sigma^2)` with
    :math:`\\sigma` = ``noise_magnitude`` x (max - min of the image), drawn from
    ``stream(seed, image, sample).standard_normal``; the last draw (``sample = n_samples - 1``)
    is the image itself. float32.
    """
    if sample == n_samples - 1:
        return np.asarray(x, np.float32)
    x64 = np.asarray(x, np.float64)
    sigma = noise_magnitude * (x64.max() - x64.min())
    return (x64 + sigma * stream(seed, image, sample).standard_normal(x.shape)).astype(np.float32)


def _smoothed(explain_fn: ExplainFn, seed: int, n_samples: int, noise_magnitude: float, batch_size: int,
              size: tuple[int, int]) -> ExplainFn:
    """``explain_fn`` denoised as :func:`smooth_mprt` does: each map the mean over the
    ``n_samples`` noisy copies of :func:`smoothing_noise`, at most ``batch_size`` copies per call."""
    h, w = size

    def smoothed(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        total = np.zeros((len(xs), h, w), np.float64)
        for start, stop in chunks(len(xs) * n_samples, batch_size):
            jobs = np.arange(start, stop)
            rows, samples = jobs // n_samples, jobs % n_samples
            noisy = np.stack([smoothing_noise(seed, int(i), int(s), xs[i], noise_magnitude, n_samples)
                              for i, s in zip(rows, samples)])
            out = explain_fn(noisy, np.asarray(ts)[rows])
            maps = check_maps(getattr(out, "attributions", out), name="explain_fn output", n=len(jobs), size=(h, w))
            np.add.at(total, rows, maps.astype(np.float64) / n_samples)
        return total.astype(np.float32)

    return smoothed


def smooth_mprt(explain_fn: ExplainFn, randomizer: Randomizer, images: Any, targets: Any, *,
                layers: Sequence[str] | None = None, order: str = "bottom_up", n_samples: int = 50,
                noise_magnitude: float = 0.1, seed: int | None = None, batch_size: int = 32,
                keep_maps: bool = False) -> RandomisationResult:
    r"""Smooth model-parameter randomisation test, sMPRT (Hedström, Weber, Lapuschkin &
    Höhne, "Sanity Checks Revisited: An Exploration to Repair the Model Parameter
    Randomisation Test", XAI in Action workshop, NeurIPS 2023).

    :func:`cascading_randomisation` of denoised maps, layers randomised from the input
    up by default. The map of every step is the mean over ``n_samples`` noisy copies,

    .. math:: \bar\Phi(x) = \frac{1}{S} \sum_{s=1}^{S} \Phi(x + \varepsilon_s), \qquad
              \varepsilon_s \sim \mathcal N\big(0, (\lambda (\max x - \min x))^2\big),
              \ \varepsilon_S = 0

    (:func:`smoothing_noise`; :math:`\lambda` = ``noise_magnitude``), which removes the
    shattered-gradient noise that makes a plain MPRT fail methods whose maps are noisy
    rather than model-independent. The draws are the same at every step: only the weights
    change. The value per image is ``result.spearman_abs[-1]`` (the Spearman correlation of
    the absolute maps after the last step; lower is better), ``result.spearman_abs.mean(axis=0)``
    the average over the steps.

    Quantus: ``quantus.SmoothMPRT(layer_order=order, nr_samples=n_samples,
    noise_magnitude=noise_magnitude, return_last_correlation=True)`` (its defaults ``abs=True,
    normalise=True`` with the Spearman similarity give ``spearman_abs``: the normalisation
    is a positive scale). Quantus randomises a torch module's layers with
    ``reset_parameters`` after ``torch.manual_seed(seed + 1)`` and draws the noise from
    NumPy's global generator, afresh at every step; here the layers come from the
    ``randomizer`` (:func:`layer_seed`) and the noise from seeded streams.

    Parameters
    ----------
    explain_fn, randomizer, images, targets, seed, keep_maps
        As in :func:`cascading_randomisation` (``images`` channels last).
    layers : sequence of str or None
        Layers to randomise, in the order given; ``None``: every layer of
        ``randomizer.layers()`` in ``order``.
    order : {"bottom_up", "top_down"}
        The order of ``layers=None``: from the input up (the paper's choice for sMPRT) or
        from the output down (Adebayo et al.'s).
    n_samples : int
        Noisy copies averaged per map (the last one noise-free).
    noise_magnitude : float
        :math:`\lambda`, the noise's standard deviation as a fraction of each image's range.
    batch_size : int
        Largest number of noisy copies given to ``explain_fn`` at once.

    Returns
    -------
    RandomisationResult
        ``params`` also hold ``n_samples``, ``noise_magnitude`` and ``order``.
    """
    x = check_images(images)
    h, w = x.shape[1:3]
    order = check_choice("order", order, ("bottom_up", "top_down"))
    n_samples = check_positive_int("n_samples", n_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    if (isinstance(noise_magnitude, bool) or not isinstance(noise_magnitude, numbers.Real)
            or not np.isfinite(noise_magnitude) or noise_magnitude < 0):
        raise InputError(f"noise_magnitude must be a number >= 0 (a fraction of each image's range); got "
                         f"{noise_magnitude!r}.")
    seed = check_seed(seed)
    if layers is None:
        layers = list(randomizer.layers())
        layers = layers[::-1] if order == "bottom_up" else layers

    smoothed = _smoothed(explain_fn, seed, n_samples, float(noise_magnitude), batch_size, (h, w))
    res = cascading_randomisation(smoothed, randomizer, x, targets, layers=layers, mode="cascading", seed=seed,
                                  keep_maps=keep_maps)
    return RandomisationResult(layers=res.layers, spearman=res.spearman, spearman_abs=res.spearman_abs, ssim=res.ssim,
                               original=res.original, maps=res.maps, targets=res.targets,
                               params={**res.params, "order": order, "n_samples": n_samples,
                                       "noise_magnitude": float(noise_magnitude), "batch_size": batch_size})


def discrete_entropy(maps: np.ndarray, n_bins: int = 100) -> np.ndarray:
    """Entropy (nats) of the histogram of each map's values in ``n_bins`` equal bins over its own range.

    float64 ``(N,)``; 0 for a constant map. Quantus's ``discrete_entropy``
    (``scipy.stats.entropy(np.histogram(a, bins=n_bins)[0])``).
    """
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    out = np.empty(len(flat))
    for i, row in enumerate(flat):
        counts = np.histogram(row, bins=n_bins)[0].astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        out[i] = float(-(p * np.log(p)).sum())
    return out


def efficient_mprt(explain_fn: ExplainFn, randomizer: Randomizer, images: Any, targets: Any, *,
                   layers: Sequence[str] | None = None, n_bins: int = 100, seed: int | None = None,
                   batch_size: int = 32, attributions: Any = None) -> MetricResult:
    r"""Efficient model-parameter randomisation test, eMPRT (Hedström, Weber, Lapuschkin &
    Höhne, "Sanity Checks Revisited", NeurIPS 2023 workshop).

    Instead of a similarity after every layer, the rise of the maps' complexity once every
    layer is randomised:

    .. math:: \mathrm{eMPRT} = \frac{H\big(\Phi_{\tilde f}(x)\big) - H\big(\Phi_f(x)\big)}{H\big(\Phi_f(x)\big)}

    with :math:`H` the :func:`discrete_entropy` of the map's values (``n_bins`` bins over
    each map's range) and :math:`\tilde f` the model with all ``layers`` re-initialised
    (seeds :func:`layer_seed`, as in :func:`cascading_randomisation`). A map that depends
    on the learned weights turns to noise, whose histogram is broader: higher is better;
    about 0 for a map that ignores the weights. One explanation of the randomised model,
    whatever the number of layers. The weights are restored at the end, also on an error.

    Quantus: ``quantus.EfficientMPRT(complexity_func_kwargs={"n_bins": n_bins})`` (its
    defaults ``abs=False, normalise=False``, ``skip_layers=True``, discrete entropy) on the
    same randomised weights; Quantus re-initialises a torch module's layers after
    ``torch.manual_seed(seed + 1)``; its optional model-output entropies
    (``compute_extra_scores``) are not computed here.

    Parameters
    ----------
    explain_fn, randomizer, images, targets, seed
        As in :func:`cascading_randomisation` (``images`` channels last).
    layers : sequence of str or None
        The layers randomised; ``None``: all of ``randomizer.layers()``.
    n_bins : int
        Histogram bins of :func:`discrete_entropy`.
    batch_size : int
        Largest number of images given to ``explain_fn`` at once.
    attributions : array-like or None
        The maps of the original model; ``None`` computes them.

    Returns
    -------
    MetricResult
        float64 ``(N,)``; NaN where the original map is constant (zero entropy).
        ``params["entropy_original"]``, ``params["entropy_randomised"]`` the two entropies.
    """
    x = check_images(images)
    n, h, w = x.shape[:3]
    if targets is None:
        raise InputError("targets must be given (the classes explained on the randomised model too); pass the "
                         "original model's predicted classes, e.g. np.argmax(predict(images), axis=1), or the labels.")
    t = check_targets(targets, n, None)
    n_bins = check_positive_int("n_bins", n_bins)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    chosen, seeds = chosen_layers(randomizer, layers, seed, distinct=False)
    original = (explained_maps(explain_fn, x, t, batch_size, (h, w)) if attributions is None
                else check_maps(attributions, n=n, size=(h, w)))
    try:
        for name, layer_seed_k in zip(chosen, seeds):
            randomizer.randomize(name, layer_seed_k)
        randomised = explained_maps(explain_fn, x, t, batch_size, (h, w))
    finally:
        randomizer.restore()
    before, after = discrete_entropy(original, n_bins), discrete_entropy(randomised, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(before > 0, (after - before) / np.where(before > 0, before, 1.0), np.nan)
    return MetricResult(values=values, targets=t, params={
        "n_bins": n_bins, "seed": seed, "layers": chosen, "layer_seeds": seeds, "batch_size": batch_size,
        "entropy_original": before.tolist(), "entropy_randomised": after.tolist()})
