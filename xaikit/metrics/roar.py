"""ROAR: remove and retrain (Hooker et al., "A Benchmark for Interpretability Methods in
Deep Neural Networks", NeurIPS 2019).

Deletion metrics score a model on images it never saw (holes filled with a constant), so a
drop in accuracy may come from the distribution shift rather than from the removed
information. ROAR removes the top-ranked pixels from *every* training and test image and
retrains the model from scratch: if a method ranks informative pixels first, the retrained
model's test accuracy falls faster than when the same fraction of pixels is removed at
random. The model is reached through a plain ``fit(images, labels, seed) -> predict``
callable, so the core stays framework-free (``xaikit_torch.zoo.roar`` trains the zoo's
PyTorch architectures).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_choice, check_images, check_nonnegative_float, check_positive_int, check_seed
from ._common import check_maps, chunks
from .deletion import pixel_ranks
from .road import noisy_linear_imputation

__all__ = ["REMOVALS", "RoarResult", "RoarSetup", "degrade", "imputation_stream_key", "prepare_roar",
           "remove_and_retrain", "retrained_accuracy"]

#: How the removed pixels are filled: the training set's per-channel mean (Hooker et al.) or
#: noisy linear imputation from their surroundings (Rong et al.'s ROAD, applied to ROAR).
REMOVALS = ("mean", "noisy_linear")

# Tags the imputation noise's streams apart from the random maps' (``default_rng([seed, i])``): NumPy
# ignores trailing zeros of a seed list, so an untagged ``[seed, 0, 0]`` would replay ``[seed, 0]``.
_IMPUTATION_TAG = 0x524F4144   # "ROAD"

Fit = Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], Any]]


def imputation_stream_key(noise_seed: int, split: str) -> tuple[int, int, int]:
    """The ``stream_key`` of :func:`degrade` for the ``"train"`` or ``"test"`` images of a ROAR run.

    Image ``i`` of the split draws its imputation noise from
    ``default_rng([noise_seed, tag, 1 or 2, i])``: independent of the batch size, different
    for training and test images, and apart from the random maps' streams.
    """
    return (int(noise_seed), _IMPUTATION_TAG, {"train": 1, "test": 2}[split])


def degrade(images: np.ndarray, maps: np.ndarray, fraction: float, fill: np.ndarray, *,
            removal: str = "mean", noise: float = 0.01, stream_key: Sequence[int] = (0, _IMPUTATION_TAG),
            batch_size: int = 256) -> np.ndarray:
    """A copy of ``images`` whose ``round(fraction * H * W)`` top-ranked pixels (all channels) are removed.

    ``removal="mean"`` sets them to ``fill``, one value per channel ``(C,)`` (Hooker et al.
    use the per-channel mean of the training set). ``removal="noisy_linear"`` fills them
    by :func:`~.road.noisy_linear_imputation` from the kept pixels around them, plus
    Gaussian noise of standard deviation ``noise`` (input units) drawn for image ``i``
    from ``np.random.default_rng([*stream_key, i])`` (:func:`imputation_stream_key`): the
    hole takes the colour of its surroundings, which *reduces* how much its outline tells
    a model about where the method pointed (Rong et al., ICML 2022) -- it does not remove
    it: a smooth region with faint white noise can still be told apart by a model trained
    on such images. ROAD (:func:`~.road.road`) counts ``floor(fraction * H * W)`` pixels,
    so at a fraction whose count is not whole the two remove one pixel apart. Ties are
    broken in row-major order (:func:`~.deletion.pixel_ranks`). The ranking is computed
    ``batch_size`` images at a time.
    """
    removal = check_choice("removal", removal, REMOVALS)
    noise = check_nonnegative_float("noise", noise)
    n, h, w, _ = images.shape
    k = round(float(fraction) * h * w)
    out = np.array(images, dtype=np.float32, copy=True)
    key = [int(part) for part in stream_key]
    for start, stop in chunks(n, batch_size):
        removed = (pixel_ranks(maps[start:stop]) < k).reshape(stop - start, h, w)
        if removal == "mean":
            block = out[start:stop]                      # a view: the assignment fills ``out``
            block[removed] = np.asarray(fill, np.float32).reshape(-1)   # (C,) broadcast over the removed pixels
            continue
        for j, i in enumerate(range(start, stop)):
            out[i] = noisy_linear_imputation(out[i], removed[j], noise=noise, rng=np.random.default_rng([*key, i]))
    return out


def retrained_accuracy(fit: Fit, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                       test_labels: np.ndarray, train_maps: np.ndarray | None, test_maps: np.ndarray | None,
                       fraction: float, seed: int, fill: np.ndarray, *, removal: str = "mean", noise: float = 0.01,
                       noise_seed: int = 0, batch_size: int = 256) -> float:
    """One ROAR cell: the test accuracy of a model trained from scratch (``fit(..., seed)``) on degraded images.

    The top ``fraction`` of every training and test image's pixels by its map are removed
    (:func:`degrade` with ``removal``: set to ``fill``, or imputed with noise of standard
    deviation ``noise`` drawn from the streams of :func:`imputation_stream_key`
    ``(noise_seed, "train")`` and ``(noise_seed, "test")``); ``train_maps=None`` (with
    ``fraction`` ignored) trains on the unmodified images (the accuracy without removal).
    Inputs are checked by the caller.
    """
    if train_maps is not None and test_maps is not None:
        train_images, test_images = _degraded_sets(train_images, test_images, train_maps, test_maps, fraction, fill,
                                                   removal, noise, noise_seed, batch_size)
    return _trained_accuracy(fit, train_images, train_labels, test_images, test_labels, seed, batch_size)


def _degraded_sets(train_images: np.ndarray, test_images: np.ndarray, train_maps: np.ndarray, test_maps: np.ndarray,
                   fraction: float, fill: np.ndarray, removal: str, noise: float, noise_seed: int,
                   batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and test images degraded at ``fraction`` (:func:`degrade`), each with its own noise streams."""
    return tuple(degrade(images, maps, fraction, fill, removal=removal, noise=noise,   # type: ignore[return-value]
                         stream_key=imputation_stream_key(noise_seed, split), batch_size=batch_size)
                 for images, maps, split in ((train_images, train_maps, "train"), (test_images, test_maps, "test")))


def _trained_accuracy(fit: Fit, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                      test_labels: np.ndarray, seed: int, batch_size: int) -> float:
    """Test accuracy of ``fit(train_images, train_labels, seed)``, scored ``batch_size`` images at a time."""
    predict = fit(train_images, train_labels, int(seed))
    hits = 0
    for a, b in chunks(len(test_images), batch_size):
        hits += int((np.argmax(np.asarray(predict(test_images[a:b])), axis=1) == test_labels[a:b]).sum())
    return hits / len(test_images)


@dataclass(frozen=True, eq=False)
class RoarResult:
    """Test accuracy after removing and retraining.

    Attributes
    ----------
    methods : tuple of str
        The maps compared (including ``"random"``).
    fractions : numpy.ndarray
        float64 ``(F,)`` removed fractions.
    seeds : tuple of int
        The training seeds.
    accuracy : numpy.ndarray
        float64 ``(M, F, S)``: test accuracy of the model retrained with seed ``s`` on the
        images degraded by method ``m`` at fraction ``f``.
    baseline : numpy.ndarray
        float64 ``(S,)``: test accuracy of the model trained on the unmodified images.
    seconds : float
        Wall time of the retrainings.
    """

    methods: tuple[str, ...]
    fractions: np.ndarray
    seeds: tuple[int, ...]
    accuracy: np.ndarray
    baseline: np.ndarray
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """A Markdown table: method x fraction, mean accuracy ± half the range over the seeds."""
        head = "| method | " + " | ".join(f"{f:.0%}" for f in self.fractions) + " |"
        lines = [head, "|---|" + "---:|" * len(self.fractions)]
        lines.append("| (no removal) | " + " | ".join(_cell(self.baseline) for _ in self.fractions) + " |")
        for m, name in enumerate(self.methods):
            lines.append(f"| {name} | " + " | ".join(_cell(self.accuracy[m, f]) for f in range(len(self.fractions)))
                         + " |")
        return "\n".join(lines)


def _cell(values: np.ndarray) -> str:
    v = np.asarray(values, np.float64)
    if v.size < 2:
        return f"{v.mean():.3f}"
    return f"{v.mean():.3f} ± {(v.max() - v.min()) / 2:.3f}"


@dataclass(frozen=True, eq=False)
class RoarSetup:
    """The checked inputs of a ROAR run (:func:`prepare_roar`)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    maps: dict[str, tuple[np.ndarray, np.ndarray]]   # method -> (train maps, test maps), "random" included
    fractions: np.ndarray
    seeds: tuple[int, ...]
    fill: np.ndarray                                  # (C,) per-channel mean of the training images
    random_seed: int                                  # of the random maps and of the imputation noise
    batch_size: int
    removal: str = "mean"                             # one of REMOVALS
    noise: float = 0.01                               # imputation noise (input units), with removal="noisy_linear"


def prepare_roar(train_images: Any, train_labels: Any, test_images: Any, test_labels: Any,
                 maps: Mapping[str, tuple[Any, Any]], *, fractions: Sequence[float], seeds: Sequence[int],
                 random_seed: int = 0, batch_size: int = 256, removal: str = "mean",
                 noise: float = 0.01) -> RoarSetup:
    """Images, labels, maps, fractions and seeds of :func:`remove_and_retrain` checked; the random maps and the
    fill added."""
    from .controls import random_maps

    x_train, x_test = check_images(train_images, name="train_images"), check_images(test_images, name="test_images")
    y_train, y_test = np.asarray(train_labels, np.int64), np.asarray(test_labels, np.int64)
    if y_train.shape != (len(x_train),) or y_test.shape != (len(x_test),):
        raise InputError("train_labels and test_labels must hold one integer label per image.")
    fr = np.asarray(fractions, np.float64).reshape(-1)
    if fr.size == 0 or not np.all((fr > 0) & (fr < 1)):
        raise InputError(f"fractions must be numbers in (0, 1); got {fractions!r}.")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise InputError("seeds must list at least one training seed.")
    batch_size = check_positive_int("batch_size", batch_size)
    removal = check_choice("removal", removal, REMOVALS)
    noise = check_nonnegative_float("noise", noise)
    random_seed = check_seed(random_seed)
    size = x_train.shape[1:3]
    checked = {name: (check_maps(a, name=f"{name} train maps", n=len(x_train), size=size),
                      check_maps(b, name=f"{name} test maps", n=len(x_test), size=size)) for name, (a, b) in
               maps.items()}
    if "random" not in checked:
        checked["random"] = (random_maps(x_train, random_seed), random_maps(x_test, random_seed + 1))
    fill = x_train.mean(axis=(0, 1, 2), dtype=np.float64).astype(np.float32)
    return RoarSetup(x_train, y_train, x_test, y_test, checked, fr, seeds, fill, int(random_seed), batch_size,
                     removal, float(noise))


def remove_and_retrain(fit: Fit, train_images: Any, train_labels: Any, test_images: Any, test_labels: Any,
                       maps: Mapping[str, tuple[Any, Any]], *, fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
                       seeds: Sequence[int] = (0, 1), random_seed: int = 0, batch_size: int = 256,
                       removal: str = "mean", noise: float = 0.01,
                       log: Callable[[str], None] | None = None) -> RoarResult:
    r"""Remove and retrain (Hooker et al., NeurIPS 2019).

    For every method, fraction :math:`t` and seed: the top :math:`t` of the pixels of
    every training and test image (ranked by the method's map of that image) are removed
    -- set to the per-channel mean of the training images (``removal="mean"``, the
    paper's choice) or filled from their surroundings by noisy linear imputation
    (``removal="noisy_linear"``, Rong et al. 2022) -- a model is trained from scratch on the
    degraded training set with ``fit(images, labels, seed)``, and its accuracy measured on
    the degraded test set. A ``"random"`` ranking (uniform noise maps, seeded by
    ``random_seed``) is added as the reference, and the accuracy without removal is
    measured once per seed. A method whose curve falls no faster than random's does not
    rank informative pixels first.

    Parameters
    ----------
    fit : callable
        ``fit(images (n, H, W, C) float32, labels (n,) int64, seed) -> predict`` where
        ``predict(images) -> (n, K)`` scores; it must train from scratch.
    train_images, train_labels, test_images, test_labels : array-like
        Channels-last images and integer labels.
    maps : mapping
        Method name -> ``(train_maps (n_train, H, W), test_maps (n_test, H, W))``; the
        ranking uses the values as given (pass ``np.abs`` for magnitudes).
    fractions : sequence of float
        Fractions removed, in (0, 1).
    seeds : sequence of int
        Training seeds (their spread is the interval of the table).
    random_seed : int
        Seed of the random maps and of the imputation noise.
    batch_size : int
        Images ranked and scored at a time.
    removal : {"mean", "noisy_linear"}
        How removed pixels are filled. With the mean, the outline of the removed region
        stays visible and can itself carry the class (a bright object's silhouette at 90 %
        removal): the retrained model then reads the *ranking*, not the image, and a
        method looks worse than random because it is informative (Rong et al. 2022).
        Imputation fills the hole with its surroundings' colour and so reduces what the
        outline gives away (it does not remove it: a retrained model can still learn to spot
        smooth, faintly noisy regions); it costs one sparse solve per image and fraction
        (scipy). The random baseline changes meaning with it: random pixels imputed from
        their neighbours are a mild blur plus noise, not scattered grey dots.
    noise : float
        Standard deviation of the imputation noise in input units (the paper's 0.01 on
        [0, 1] images); ignored with ``removal="mean"``. The noise is drawn once per image
        from ``random_seed`` (:func:`imputation_stream_key`), the same for every training
        seed, method and fraction: the table's range is over training seeds only.
    log : callable or None
        Called with one line per retraining.

    Returns
    -------
    RoarResult
    """
    setup = prepare_roar(train_images, train_labels, test_images, test_labels, maps, fractions=fractions,
                         seeds=seeds, random_seed=random_seed, batch_size=batch_size, removal=removal, noise=noise)
    x_train, y_train, x_test, y_test = setup.train_images, setup.train_labels, setup.test_images, setup.test_labels
    checked, fr, seeds, fill, batch_size = setup.maps, setup.fractions, setup.seeds, setup.fill, setup.batch_size
    say = log or (lambda s: None)

    import time

    start = time.perf_counter()
    baseline = np.array([_trained_accuracy(fit, x_train, y_train, x_test, y_test, s, batch_size) for s in seeds])
    say(f"no removal: accuracy {baseline.mean():.3f}")
    names = tuple(checked)
    acc = np.empty((len(names), fr.size, len(seeds)))
    for m, name in enumerate(names):
        for f, fraction in enumerate(fr):
            degraded_train, degraded_test = _degraded_sets(x_train, x_test, *checked[name], fraction, fill,
                                                           setup.removal, setup.noise, setup.random_seed, batch_size)
            for s, seed in enumerate(seeds):   # the images are degraded once for all seeds
                acc[m, f, s] = _trained_accuracy(fit, degraded_train, y_train, degraded_test, y_test, seed,
                                                 batch_size)
            say(f"{name} {fraction:.0%}: accuracy {acc[m, f].mean():.3f}")
    return RoarResult(methods=names, fractions=fr, seeds=seeds, accuracy=acc, baseline=baseline,
                      seconds=time.perf_counter() - start,
                      params={"fill": fill.tolist(), "random_seed": random_seed, "n_train": len(x_train),
                              "n_test": len(x_test), "removal": setup.removal, "noise": setup.noise})
