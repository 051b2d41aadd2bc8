"""ROAD: remove and debias (Rong et al., "A Consistent and Efficient Evaluation Strategy
for Attribution Methods", ICML 2022).

Deletion with a hole filled by *noisy linear imputation* instead of a constant: each
removed pixel becomes the weighted mean of its 8 neighbours (solved jointly for all
removed pixels, a sparse linear system), plus a little Gaussian noise. The filled image
stays closer to the data distribution, and the shape of the hole leaks less of the
ranking to the model than a black patch does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..validation import check_choice, check_images, check_nonnegative_float, check_positive_int, check_seed
from ._common import (
    MetricResult,
    Predict,
    check_maps,
    check_score_label,
    chunks,
    predicted,
    resolve_targets,
    stream,
)
from .deletion import pixel_ranks

__all__ = ["RoadResult", "noisy_linear_imputation", "road"]

# (row offset, column offset) -> weight: direct neighbours 1/6, diagonal ones 1/12 (Rong et al.)
_NEIGHBOURS = ((1, 1, 1 / 12), (0, 1, 1 / 6), (-1, 1, 1 / 12), (1, -1, 1 / 12), (0, -1, 1 / 6),
               (-1, -1, 1 / 12), (1, 0, 1 / 6), (-1, 0, 1 / 6))


@dataclass(frozen=True, eq=False)
class RoadResult(MetricResult):
    """A ROAD result.

    Attributes
    ----------
    values : numpy.ndarray
        float64 ``(N,)``: the mean of each image's score curve over the fractions.
    fractions : numpy.ndarray
        float64 ``(P,)``: the fraction of pixels removed at each point.
    curves : numpy.ndarray
        float64 ``(N, P)``: ``predict(x_p)[target]``.
    correct : numpy.ndarray
        float64 ``(N, P)``: 1.0 where the imputed image is still classified as the
        target (the paper's accuracy curve is its mean over images).
    """

    fractions: np.ndarray
    curves: np.ndarray
    correct: np.ndarray


def noisy_linear_imputation(image: np.ndarray, removed: np.ndarray, *, noise: float = 0.01,
                            rng: np.random.Generator | None = None) -> np.ndarray:
    r"""Fill the ``removed`` pixels of one image by noisy linear imputation (Rong et al. 2022).

    Every removed pixel :math:`p` takes the value :math:`v_p` solving

    .. math:: v_p = \frac{\sum_{q \in N(p)} w_{pq}\, u_q}{\sum_{q \in N(p)} w_{pq}}, \qquad
              u_q = v_q \text{ if } q \text{ is removed, else } x_q

    over its neighbours inside the image (weight 1/6 for the 4 direct, 1/12 for the 4
    diagonal ones), jointly for all removed pixels and separately per channel, then
    :math:`v_p + \text{noise}\cdot\epsilon`, :math:`\epsilon \sim \mathcal N(0, 1)`.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, C)``.
    removed : numpy.ndarray
        Boolean ``(H, W)``.
    noise : float
        Standard deviation of the added noise (0: none; the paper uses 0.01 on [0, 1] inputs).
    rng : numpy.random.Generator or None
        Source of the noise (needed when ``noise > 0``).

    Returns
    -------
    numpy.ndarray
        A float64 copy of ``image`` with the removed pixels filled.
    """
    try:
        from scipy.sparse import csc_matrix
        from scipy.sparse.linalg import spsolve
    except ImportError as exc:
        raise MissingDependencyError("ROAD's noisy linear imputation solves a sparse linear system with scipy: "
                                     "pip install scipy (or 'xaikit[bench]').") from exc

    h, w, c = image.shape
    flat = image.reshape(h * w, c).astype(np.float64)
    idx = np.flatnonzero(removed.reshape(-1))
    out = flat.copy()
    if idx.size == 0:
        return out.reshape(h, w, c)
    var = np.full(h * w, -1, dtype=np.int64)
    var[idx] = np.arange(idx.size)
    entries_r, entries_c, entries_w = [], [], []
    b = np.zeros((idx.size, c))
    total = np.zeros(idx.size)
    ys, xs = np.divmod(idx, w)
    for dy, dx, weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        rows = np.flatnonzero(inside)
        q = ny[inside] * w + nx[inside]
        total[rows] += weight
        known = var[q] < 0
        b[rows[known]] += weight * flat[q[known]]
        entries_r.append(rows[~known])
        entries_c.append(var[q[~known]])
        entries_w.append(np.full(int((~known).sum()), -weight))
    diagonal = np.arange(idx.size)
    a = csc_matrix((np.concatenate([*entries_w, total]), (np.concatenate([*entries_r, diagonal]),
                                                          np.concatenate([*entries_c, diagonal]))),
                   shape=(idx.size, idx.size))
    solved = spsolve(a, b)
    solved = np.asarray(solved, dtype=np.float64).reshape(idx.size, c)
    if noise > 0:
        if rng is None:
            raise InputError("noisy_linear_imputation needs an rng when noise > 0.")
        solved = solved + noise * rng.standard_normal(solved.shape)
    out[idx] = solved
    return out.reshape(h, w, c)


def road(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
         fractions: Any = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), order: str = "morf", noise: float = 0.01,
         batch_size: int = 32, seed: int | None = None, score: str = "output") -> RoadResult:
    r"""ROAD, remove and debias (Rong et al., ICML 2022).

    For each fraction :math:`r`, the :math:`\lfloor r HW \rfloor` pixels of highest
    (``"morf"``) or lowest (``"lerf"``) attribution are filled by
    :func:`noisy_linear_imputation` and the image scored. The value is the mean score
    over the fractions,

    .. math:: \mathrm{ROAD} = \frac{1}{P}\sum_{r} f_t\big(\tilde x^{(r)}\big)

    MoRF: lower is better; LeRF: higher is better. ``correct`` holds whether the target
    is still the top class (the paper's accuracy curves).

    Quantus: ``quantus.ROAD(percentages=[100 * r for r in fractions], noise=noise)``
    returns ``correct`` (MoRF only); its noise comes from NumPy's global generator, here
    image ``i`` at fraction index ``k`` draws from ``stream(seed, i, k)``. Quantus indexes
    pixels of one-channel maps; on multi-channel images it treats the first ``H*W``
    values of the flattened channel-first image as the pixels, which differs.

    Parameters
    ----------
    fractions : sequence of float
        Fractions of pixels removed, each in (0, 1).
    order : {"morf", "lerf"}
        Most relevant first or least relevant first.
    noise : float
        Standard deviation of the imputation noise, in input units (>= 0).
    Other parameters as in :func:`xaikit.metrics.faithfulness_correlation`.

    Returns
    -------
    RoadResult
    """
    x = check_images(images)
    n, h, w, _ = x.shape
    maps = check_maps(attributions, n=n, size=(h, w))
    batch_size = check_positive_int("batch_size", batch_size)
    score = check_score_label(score)
    order = check_choice("order", order, ("morf", "lerf"))
    seed = check_seed(seed)
    fr = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if fr.size == 0 or not np.all((fr > 0) & (fr < 1)):
        raise InputError(f"fractions must be a non-empty sequence of numbers in (0, 1); got {fractions!r}.")
    noise = check_nonnegative_float("noise", noise)
    t, _ = resolve_targets(predict, x, targets, batch_size=batch_size)
    counts = np.floor(np.round(fr * h * w, 9)).astype(np.int64)
    ranks = pixel_ranks(maps if order == "morf" else -maps)
    p = fr.size
    curves = np.empty(n * p)
    correct = np.empty(n * p)
    for start, stop in chunks(n * p, batch_size):
        batch = np.empty((stop - start, h, w, x.shape[3]), dtype=np.float32)
        for b, job in enumerate(range(start, stop)):
            i, k = divmod(job, p)
            removed = (ranks[i] < counts[k]).reshape(h, w)
            batch[b] = noisy_linear_imputation(x[i], removed, noise=float(noise), rng=stream(seed, i, k))
        out = predicted(predict, batch, stop - start)
        rows = np.arange(start, stop) // p
        curves[start:stop] = out[np.arange(stop - start), t[rows]]
        correct[start:stop] = (np.argmax(out, axis=1) == t[rows]).astype(np.float64)
    curves2 = curves.reshape(n, p)
    params = {"fractions": fr.tolist(), "order": order, "noise": float(noise), "seed": seed,
              "batch_size": batch_size, "score": score}
    return RoadResult(values=curves2.mean(axis=1), targets=t, params=params, fractions=fr, curves=curves2,
                      correct=correct.reshape(n, p))
