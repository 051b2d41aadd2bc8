"""Sobol attribution: total-order Sobol indices of grid cells, written once on the engine's masked scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, Param, shared
from ..catalogue.parts import SCORES, sample_forwards_floor, sobol_row_count
from ..explainer import Attribution
from ..kernels import coalition_masks, grid_segments, jansen_total_indices, row_plan, sobol_designs, sobol_rows
from ..spec import ModelSpec
from .base import EngineExplainer, stream_masked_scores

__all__ = ["Sobol"]


class Sobol(EngineExplainer, schema=MethodSchema(
        "sobol", "Sobol attribution",
        "Total-order Sobol indices of the cells of a grid for the target score, the image multiplied cell by "
        "cell by quasi-Monte Carlo masks (Jansen's estimator).",
        "Fel et al., 'Look at the Variance! Efficient Black-box Explanations with Sobol-based Sensitivity "
        "Analysis', NeurIPS 2021.",
        signed=False, cost="1 + n_designs x (grid_size^2 + 1) forward passes",
        params=(*shared("grid_size", grid_size=8),
                Param("n_designs", "int", 32, "Quasi-Monte Carlo designs (a power of two); the model runs "
                      "n_designs x (grid_size^2 + 1) times per image.", low=2),
                *shared("baseline")),
        needs=SCORES, view="positive", floor_fn=sample_forwards_floor(sobol_row_count, "masked images"),
        warmup={"n_designs": 2, "grid_size": 1},
        formula="S_Ti = sum_n (f(A_n) - f(C_i,n))^2 / (2 N Var f(A)),  f(M) = S_t(x * up(M) + b * (1 - up(M)))",
        example_params={"grid_size": 2, "n_designs": 4},
        docs=DocsEntry("Sobol attribution", "total-order Sobol indices of grid cells",
                       "1 + `n_designs` (grid² + 1) forward", "Fel et al. 2021"))):
    """Sobol attribution: how much of the target score's variance each cell of a grid accounts for, interactions
    included (total-order Sobol indices).

    The image is cut into ``grid_size x grid_size`` cells (nearest-neighbour, half-pixel
    centres, as Xplique upsamples its masks); a mask gives each cell a value in [0, 1]
    and the perturbed image is :math:`x \\odot M + b \\odot (1 - M)` (``baseline`` ``b``; 0 is
    Xplique's default "inpainting"). The masks are the rows of two unscrambled Sobol
    matrices :math:`A, B` (``n_designs`` rows each, scipy.stats.qmc) and, for each cell
    :math:`i`, :math:`C_i` = :math:`A` with column :math:`i` from :math:`B`; Jansen's
    estimator gives

    .. math::

        S_{T_i} = \\frac{\\sum_n (f(A_n) - f(C_{i,n}))^2}{2 N\\, \\mathrm{Var}(f(A))}

    as Xplique's ``SobolAttributionMethod`` with its defaults (``ScipySobolSequenceRS``
    sampler, ``JansenEstimator``), except that the scores of :math:`B`, unused by this
    estimator, are not computed: ``n_designs x (grid_size^2 + 1)`` masked images per
    image. The indices of the cells are in ``layer_attributions``; they are upsampled
    bilinearly to the input as every coarse map is (Xplique upsamples bicubically, with
    ``cv2.resize(..., (H, W))``, which swaps the axes of a non-square image). No random
    draws: the designs are deterministic.

    Parameters
    ----------
    model
    grid_size : int, default 8
    n_designs : int, default 32
        A power of two.
    baseline : float, array (C,) or image, default 0.0
    batch_size : int, default 32
        Masked images per model call.
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Fel et al., "Look at the Variance! Efficient Black-box Explanations with Sobol-based
    Sensitivity Analysis", NeurIPS 2021.
    """

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        g = params["grid_size"]
        params["_designs"] = sobol_designs(g * g, params["n_designs"])  # checks n_designs before any work
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        g, n_designs = params["grid_size"], params["n_designs"]
        a, b = params["_designs"]
        labels = grid_segments(ctx.image_size, (g, g))
        n, per_image = len(images), n_designs * (g * g + 1)
        scores = np.empty(n * per_image, np.float64)  # row i * per_image + r: image i, design row r

        def prepare(rows: slice) -> tuple[np.ndarray, np.ndarray, None]:
            index, row = row_plan(rows, per_image)
            return index, coalition_masks(sobol_rows(a, b, row), labels), None

        def consume(rows: slice, index: np.ndarray, state: None, values: np.ndarray) -> None:
            scores[rows] = values

        stream_masked_scores(ctx.engine, images, n * per_image, params["batch_size"], prepare, consume,
                             fill=params["_baseline"], targets=targets, score=params["score"])
        indices = np.stack([jansen_total_indices(s, n_designs) for s in scores.reshape(n, per_image)])
        return Attribution(indices.reshape(n, g, g).astype(np.float32), outputs, targets, at_layer=True)
