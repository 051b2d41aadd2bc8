"""Model-parameter randomisation sanity check (Adebayo et al., NeurIPS 2018).

The core is framework-free: the model is reached through a :class:`Randomizer` (which
re-initialises and restores layers) and the method through ``explain_fn``. The Keras
randomizer lives in the TensorFlow backend: ``xaikit_tensorflow.randomize.KerasRandomizer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, LayerError
from ..validation import check_bool, check_choice, check_images, check_seed, check_targets
from ._common import MetricResult, check_maps
from .agreement import spearman, ssim

__all__ = ["Randomizer", "RandomisationResult", "cascading_randomisation", "discrete_entropy", "efficient_mprt",
           "layer_seed", "random_logit", "smooth_mprt", "smoothing_noise"]

ExplainFn = Callable[[np.ndarray, np.ndarray], Any]


@runtime_checkable
class Randomizer(Protocol):
    """What :func:`cascading_randomisation` needs from a model.

    An implementation wraps one model, keeps a copy of the original weights of every
    layer it touches and puts them back bit-exactly on :meth:`restore`.
    """

    def layers(self) -> list[str]:
        """Names of the layers that have weights, top (output side) first."""
        ...

    def randomize(self, layer: str, seed: int) -> None:
        """Re-initialise ``layer``'s weights in place, reproducibly from ``seed``.

        Randomisations accumulate: earlier randomised layers stay randomised.
        """
        ...

    def restore(self) -> None:
        """Put back the original weights of every layer randomised so far."""
        ...


@dataclass(frozen=True, eq=False)
class RandomisationResult:
    """Similarity of the maps of a progressively randomised model to the original maps.

    Step ``k`` is the model with ``layers[:k + 1]`` randomised (``mode="cascading"``)
    or with only ``layers[k]`` randomised (``mode="independent"``).

    Attributes
    ----------
    layers : tuple of str
        The layer randomised at each step, top first.
    spearman, spearman_abs, ssim : numpy.ndarray
        float64 ``(L, N)``: Spearman rank correlation of the signed maps, of their
        absolute values, and SSIM (each map min-max normalised, data range 1), between
        the maps at each step and the original maps. NaN where a map is constant.
    original : numpy.ndarray
        float32 ``(N, H, W)``: the maps of the unmodified model.
    maps : numpy.ndarray or None
        float32 ``(L, N, H, W)`` maps at each step if ``keep_maps`` was True.
    targets : numpy.ndarray
        int64 ``(N,)``, the same classes at every step.
    params : dict
        ``mode``, ``seed`` and the per-layer seeds.
    """

    layers: tuple[str, ...]
    spearman: np.ndarray
    spearman_abs: np.ndarray
    ssim: np.ndarray
    original: np.ndarray
    maps: np.ndarray | None
    targets: np.ndarray
    params: dict[str, Any]

    def mean(self) -> dict[str, np.ndarray]:
        """Per-step means over images (NaN-ignoring): metric -> ``(L,)``."""
        out = {}
        for name in ("spearman", "spearman_abs", "ssim"):
            values = getattr(self, name)
            valid = ~np.isnan(values)
            k = valid.sum(axis=1)
            out[name] = np.where(k > 0, np.where(valid, values, 0.0).sum(axis=1) / np.maximum(k, 1), np.nan)
        return out


def layer_seed(seed: int, index: int) -> int:
    """The seed given to the layer at position ``index`` of ``randomizer.layers()``.

    Derived with ``np.random.SeedSequence([seed, index])``, so a layer gets the same
    weights whichever subset of layers or mode is run.
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def cascading_randomisation(explain_fn: ExplainFn, randomizer: Randomizer, images: Any, targets: Any, *,
                            layers: Sequence[str] | None = None, mode: str = "cascading", seed: int | None = None,
                            keep_maps: bool = False, layout: str = "NHWC") -> RandomisationResult:
    r"""Cascading model-parameter randomisation (Adebayo et al., "Sanity Checks for
    Saliency Maps", NeurIPS 2018).

    Layers are re-initialised one after the other from the top (logits) down, and
    after each one the method explains the *same images for the same targets* again.
    With :math:`m^{(0)}` the original maps and :math:`m^{(k)}` the maps once the top
    :math:`k` layers are random, the result holds, per image,

    .. math:: \rho_s\big(m^{(0)}, m^{(k)}\big),\quad
              \rho_s\big(|m^{(0)}|, |m^{(k)}|\big),\quad
              \mathrm{SSIM}\big(\hat m^{(0)}, \hat m^{(k)}\big)

    (Spearman rank correlation, and SSIM of min-max normalised maps). A method that
    depends on the learned parameters shows similarities falling towards 0; a method
    that does not (an edge detector, the input itself) stays at 1.

    The original weights are restored when the check ends, also when ``explain_fn``
    or the randomizer raises.

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images, targets) -> (N, H, W)`` maps (or an object with an
        ``attributions`` attribute, such as an :class:`~xaikit.Explanation`). It must
        use the model the randomizer modifies, in place.
    randomizer : Randomizer
        See :class:`Randomizer`; for Keras, ``xaikit_tensorflow.randomize.KerasRandomizer(model)``.
    images : array-like
        The batch ``explain_fn`` takes, in ``layout``.
    targets : int or sequence of int
        The classes to explain, fixed for all steps (the randomised model's
        predictions are meaningless, so ``None`` is not accepted: pass the original
        model's predictions or labels).
    layers : sequence of str or None
        Layers to randomise, in the given order (top first). ``None``: all of
        ``randomizer.layers()``.
    mode : {"cascading", "independent"}
        ``"cascading"``: randomisations accumulate (Adebayo et al.'s main test).
        ``"independent"``: only one layer is random at each step.
    seed : int or None
        Base seed; the layer at position ``i`` of ``randomizer.layers()`` is given
        :func:`layer_seed` ``(seed, i)``. ``None`` draws one (recorded in params).
    keep_maps : bool
        Keep every step's maps in the result (``L x`` the memory of the maps).
    layout : {"NHWC", "NCHW"}
        The layout of ``images`` (``"NCHW"`` for PyTorch models); the maps are ``(N, H, W)`` either way.

    Returns
    -------
    RandomisationResult
    """
    layout = check_choice("layout", layout, ("NHWC", "NCHW"))
    x = check_images(images, layout=layout)
    n, h, w = (x.shape[0], x.shape[1], x.shape[2]) if layout == "NHWC" else (x.shape[0], x.shape[2], x.shape[3])
    if targets is None:
        raise InputError("targets must be given (the classes explained at every step); pass the original model's "
                         "predicted classes, e.g. np.argmax(predict(images), axis=1), or the labels.")
    t = check_targets(targets, n, None)
    mode = check_choice("mode", mode, ("cascading", "independent"))
    keep_maps = check_bool("keep_maps", keep_maps)
    seed = check_seed(seed)
    available = list(randomizer.layers())
    if layers is None:
        chosen = available
    else:
        chosen = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in chosen if name not in available]
        if unknown:
            raise LayerError(f"cannot randomise layer(s) {unknown}: the layers with weights are, top first: "
                             f"{', '.join(available)}")
        if len(set(chosen)) != len(chosen):
            raise InputError(f"layers lists a layer twice: {chosen}")
    if not chosen:
        raise LayerError("the model has no layer with weights to randomise.")
    seeds = [layer_seed(seed, available.index(name)) for name in chosen]

    def explain() -> np.ndarray:
        out = explain_fn(x, t)
        out = getattr(out, "attributions", out)
        return check_maps(out, name="explain_fn output", n=n, size=(h, w))

    original = explain()
    steps = len(chosen)
    sims = {k: np.empty((steps, n)) for k in ("spearman", "spearman_abs", "ssim")}
    kept = np.empty((steps, n, h, w), dtype=np.float32) if keep_maps else None
    try:
        for k, (name, layer_seed_k) in enumerate(zip(chosen, seeds)):
            randomizer.randomize(name, layer_seed_k)
            maps = explain()
            if mode == "independent":
                randomizer.restore()
            sims["spearman"][k] = spearman(original, maps)
            sims["spearman_abs"][k] = spearman(original, maps, absolute=True)
            sims["ssim"][k] = ssim(original, maps)
            if kept is not None:
                kept[k] = maps
    finally:
        randomizer.restore()
    return RandomisationResult(layers=tuple(chosen), spearman=sims["spearman"], spearman_abs=sims["spearman_abs"],
                               ssim=sims["ssim"], original=original.astype(np.float32), maps=kept, targets=t,
                               params={"mode": mode, "seed": seed, "layer_seeds": seeds})


def random_logit(explain_fn: ExplainFn, images: Any, targets: Any, n_classes: int, *, attributions: Any = None,
                 seed: int | None = None, batch_size: int = 32) -> MetricResult:
    r"""Random logit test (Sixt et al., "When Explanations Lie: Why Many Modified BP
    Attributions Fail", ICML 2020).

    Each image is explained again for a class :math:`t'` drawn uniformly among the other
    ``n_classes - 1`` (``stream(seed, i).integers``), and the two maps compared:

    .. math:: \mathrm{RL} = \mathrm{SSIM}\big(\hat\Phi_t(x), \hat\Phi_{t'}(x)\big)

    with :func:`~.agreement.ssim` (each map min-max normalised, data range 1). A
    class-sensitive method gives dissimilar maps: lower is better.

    Quantus: ``quantus.RandomLogit(num_classes=n_classes)`` compares with
    ``skimage.metrics.structural_similarity`` of the raw maps flattened to one row each
    (a 1-D SSIM, data range from their values) and draws :math:`t'` from NumPy's global
    generator; given this function's SSIM and the same :math:`t'` it returns this value.

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images (n, H, W, C), targets (n,)) -> (n, H, W)`` maps (or ``.attributions``).
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    targets : int or sequence of int
        The explained classes.
    n_classes : int
        Number of model outputs (>= 2).
    attributions : array-like or None
        Maps for ``targets``; ``None`` computes them.
    seed : int or None
        Base seed (recorded).
    batch_size : int
        Largest number of images given to ``explain_fn`` at once.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` SSIM values; ``params["other_targets"]`` the classes drawn.
    """
    from ..validation import check_positive_int
    from ._common import chunks, stream

    x = check_images(images)
    n, h, w = x.shape[:3]
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    t = check_targets(targets, n, n_classes)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    other = np.array([(int(t[i]) + 1 + int(stream(seed, i).integers(n_classes - 1))) % n_classes
                      for i in range(n)], dtype=np.int64)

    def explain(ts: np.ndarray) -> np.ndarray:
        out = []
        for start, stop in chunks(n, batch_size):
            res = explain_fn(x[start:stop], ts[start:stop])
            out.append(check_maps(getattr(res, "attributions", res), name="explain_fn output", n=stop - start,
                                  size=(h, w)))
        return np.concatenate(out)

    original = explain(t) if attributions is None else check_maps(attributions, n=n, size=(h, w))
    values = ssim(original, explain(other))
    return MetricResult(values=values, targets=t, params={"seed": seed, "n_classes": n_classes,
                                                          "other_targets": other.tolist(), "batch_size": batch_size})


def smoothing_noise(seed: int, image: int, sample: int, x: np.ndarray, noise_magnitude: float,
                    n_samples: int) -> np.ndarray:
    """The noisy copy of image ``image`` (``x``, ``(H, W, C)``) at draw ``sample`` of :func:`smooth_mprt`.

    :math:`x + \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal N(0, \\sigma^2)` with
    :math:`\\sigma` = ``noise_magnitude`` x (max - min of the image), drawn from
    ``stream(seed, image, sample).standard_normal``; the last draw (``sample = n_samples - 1``)
    is the image itself. float32.
    """
    from ._common import stream

    if sample == n_samples - 1:
        return np.asarray(x, np.float32)
    x64 = np.asarray(x, np.float64)
    sigma = noise_magnitude * (x64.max() - x64.min())
    return (x64 + sigma * stream(seed, image, sample).standard_normal(x.shape)).astype(np.float32)


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
    import numbers

    from ..validation import check_positive_int
    from ._common import chunks

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

    def smoothed(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        total = np.zeros((len(xs), h, w), np.float64)
        for start, stop in chunks(len(xs) * n_samples, batch_size):
            jobs = np.arange(start, stop)
            rows, samples = jobs // n_samples, jobs % n_samples
            noisy = np.stack([smoothing_noise(seed, int(i), int(s), xs[i], float(noise_magnitude), n_samples)
                              for i, s in zip(rows, samples)])
            out = explain_fn(noisy, np.asarray(ts)[rows])
            maps = check_maps(getattr(out, "attributions", out), name="explain_fn output", n=len(jobs), size=(h, w))
            np.add.at(total, rows, maps.astype(np.float64) / n_samples)
        return total.astype(np.float32)

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
    from ..validation import check_positive_int
    from ._common import chunks

    x = check_images(images)
    n, h, w = x.shape[:3]
    if targets is None:
        raise InputError("targets must be given (the classes explained on the randomised model too); pass the "
                         "original model's predicted classes, e.g. np.argmax(predict(images), axis=1), or the labels.")
    t = check_targets(targets, n, None)
    n_bins = check_positive_int("n_bins", n_bins)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    available = list(randomizer.layers())
    chosen = available if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise LayerError(f"cannot randomise layer(s) {unknown}: the layers with weights are, top first: "
                         f"{', '.join(available)}")
    if not chosen:
        raise LayerError("the model has no layer with weights to randomise.")
    seeds = [layer_seed(seed, available.index(name)) for name in chosen]

    def explain() -> np.ndarray:
        out = []
        for start, stop in chunks(n, batch_size):
            res = explain_fn(x[start:stop], t[start:stop])
            out.append(check_maps(getattr(res, "attributions", res), name="explain_fn output", n=stop - start,
                                  size=(h, w)))
        return np.concatenate(out)

    original = explain() if attributions is None else check_maps(attributions, n=n, size=(h, w))
    try:
        for name, layer_seed_k in zip(chosen, seeds):
            randomizer.randomize(name, layer_seed_k)
        randomised = explain()
    finally:
        randomizer.restore()
    before, after = discrete_entropy(original, n_bins), discrete_entropy(randomised, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(before > 0, (after - before) / np.where(before > 0, before, 1.0), np.nan)
    return MetricResult(values=values, targets=t, params={
        "n_bins": n_bins, "seed": seed, "layers": chosen, "layer_seeds": seeds, "batch_size": batch_size,
        "entropy_original": before.tolist(), "entropy_randomised": after.tolist()})
