"""Helpers shared by the metrics: validation of maps and masks, scoring through a
``predict`` callable (and explaining through an ``explain_fn``) in bounded chunks, fills
(substrates / baselines), rankings.

Nothing here imports a deep-learning framework; OpenCV is imported where it is used.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..explainer import SCORES
from ..kernels import gaussian_blur
from ..validation import as_numpy, check_choice, check_images, check_positive_int, check_targets

__all__ = [
    "ExplainFn",
    "Predict",
    "MetricResult",
    "PerturbationSetup",
    "perturbation_setup",
    "FILLS",
    "check_maps",
    "check_masks",
    "check_same_shape",
    "check_score_label",
    "check_fraction",
    "check_outputs",
    "chunks",
    "describe_fill",
    "explained_maps",
    "fill_rows",
    "predict_scores",
    "predicted",
    "resolve_targets",
    "resolve_fill",
    "rankdata",
    "rowwise_pearson",
    "rowwise_spearman",
    "score_jobs",
    "stream",
    "take_columns",
    "trapezoid",
]

#: ``predict(images (n, H, W, C) float32) -> scores (n, K)``
Predict = Callable[[np.ndarray], Any]

#: ``explain_fn(images (n, H, W, C), targets (n,)) -> (n, H, W)`` maps (or anything with ``.attributions``)
ExplainFn = Callable[[np.ndarray, np.ndarray], Any]

#: Named fills accepted for a deletion/insertion substrate or a MuFidelity baseline.
FILLS = ("zero", "blur", "mean")


@dataclass(frozen=True, eq=False)
class MetricResult:
    """Per-image values of a metric that queries the model, with what produced them.

    Attributes
    ----------
    values : numpy.ndarray
        float64 ``(N,)``, one value per image (NaN where the metric is undefined for
        that image; the docstring of each metric says when).
    targets : numpy.ndarray
        int64 ``(N,)``: the output column scored for each image.
    params : dict
        The effective parameters (``score`` records whether ``predict`` returned
        probabilities, logits or raw outputs).
    """

    values: np.ndarray
    targets: np.ndarray
    params: dict[str, Any]

    def mean(self) -> float:
        """Mean over the images, ignoring NaN (undefined) entries; NaN if all are."""
        v = np.asarray(self.values, dtype=np.float64)
        return float(np.mean(v[~np.isnan(v)])) if np.any(~np.isnan(v)) else float("nan")

    def __len__(self) -> int:
        return int(np.asarray(self.values).shape[0])


# ---------------------------------------------------------------------- validation
def check_maps(maps: Any, *, name: str = "attributions", n: int | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Validate ``(N, H, W)`` maps and return them as float32 or float64 (never lower).

    ``n`` and ``size`` (``(H, W)``) are the batch size and image size they must match.
    """
    if hasattr(maps, "attributions") and hasattr(maps, "targets"):
        raise InputError(f"{name} must be an array of maps; got an {type(maps).__name__}. Pass "
                         f"explanation.attributions (and targets=explanation.targets to score the explained classes).")
    arr = as_numpy(maps)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputError(f"{name} must be a numeric array of shape (N, H, W); got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{name} has dtype {arr.dtype}; pass real-valued maps.")
    if arr.ndim != 3:
        hint = ""
        if arr.ndim == 4:
            hint = (" If these are per-channel maps (N, H, W, C), reduce the channel axis explicitly, "
                    "e.g. maps.sum(axis=-1) or np.abs(maps).max(axis=-1), as the method defines it.")
        elif arr.ndim == 2:
            hint = " If this is a single map (H, W), pass maps[None]."
        raise InputError(f"{name} must have 3 dimensions (N, H, W); got shape {arr.shape}.{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); pass at least one non-empty map.")
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} maps but there are {n} images; pass one map per image.")
    if size is not None and tuple(arr.shape[1:]) != tuple(size):
        raise InputError(
            f"{name} are {arr.shape[1]} x {arr.shape[2]} but the images are {size[0]} x {size[1]}. Metrics compare "
            f"maps pixel by pixel: use input-resolution maps (Explanation.attributions) or resize them explicitly "
            f"with xaikit.imaging.resize_maps(maps, {tuple(size)}).")
    # float32 maps stay float32 (a float64 copy of a large batch would double the memory);
    # the metrics accumulate sums in float64.
    out = arr.astype(np.result_type(arr.dtype, np.float32), copy=False)
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))
        raise InputError(f"{name} contains {len(bad)} NaN or Inf value(s) (first at index "
                         f"{tuple(int(i) for i in bad[0])}); fix the method's output or use np.nan_to_num.")
    return out


def check_masks(masks: Any, *, n: int, size: tuple[int, int], name: str = "masks") -> np.ndarray:
    """Validate boolean ground-truth masks of shape ``(N, H, W)``; no mask may be empty."""
    arr = as_numpy(masks)
    if arr.dtype != np.bool_:
        if np.issubdtype(arr.dtype, np.number) and arr.size and np.isin(arr, (0, 1)).all():
            raise InputError(f"{name} must be boolean; got {arr.dtype} with values 0/1. Pass {name}.astype(bool).")
        raise InputError(f"{name} must be a boolean array (True inside the object); got dtype {arr.dtype}. "
                         f"Threshold explicitly, e.g. {name} > 0.5.")
    if arr.shape != (n, *size):
        raise InputError(f"{name} must have shape {(n, *size)} (one (H, W) mask per map); got {arr.shape}.")
    empty = ~arr.reshape(n, -1).any(axis=1)
    if empty.any():
        idx = np.flatnonzero(empty).tolist()
        raise InputError(f"{name} {idx[:10]}{'...' if len(idx) > 10 else ''} are empty (no True pixel): the "
                         f"localisation scores are undefined there. Drop those images (e.g. the class is absent).")
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("maps_a", "maps_b")) -> None:
    """Raise if two validated map batches differ in shape."""
    if a.shape != b.shape:
        raise InputError(f"{names[0]} and {names[1]} must have the same shape (N, H, W); got {a.shape} and "
                         f"{b.shape}. Compare maps of the same images at the same resolution.")


def check_score_label(score: Any) -> str:
    """The label of what ``predict`` returns (recorded in results, never used to transform); ``"function"``: a
    score function's column (:func:`xaikit.metrics.target_predict`)."""
    return check_choice("score", score, (*SCORES, "function"))


def check_fraction(name: str, value: Any, *, allow_one: bool = True) -> float:
    """A fraction in ``(0, 1]`` (``(0, 1)`` if ``allow_one`` is False)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number in (0, 1]; got {value!r}.")
    value = float(value)
    upper_ok = value <= 1 if allow_one else value < 1
    if not (np.isfinite(value) and value > 0 and upper_ok):
        hint = f" It is a fraction: for {value:g}% pass {value / 100:g}." if 1 < value <= 100 else ""
        interval = "(0, 1]" if allow_one else "(0, 1)"
        raise InputError(f"{name} must be in {interval}; got {value}.{hint}")
    return value


# ---------------------------------------------------------------------- model calls
def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` pairs covering ``range(total)`` in pieces of at most ``size``."""
    for start in range(0, total, size):
        yield start, min(start + size, total)


def explained_maps(explain_fn: ExplainFn, images: np.ndarray, targets: np.ndarray, batch_size: int,
                   size: tuple[int, int]) -> np.ndarray:
    """``explain_fn``'s checked ``(n, H, W)`` maps of ``images`` for ``targets``, at most ``batch_size`` at a time.

    A result with an ``attributions`` attribute (an :class:`~xaikit.Explanation`) gives those;
    ``size`` is the ``(H, W)`` the maps must have.
    """
    out = []
    for start, stop in chunks(len(images), batch_size):
        res = explain_fn(images[start:stop], targets[start:stop])
        out.append(check_maps(getattr(res, "attributions", res), name="explain_fn output", n=stop - start, size=size))
    return np.concatenate(out)


def predict_scores(predict: Predict, images: np.ndarray, columns: np.ndarray | None = None,
                   *, batch_size: int) -> np.ndarray:
    """Call ``predict`` on at most ``batch_size`` images at a time.

    Returns the float64 ``(n, K)`` outputs when ``columns`` is None, else the ``(n,)``
    scores ``out[i, columns[i]]``.
    """
    n = len(images)
    outs: list[np.ndarray] = []
    for start, stop in chunks(n, batch_size):
        out = predicted(predict, images[start:stop], stop - start)
        if columns is not None:
            out = take_columns(out, columns[start:stop])
        outs.append(out)
    return np.concatenate(outs, axis=0)


def score_jobs(predict: Predict, n_jobs: int, build: Callable[[np.ndarray], np.ndarray], columns: np.ndarray,
               *, batch_size: int) -> np.ndarray:
    """Score ``n_jobs`` perturbed images, building and sending at most ``batch_size`` at a time.

    ``build(jobs)`` returns the ``(len(jobs), H, W, C)`` images of the given job indices;
    ``columns[j]`` is the output column scored for job ``j``. Returns float64 ``(n_jobs,)``.
    Only one chunk of perturbed images exists at any time, so the memory is bounded by
    ``batch_size`` whatever the number of jobs.
    """
    out = np.empty(n_jobs, dtype=np.float64)
    for start, stop in chunks(n_jobs, batch_size):
        jobs = np.arange(start, stop)
        batch = np.asarray(build(jobs)).astype(np.float32, copy=False)
        out[start:stop] = take_columns(predicted(predict, batch, stop - start), columns[jobs])
    return out


def stream(seed: int, *key: int) -> np.random.Generator:
    """The random stream of one draw of a metric: ``np.random.default_rng([seed, *key])``.

    Metrics key their draws by (seed, image index, sample index), so a value does not
    depend on ``batch_size`` nor on which other images are in the batch, and a draw can be
    replayed exactly (the parity tests replay them in Quantus and Captum).
    """
    return np.random.default_rng([seed, *key])


def predicted(predict: Predict, batch: np.ndarray, n: int) -> np.ndarray:
    """``check_outputs(predict(batch), n)`` with ``predict`` given a private copy of ``batch``.

    A function writing into its input (``images -= 0.5``) then changes neither the
    caller's images (a batch may be a view of them) nor the rows a metric perturbs
    further (pixel flipping's cumulative copies), so the scores do not depend on it.
    """
    return check_outputs(predict(np.array(batch, copy=True)), n)


def check_outputs(out: Any, n: int) -> np.ndarray:
    """Validate what ``predict`` returned for ``n`` images: finite ``(n, K)``."""
    arr = as_numpy(out)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise InputError(f"predict must return an array of shape (n, K) for n images; it returned shape {arr.shape} "
                         f"for {n} image(s). Wrap the model so it returns one row of class scores per image.")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"predict returned dtype {arr.dtype}; it must return numeric class scores.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError("predict returned NaN or Inf scores; check the model and the perturbed inputs' range.")
    return arr


def take_columns(out: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``out[i, columns[i]]`` with a clear error for a column the model does not have."""
    k = out.shape[1]
    if columns.size and (columns.max() >= k or columns.min() < 0):
        bad = int(columns[(columns >= k) | (columns < 0)][0])
        extra = (" A single-sigmoid model has one column (index 0 = probability of class 1); wrap predict to "
                 "return [1 - p, p] to score class 0." if k == 1 else "")
        raise InputError(f"target {bad} is out of range: predict returns {k} column(s), valid targets are "
                         f"0..{k - 1}.{extra}")
    return out[np.arange(len(out)), columns]


def resolve_targets(predict: Predict, images: np.ndarray, targets: Any, *, batch_size: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Targets as int64 ``(N,)`` and the scores ``predict(images)[i, target_i]``.

    ``targets=None`` means the column with the highest score for each image.
    """
    outputs = predict_scores(predict, images, batch_size=batch_size)
    if targets is None:
        t = np.argmax(outputs, axis=1).astype(np.int64)
    else:
        t = check_targets(targets, len(images), outputs.shape[1])
    return t, outputs[np.arange(len(images)), t]


# ---------------------------------------------------------------------- fills
def resolve_fill(fill: Any, images: np.ndarray, *, name: str, blur_sigma: float = 5.0,
                 blur_size: int = 11) -> np.ndarray:
    """The replacement values for "removed" pixels, broadcastable to ``images``.

    Parameters
    ----------
    fill
        ``"zero"``; ``"mean"`` (each image's per-channel mean); ``"blur"`` (each image
        blurred with a ``blur_size`` x ``blur_size`` Gaussian kernel of standard deviation
        ``blur_sigma``, OpenCV's reflect-101 border); a number (a constant); or an array
        of shape ``(N, H, W, C)`` or ``(1, H, W, C)`` (the same for every image).
    """
    n, h, w, c = images.shape
    if isinstance(fill, str):
        check_choice(name, fill, FILLS)
        if fill == "zero":
            return np.zeros((1, 1, 1, 1), dtype=np.float32)
        if fill == "mean":
            return images.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
        if blur_size < 1 or blur_size % 2 == 0:
            raise InputError(f"blur_size must be an odd integer >= 1; got {blur_size}.")
        if not blur_sigma > 0:
            raise InputError(f"blur_sigma must be > 0; got {blur_sigma}.")
        return gaussian_blur(images, blur_sigma, blur_size).astype(images.dtype, copy=False)
    if isinstance(fill, numbers.Real) and not isinstance(fill, (bool, np.bool_)):
        if not np.isfinite(fill):
            raise InputError(f"{name} must be finite; got {fill}.")
        return np.full((1, 1, 1, 1), float(fill), dtype=np.float32)
    arr = as_numpy(fill)
    if arr.ndim != 4 or arr.shape[1:] != (h, w, c) or arr.shape[0] not in (1, n):
        raise InputError(f"{name} must be one of {FILLS}, a number, or an array of shape {(n, h, w, c)} (one per "
                         f"image) or {(1, h, w, c)} (shared); got {type(fill).__name__} of shape "
                         f"{getattr(arr, 'shape', None)}.")
    return check_images(arr, name=name)


def describe_fill(fill: Any) -> Any:
    """A JSON-friendly description of a fill for the result's params."""
    if isinstance(fill, str):
        return fill
    if isinstance(fill, numbers.Real) and not isinstance(fill, (bool, np.bool_)):
        return float(fill)
    return f"array{tuple(np.shape(fill))}"


def fill_rows(fill: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The fill for the given image indices (a shared fill is broadcast, not copied)."""
    return fill if fill.shape[0] == 1 else fill[rows]


# ---------------------------------------------------------------------- statistics
def rankdata(x: np.ndarray) -> np.ndarray:
    """Row-wise ranks 1..n with ties given their average rank (scipy's ``method="average"``).

    ``x`` is ``(B, n)``; returns float64 ``(B, n)``.
    """
    x = np.asarray(x)
    b, n = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (b, n))
    starts = np.ones((b, n), dtype=bool)
    starts[:, 1:] = xs[:, 1:] != xs[:, :-1]
    ends = np.ones((b, n), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((b, n), dtype=np.float64)
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    return ranks


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``.

    NaN for a row where either side is constant (the correlation is undefined).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    da = a - a.mean(axis=1, keepdims=True)
    db = b - b.mean(axis=1, keepdims=True)
    na = np.sqrt(np.einsum("ij,ij->i", da, da))
    nb = np.sqrt(np.einsum("ij,ij->i", db, db))
    num = np.einsum("ij,ij->i", da, db)
    # relative threshold: a row that is constant up to float rounding counts as constant
    scale_a = np.abs(a).max(axis=1) * np.sqrt(a.shape[1])
    scale_b = np.abs(b).max(axis=1) * np.sqrt(b.shape[1])
    ok = (na > 1e-12 * np.maximum(scale_a, 1e-300)) & (nb > 1e-12 * np.maximum(scale_b, 1e-300))
    out = np.full(a.shape[0], np.nan)
    out[ok] = np.clip(num[ok] / (na[ok] * nb[ok]), -1.0, 1.0)
    return out


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b`` (average ranks for ties)."""
    return rowwise_pearson(rankdata(np.asarray(a, np.float64)), rankdata(np.asarray(b, np.float64)))


def trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid-rule integral of each row of ``y`` over the abscissae ``x``."""
    y = np.asarray(y, dtype=np.float64)
    dx = np.diff(np.asarray(x, dtype=np.float64))
    return ((y[..., 1:] + y[..., :-1]) * 0.5 * dx).sum(axis=-1)


@dataclass(frozen=True)
class PerturbationSetup:
    """The checked inputs of a metric that replaces pixels by a baseline and watches the score
    (:func:`perturbation_setup`)."""

    x: np.ndarray            # (N, H, W, C) float32
    maps: np.ndarray         # (N, H, W)
    flat: np.ndarray         # (N, H*W) float64
    targets: np.ndarray      # (N,) int64
    base: np.ndarray         # (N,) float64: predict(x)[i, target_i]
    fill: np.ndarray         # broadcastable to x
    batch_size: int
    score: str


def perturbation_setup(predict: Predict, images: Any, attributions: Any, targets: Any, *, baseline: Any,
                       batch_size: int, score: str) -> PerturbationSetup:
    """Images, maps, batch size, score label and baseline checked; targets and their scores on the images."""
    x = check_images(images)
    n, h, w, _ = x.shape
    maps = check_maps(attributions, n=n, size=(h, w))
    batch_size = check_positive_int("batch_size", batch_size)
    score = check_score_label(score)
    fill = resolve_fill(baseline, x, name="baseline")
    t, base = resolve_targets(predict, x, targets, batch_size=batch_size)
    return PerturbationSetup(x, maps, maps.reshape(n, h * w).astype(np.float64), t, base, fill, batch_size, score)
