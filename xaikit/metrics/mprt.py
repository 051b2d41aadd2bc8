"""Model-parameter randomisation test, MPRT (Adebayo et al., NeurIPS 2018): the cascading check.

The core is framework-free: the model is reached through a :class:`Randomizer` (which
re-initialises and restores layers) and the method through ``explain_fn``. The Keras
randomizer lives in the TensorFlow backend: ``xaikit_tensorflow.randomize.KerasRandomizer``.
Its smooth and efficient variants are in :mod:`.mprt_variants`; all of them, and the random
logit test, are imported from :mod:`.randomisation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, LayerError
from ..validation import check_bool, check_choice, check_images, check_seed, check_targets
from ._common import ExplainFn, check_maps
from .agreement import spearman, ssim

__all__ = ["RandomisationResult", "Randomizer", "cascading_randomisation", "chosen_layers", "layer_seed"]


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


def chosen_layers(randomizer: Randomizer, layers: Sequence[str] | str | None, seed: int, *,
                  distinct: bool = True) -> tuple[list[str], list[int]]:
    """The layers to randomise, checked, and their seeds (:func:`layer_seed` of their position).

    ``layers=None`` is every layer of ``randomizer.layers()``. A name the randomizer does not
    know, or none at all, raises :class:`~xaikit.LayerError`; ``distinct=True`` refuses a
    given list that names a layer twice (:func:`~.mprt_variants.efficient_mprt` allows it).
    """
    available = list(randomizer.layers())
    chosen = available if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise LayerError(f"cannot randomise layer(s) {unknown}: the layers with weights are, top first: "
                         f"{', '.join(available)}")
    if distinct and layers is not None and len(set(chosen)) != len(chosen):
        raise InputError(f"layers lists a layer twice: {chosen}")
    if not chosen:
        raise LayerError("the model has no layer with weights to randomise.")
    return chosen, [layer_seed(seed, available.index(name)) for name in chosen]


def _randomised_similarities(explain: Callable[[], np.ndarray], randomizer: Randomizer, chosen: list[str],
                              seeds: list[int], original: np.ndarray, *, independent: bool,
                              kept: np.ndarray | None) -> dict[str, np.ndarray]:
    """The steps of :func:`cascading_randomisation`: ``chosen`` randomised one after the other
    (each alone if ``independent``), the maps explained and compared with ``original`` after each.

    Returns ``spearman``, ``spearman_abs`` and ``ssim``, each ``(steps, N)``; fills ``kept``
    (``(steps, N, H, W)``) with the maps if given. The original weights are restored at the end,
    also on an error.
    """
    sims = {k: np.empty((len(chosen), len(original))) for k in ("spearman", "spearman_abs", "ssim")}
    try:
        for k, (name, layer_seed_k) in enumerate(zip(chosen, seeds)):
            randomizer.randomize(name, layer_seed_k)
            maps = explain()
            if independent:
                randomizer.restore()
            sims["spearman"][k] = spearman(original, maps)
            sims["spearman_abs"][k] = spearman(original, maps, absolute=True)
            sims["ssim"][k] = ssim(original, maps)
            if kept is not None:
                kept[k] = maps
    finally:
        randomizer.restore()
    return sims


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
    chosen, seeds = chosen_layers(randomizer, layers, seed)

    def explain() -> np.ndarray:
        out = explain_fn(x, t)
        out = getattr(out, "attributions", out)
        return check_maps(out, name="explain_fn output", n=n, size=(h, w))

    original = explain()
    kept = np.empty((len(chosen), n, h, w), dtype=np.float32) if keep_maps else None
    sims = _randomised_similarities(explain, randomizer, chosen, seeds, original, independent=mode == "independent",
                                    kept=kept)
    return RandomisationResult(layers=tuple(chosen), spearman=sims["spearman"], spearman_abs=sims["spearman_abs"],
                               ssim=sims["ssim"], original=original.astype(np.float32), maps=kept, targets=t,
                               params={"mode": mode, "seed": seed, "layer_seeds": seeds})
