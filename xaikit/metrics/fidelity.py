"""MuFidelity (Bhatt et al., IJCAI 2020): do attributions predict the effect of
removing features?"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_images, check_pair, check_positive_int, check_seed
from ._common import (
    MetricResult,
    Predict,
    check_fraction,
    check_maps,
    check_score_label,
    chunks,
    describe_fill,
    fill_rows,
    predicted,
    resolve_fill,
    resolve_targets,
    rowwise_pearson,
    take_columns,
)

__all__ = ["mu_fidelity", "grid_cells"]


def grid_cells(size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Index of the grid cell of every pixel, int64 ``(H, W)``.

    Pixel ``(y, x)`` of an ``H x W`` image belongs to cell
    ``(y * gh // H) * gw + (x * gw // W)`` of a ``gh x gw`` grid: the cells tile the
    image exactly, also when ``H`` or ``W`` is not a multiple of the grid (nearest
    neighbour upsampling of the coarse mask, with the sizes in the NumPy order).
    """
    (h, w), (gh, gw) = size, grid
    rows = (np.arange(h) * gh) // h
    cols = (np.arange(w) * gw) // w
    return rows[:, None] * gw + cols[None, :]


def mu_fidelity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                grid_size: int | tuple[int, int] | None = 9, subset_percent: float = 0.2, n_samples: int = 200,
                baseline: Any = 0.0, batch_size: int = 32, seed: int | None = None,
                score: str = "output") -> MetricResult:
    r"""MuFidelity of attribution maps (Bhatt et al., "Evaluating and Aggregating
    Feature-based Model Explanations", IJCAI 2020, definition 3).

    For random subsets :math:`S` of features of fixed size,

    .. math:: \mu F(f, g, x) = \operatorname{corr}_{S}\Big(\sum_{i \in S} g(f, x)_i,\;
              f_t(x) - f_t\big(x_{[x_S = \bar x_S]}\big)\Big)

    where ``corr`` is the Pearson correlation over ``n_samples`` subsets and
    :math:`\bar x` the baseline. 1 means the attributions of any subset predict
    exactly (up to an affine map) how much removing it lowers the score; -1 the
    opposite. As in Xplique, subsets are drawn on a coarse ``grid_size`` grid of
    super-pixels (all channels of a cell are removed together).

    Parameters
    ----------
    predict : callable
        ``predict(images (n, H, W, C) float32) -> (n, K)``; never receives more than
        ``batch_size`` images at once.
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    attributions : array-like
        ``(N, H, W)`` maps at input resolution.
    targets : None, int or sequence of int
        Output column per image; ``None``: the highest-scoring column.
    grid_size : int, (int, int) or None
        Number of cells per side (or ``(rows, columns)``); ``None`` draws subsets of
        single pixels (the paper's original form, noisy on large images).
    subset_percent : float
        Fraction of the cells in each subset, in (0, 1): every subset has exactly
        ``round(subset_percent * cells)`` cells (at least 1, at most cells - 1).
    n_samples : int
        Number of subsets (>= 2). The same subsets are used for every image.
    baseline : float, {"zero", "mean", "blur"} or array
        Value given to the removed features (Xplique's default: 0). See
        :func:`xaikit.metrics.deletion` for the named fills and array shapes.
    batch_size : int
        Largest number of images sent to ``predict`` at once.
    seed : int or None
        Seed of ``np.random.default_rng`` that draws the subsets; ``None`` draws one
        (recorded in ``params["seed"]``). The result does not depend on ``batch_size``.
    score : {"output", "probability", "logit"}
        What ``predict`` returns; only recorded in the result.

    Returns
    -------
    MetricResult
        ``values``: float64 ``(N,)`` correlations in [-1, 1]; NaN for an image whose
        score does not change under any subset (or whose subset sums are all equal),
        where the correlation is undefined.
    """
    x = check_images(images)
    n, h, w, _ = x.shape
    maps = check_maps(attributions, n=n, size=(h, w))
    grid = (h, w) if grid_size is None else check_pair("grid_size", grid_size)
    if grid[0] > h or grid[1] > w:
        raise InputError(f"grid_size {grid} is finer than the {h} x {w} images; use at most ({h}, {w}) cells, or "
                         f"grid_size=None for pixel-wise subsets.")
    subset_percent = check_fraction("subset_percent", subset_percent, allow_one=False)
    n_samples = check_positive_int("n_samples", n_samples, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    score = check_score_label(score)
    fill = resolve_fill(baseline, x, name="baseline")

    n_cells = grid[0] * grid[1]
    if n_cells < 2:
        raise InputError("grid_size must give at least 2 cells (a 1 x 1 grid has a single possible subset).")
    subset_size = int(np.clip(np.rint(subset_percent * n_cells), 1, n_cells - 1))
    rng = np.random.default_rng(seed)
    chosen = np.argsort(rng.random((n_samples, n_cells)), axis=1)[:, :subset_size]
    subsets = np.zeros((n_samples, n_cells), dtype=bool)
    np.put_along_axis(subsets, chosen, True, axis=1)

    cells = grid_cells((h, w), grid)
    cell_sums = np.stack([np.bincount(cells.ravel(), weights=m.ravel(), minlength=n_cells) for m in maps])
    attribution_sums = cell_sums @ subsets.T.astype(np.float64)  # (N, n_samples)

    t, base = resolve_targets(predict, x, targets, batch_size=batch_size)
    perturbed = np.empty((n, n_samples), dtype=np.float64)
    flat = perturbed.reshape(-1)
    for start, stop in chunks(n * n_samples, batch_size):
        pairs = np.arange(start, stop)
        rows, samples = pairs // n_samples, pairs % n_samples
        removed = subsets[samples][:, cells][..., None]  # (b, H, W, 1)
        batch = np.where(removed, fill_rows(fill, rows), x[rows]).astype(np.float32, copy=False)
        flat[start:stop] = take_columns(predicted(predict, batch, stop - start), t[rows])

    drops = base[:, None] - perturbed
    values = rowwise_pearson(attribution_sums, drops)
    params = {"grid_size": None if grid_size is None else list(grid), "subset_percent": subset_percent,
              "subset_size": subset_size, "n_samples": n_samples,
              "baseline": describe_fill(baseline), "batch_size": batch_size, "seed": seed, "score": score}
    return MetricResult(values=values, targets=t, params=params)
