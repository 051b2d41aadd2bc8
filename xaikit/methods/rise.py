"""RISE: the target score averaged over random smooth masks, written once on the engine's masked scores."""

from __future__ import annotations

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, Param, shared
from ..catalogue.parts import SCORES, sample_forwards_floor
from ..explainer import Attribution
from ..kernels import ImageStreams, rise_cells, rise_masks, row_plan, segments
from .base import EngineExplainer, row_groups, stream_masked_scores, uniform_rows

__all__ = ["RISE"]


class RISE(EngineExplainer, schema=MethodSchema(
        "rise", "RISE",
        "Mean of the target score over random smooth masks, each pixel weighted by how much the masks keep it.",
        "Petsiuk, Das & Saenko, 'RISE: Randomized Input Sampling for Explanation of Black-box Models', BMVC 2018.",
        signed=True, cost="1 + n_samples forward passes",
        params=(*shared("n_samples", "grid_size", n_samples=4000),
                Param("p_keep", "float", 0.5, "Probability that a cell of the coarse grid is kept (not masked).",
                      low=0.0, high=1.0, low_open=True),
                *shared("baseline", "seed")),
        needs=SCORES, floor_fn=sample_forwards_floor(lambda p: p["n_samples"], "masked images"),
        warmup={"n_samples": 2},
        formula="A(p) = sum_j S_t(x * M_j + b * (1 - M_j)) M_j(p) / sum_j M_j(p)",
        example_params={"n_samples": 24, "grid_size": 3, "seed": 3},
        docs=DocsEntry("RISE", "mean score over random smooth masks, per pixel",
                       "1 + `n_samples` forward", "Petsiuk et al. 2018"))):
    """RISE: the mean target score over random masks, each pixel weighted by how much the masks keep it.

    Each mask is a ``grid_size x grid_size`` grid of cells kept with probability
    ``p_keep``, upsampled bilinearly to ``(grid_size + 1)`` cells of
    ``ceil(H / grid_size) x ceil(W / grid_size)`` pixels and cropped at a random shift of
    less than a cell (as the authors' code builds them; it resizes with scikit-image's
    ``mode="reflect"``, which differs from the clamped edges here on the outermost
    pixels only). The masked image is :math:`x \\odot M + b \\odot (1 - M)` (``baseline``
    ``b``, 0 in the paper) and

    .. math::

        A(p) = \\frac{\\sum_j S_t(x \\odot M_j + b (1 - M_j))\\, M_j(p)}{\\sum_j M_j(p)}

    as Xplique's ``Rise`` computes it (the paper divides by ``n_samples * p_keep``
    instead, the expectation of the denominator: the two agree as ``n_samples`` grows,
    and this one is exact for a constant score). The paper explains the class
    probability; the default score here is the logit when the output activation is known
    (``score="probability"`` for the paper's). Masks are drawn from per-image streams
    (``seed`` and the image's content) and streamed ``batch_size`` at a time, so the
    result depends neither on the batch nor on ``batch_size``.

    Parameters
    ----------
    model
    n_samples : int, default 4000
        Masks per image (the paper uses 4000 to 8000 on ImageNet models).
    grid_size : int, default 7
    p_keep : float, default 0.5
    baseline : float, array (C,) or image, default 0.0
        What masked pixels become, in the model's input space.
    seed : int or None
    batch_size : int, default 32
        Masked images per model call.
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", BMVC 2018.
    """

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        size = ctx.image_size
        n, n_samples, g, p_keep = len(images), params["n_samples"], params["grid_size"], params["p_keep"]
        cells = np.array(rise_cells(size, (g, g)))
        streams = ImageStreams(params["seed"], images, "masks", ctx.layout)
        weighted = np.zeros((n, *size), np.float64)  # sum_j S_j M_j per image
        coverage = np.zeros((n, *size), np.float64)  # sum_j M_j per image

        def prepare(rows: slice) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
            index, _ = row_plan(rows, n_samples)
            used, seg = segments(index)
            draws = uniform_rows(streams, used, seg, g * g + 2)  # the grid, then the shift, per mask
            grids = (draws[:, :g * g] < p_keep).reshape(-1, g, g)
            shifts = np.minimum((draws[:, g * g:] * cells).astype(np.int64), cells - 1)
            masks = rise_masks(grids, shifts, size)
            return index, masks, (used, seg, masks)

        def consume(rows: slice, index: np.ndarray, state: tuple[np.ndarray, ...], scores: np.ndarray) -> None:
            used, seg, masks = state
            starts = row_groups(seg, len(used))
            for j, image in enumerate(used):
                part = slice(starts[j], starts[j + 1])
                weighted[image] += np.einsum("r,rhw->hw", scores[part].astype(np.float64), masks[part])
                coverage[image] += masks[part].sum(axis=0)

        stream_masked_scores(ctx.engine, images, n * n_samples, params["batch_size"], prepare, consume,
                             fill=params["_baseline"], targets=targets, score=params["score"])
        maps = np.divide(weighted, coverage, out=np.zeros_like(weighted), where=coverage > 0)
        return Attribution(maps.astype(np.float32), outputs, targets)
