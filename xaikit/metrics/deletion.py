"""Deletion and insertion curves (Petsiuk et al., RISE, BMVC 2018).

Pixels are ranked by attribution, highest first. *Deletion* starts from the image and
replaces the top-ranked pixels with a substrate, step by step: a faithful map makes the
score fall fast (low AUC is good). *Insertion* starts from the substrate and puts the
top-ranked pixels back: a faithful map makes the score rise fast (high AUC is good).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_images, check_positive_int, check_targets
from ._common import (
    MetricResult,
    Predict,
    check_maps,
    check_score_label,
    chunks,
    describe_fill,
    fill_rows,
    predicted,
    resolve_fill,
    resolve_targets,
    take_columns,
    trapezoid,
)

__all__ = ["CausalCurve", "deletion", "insertion", "pixel_ranks"]


@dataclass(frozen=True, eq=False)
class CausalCurve(MetricResult):
    """A deletion or insertion result.

    Attributes
    ----------
    values : numpy.ndarray
        float64 ``(N,)``: the area under each image's curve (also :attr:`auc`).
    fractions : numpy.ndarray
        float64 ``(S,)``: the fraction of pixels removed (deletion) or inserted
        (insertion) at each curve point, from 0 to 1.
    curves : numpy.ndarray
        float64 ``(N, S)``: ``predict(x_s)[target]`` at each point.
    mode : str
        ``"deletion"`` or ``"insertion"``.
    """

    fractions: np.ndarray
    curves: np.ndarray
    mode: str

    @property
    def auc(self) -> np.ndarray:
        """Per-image area under the curve (same array as :attr:`values`)."""
        return self.values


def pixel_ranks(attributions: np.ndarray) -> np.ndarray:
    """Rank of every pixel, 0 for the highest attribution, as int64 ``(N, H*W)``.

    Ties are broken deterministically: among equal attributions the pixel that comes
    first in row-major order (top row first, left to right) ranks first.
    """
    attributions = np.asarray(attributions)
    flat = attributions.reshape(attributions.shape[0], int(np.prod(attributions.shape[1:])))
    order = np.argsort(-flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(flat.shape[1]), flat.shape), axis=1)
    return ranks


def deletion(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, steps: int = 51,
             substrate: Any = "zero", batch_size: int = 32, score: str = "output", blur_sigma: float = 5.0,
             blur_size: int = 11) -> CausalCurve:
    r"""Deletion curve and AUC (Petsiuk et al., "RISE: Randomized Input Sampling for
    Explanation of Black-box Models", BMVC 2018).

    With pixels ordered by decreasing attribution and :math:`x^{(k)}` the image whose
    :math:`k` top-ranked pixels (all channels) are replaced by the substrate,

    .. math:: \mathrm{AUC}_{del} = \int_0^1 f_t\big(x^{(\lfloor rHW \rceil)}\big)\,dr

    computed with the trapezoid rule over ``steps`` equally spaced fractions
    :math:`r \in [0, 1]`. Lower is better. The AUC is in the units of the score (no
    normalisation by :math:`f_t(x)`; divide by ``curves[:, 0]`` for that).

    Parameters
    ----------
    predict : callable
        ``predict(images (n, H, W, C) float32) -> (n, K)`` class scores. Never receives
        more than ``batch_size`` images at once.
    images : array-like
        ``(N, H, W, C)`` channels-last batch, as ``predict`` takes it.
    attributions : array-like
        ``(N, H, W)`` maps at input resolution. Ties are broken deterministically (see
        :func:`pixel_ranks`).
    targets : None, int or sequence of int
        Output column scored for each image; ``None``: the highest-scoring column of
        the unmodified image.
    steps : int
        Number of curve points (>= 2), including 0 and 100 % of the pixels.
    substrate : {"zero", "blur", "mean"}, float or array
        What removed pixels become. ``"zero"`` (RISE's deletion default), ``"blur"``
        (the image blurred with a ``blur_size`` Gaussian kernel of standard deviation
        ``blur_sigma``, as RISE does for insertion), ``"mean"`` (each image's
        per-channel mean), a constant, or an array ``(N, H, W, C)`` / ``(1, H, W, C)``.
    batch_size : int
        Largest number of images sent to ``predict`` at once; perturbed copies are
        built chunk by chunk, never for all steps at once.
    score : {"output", "probability", "logit"}
        What ``predict`` returns; only recorded in the result.
    blur_sigma, blur_size : float, int
        Gaussian blur of the ``"blur"`` substrate (RISE: 5 and 11).

    Returns
    -------
    CausalCurve
        ``.auc`` (N,), ``.curves`` (N, steps), ``.fractions`` (steps,).
    """
    return _causal_curve("deletion", predict, images, attributions, targets, steps=steps, substrate=substrate,
                         batch_size=batch_size, score=score, blur_sigma=blur_sigma, blur_size=blur_size)


def insertion(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, steps: int = 51,
              substrate: Any = "blur", batch_size: int = 32, score: str = "output", blur_sigma: float = 5.0,
              blur_size: int = 11) -> CausalCurve:
    r"""Insertion curve and AUC (Petsiuk et al., "RISE", BMVC 2018).

    Starts from the substrate and puts back the image's pixels in decreasing order of
    attribution; with :math:`\tilde x^{(k)}` the substrate showing the :math:`k`
    top-ranked pixels of the image,

    .. math:: \mathrm{AUC}_{ins} = \int_0^1 f_t\big(\tilde x^{(\lfloor rHW \rceil)}\big)\,dr

    by the trapezoid rule over ``steps`` equally spaced fractions. Higher is better.
    The default substrate is ``"blur"``, as in RISE. Parameters and result as in
    :func:`deletion`.
    """
    return _causal_curve("insertion", predict, images, attributions, targets, steps=steps, substrate=substrate,
                         batch_size=batch_size, score=score, blur_sigma=blur_sigma, blur_size=blur_size)


def _causal_curve(mode: str, predict: Predict, images: Any, attributions: Any, targets: Any, *, steps: int,
                  substrate: Any, batch_size: int, score: str, blur_sigma: float, blur_size: int) -> CausalCurve:
    x = check_images(images)
    n, h, w, _ = x.shape
    maps = check_maps(attributions, n=n, size=(h, w))
    steps = check_positive_int("steps", steps, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    score = check_score_label(score)
    fill = resolve_fill(substrate, x, name="substrate", blur_sigma=blur_sigma, blur_size=blur_size)
    if targets is None:
        t, _ = resolve_targets(predict, x, None, batch_size=batch_size)
    else:
        t = check_targets(targets, n, None)

    n_pixels = h * w
    counts = np.rint(np.linspace(0.0, n_pixels, steps)).astype(np.int64)
    curves = np.empty((n, steps), dtype=np.float64)
    flat_curves = curves.reshape(-1)
    first, ranks = 0, np.empty((0, n_pixels), dtype=np.int64)  # pixel ranks of the chunk's images only
    for start, stop in chunks(n * steps, batch_size):
        pairs = np.arange(start, stop)
        rows, cols = pairs // steps, pairs % steps
        if rows[0] < first or rows[-1] >= first + len(ranks):
            first, ranks = int(rows[0]), pixel_ranks(maps[rows[0]:rows[-1] + 1])
        changed = (ranks[rows - first] < counts[cols][:, None]).reshape(-1, h, w, 1)
        if mode == "deletion":
            batch = np.where(changed, fill_rows(fill, rows), x[rows])
        else:
            batch = np.where(changed, x[rows], fill_rows(fill, rows))
        out = predicted(predict, batch.astype(np.float32, copy=False), stop - start)
        flat_curves[start:stop] = take_columns(out, t[rows])

    fractions = counts / n_pixels
    params = {"mode": mode, "steps": steps, "substrate": describe_fill(substrate), "batch_size": batch_size,
              "score": score, "n_pixels": n_pixels}
    if isinstance(substrate, str) and substrate == "blur":
        params.update(blur_sigma=blur_sigma, blur_size=blur_size)
    return CausalCurve(values=trapezoid(curves, fractions), targets=t, params=params, fractions=fractions,
                       curves=curves, mode=mode)

