"""The floor of a method: the model passes it cannot avoid, timed at their best.

Every attribution method costs at least a known number of forward and backward passes
through the model per image (the ``cost`` column of :data:`xaikit.METHODS`). The floor
is the time of exactly those passes, measured in the same process as the method, on
the same model, images and targets, with:

- one compiled loop per kind of pass, from the model's engine
  (:meth:`xaikit.engine.Engine.pass_loop`: TensorFlow builds a ``tf.function`` with a
  ``tf.range`` loop inside, so no Python runs between passes);
- the input nudged by ``1e-7 * i`` at iteration ``i`` so that no pass can be hoisted
  out of the loop or cached;
- the framework may overlap consecutive passes of the loop (throughput); ``serial=True``
  chains them instead (each pass depends on the previous result). On this CPU the
  chained loop was sometimes slower than separate calls, so the speed suite measures
  both and takes the faster as the floor;
- the batch size that gives the lowest time per pass among the sizes tried
  (``speed.floor_batch_sizes``, capped by the number of passes the method makes on the
  sample: a method explaining 16 images with one pass each cannot batch more than 16);
- the best of two timed loops, each lasting at least ``speed.floor_min_seconds``.

What counts as the floor, per image (``n_samples``, ``steps``, the occlusion windows
and the layer are the explainer's effective parameters, read from its result):

======================  =========================================================
method                  floor per image
======================  =========================================================
vanilla_gradients       1 forward + 1 backward pass to the input
gradient_x_input        1 forward + 1 backward pass to the input
gradcam, gradcam++      1 forward pass, and 1 backward pass from the score down to
                        the explained layer only
smoothgrad              ``n_samples`` x (forward + backward to the input)
integrated_gradients    ``steps`` x (forward + backward to the input)
expected_gradients      ``n_samples`` x (forward of the model *above* the layer +
                        ``k`` backward passes to the layer), ``k`` = ranked outputs
                        (1 by default); at the input, the whole model. Mapping the
                        images and the background to the layer is not counted.
occlusion               (1 + number of windows) forward passes (the unoccluded
                        score and one per occluded copy)
======================  =========================================================

Not counted: Python overhead, drawing noise, building occluded copies, upsampling,
reductions, the diagnostic passes some implementations add (the completeness check of
integrated gradients), and compilation. ``time / floor`` is therefore >= 1 up to
measurement noise for an implementation that batches as well as the floor does; a
large ratio says where an implementation loses time, not that the method is slow.

The score differentiated is the one the explanation reports when it is a model score
(``logit``, ``probability``, ``output``), else the model's default (the logit); the
softmax costs nothing next to the network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..catalogue import PASS_KINDS, FloorPlan, get_method

__all__ = ["PASS_KINDS", "FloorPlan", "floor_plan", "measure_pass_rate", "candidate_batch_sizes"]


def _score(exp_score: str | None, default: str) -> str:
    return exp_score if exp_score in ("logit", "probability", "output") else default


def floor_plan(method: str, params: dict[str, Any], *, layer: str | None, score: str | None, default_score: str,
               image_size: tuple[int, int], ranked_outputs: int | None = None) -> FloorPlan:
    """What the floor of ``method`` is, given the effective parameters of an explanation (the catalogue's rule).

    Parameters
    ----------
    method
        Method id.
    params
        ``Explanation.params`` (effective parameters as the backend recorded them).
    layer, score
        ``Explanation.layer`` and ``Explanation.score``.
    default_score
        The model's default score (``resolve_score(None, spec)``), used when the
        explanation's score is not a model score (tf-explain's losses).
    image_size
        ``(H, W)`` of the images (occlusion windows when the backend did not record them).
    ranked_outputs
        ``k`` for expected gradients explained with ``explain_ranked``.
    """
    return get_method(method).floor(params, layer=layer, score=_score(score, default_score), image_size=image_size,
                                    k=int(ranked_outputs or 1))


def _tile(a: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(a))
    return np.concatenate([a] * reps)[:n]


def candidate_batch_sizes(sizes: Sequence[int], total_passes: int) -> list[int]:
    """The batch sizes worth trying: those <= the passes the method makes, plus that number if smaller."""
    out = sorted({int(b) for b in sizes if b <= total_passes})
    if not out:
        out = [max(1, int(total_passes))]
    return out


def measure_pass_rate(engine: Any, images: np.ndarray, targets: np.ndarray, plan: FloorPlan, *,
                      batch_sizes: Sequence[int], min_seconds: float = 0.2, max_batch_seconds: float = 3.0,
                      feature_batch: int = 32, serial: bool = False) -> dict[str, Any]:
    """Seconds per pass of ``plan.kind`` at the best of ``batch_sizes``.

    Parameters
    ----------
    engine
        The model's :class:`~xaikit.engine.Engine` (``services.engine(model)``).
    images, targets
        The sample (images are tiled to fill a batch); ``targets`` ``(N,)`` or ``(N, k)``.
    plan
        What to measure (kind, layer, k, score).
    batch_sizes
        Sizes to try, in increasing order. Trying stops early when a size is slower per
        pass than the best so far (past the knee), or when one pass of a batch took more
        than ``max_batch_seconds`` (bigger batches only cost memory).
    min_seconds
        Each timed loop runs enough iterations to last at least this long.
    serial
        Chain the passes (each depends on the previous result) instead of letting
        TensorFlow overlap them.

    Returns
    -------
    dict
        ``seconds_per_pass`` (best), ``batch_size`` (where it was reached), ``tried``
        (``{batch size: seconds per pass}``) and ``kind``.
    """
    x = np.asarray(images, np.float32)
    t = np.asarray(targets, np.int32)
    if t.ndim == 1:
        t = t[:, None]
    if t.shape[1] < plan.k:
        raise ValueError(f"targets have {t.shape[1]} column(s) but the plan needs k={plan.k}")
    t = t[:, :plan.k]
    if plan.kind == "head_forward_backward" and plan.layer is not None:
        x = np.concatenate([engine.probe(x[i:i + feature_batch], plan.score, plan.layer)[2]
                            for i in range(0, len(x), feature_batch)])

    def fn(xb: np.ndarray, tb: np.ndarray, iters: int) -> None:
        engine.pass_loop(plan, xb, tb, iters, serial=serial)

    tried: dict[int, float] = {}
    best_b, best = None, math.inf
    for b in sorted({int(v) for v in batch_sizes}):
        xb, tb = _tile(x, b), _tile(t, b)
        fn(xb, tb, 1)  # compile (first size only) and warm up
        start = time.perf_counter()
        fn(xb, tb, 1)
        one = time.perf_counter() - start
        iters = max(1, math.ceil(min_seconds / max(one, 1e-6)))
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            fn(xb, tb, iters)
            runs.append((time.perf_counter() - start) / (iters * b))
        per_pass = min(runs)
        tried[b] = per_pass
        if per_pass < best:
            best_b, best = b, per_pass
        elif per_pass > 1.05 * best:
            break
        if one > max_batch_seconds:
            break
    return {"kind": plan.kind, "seconds_per_pass": best, "batch_size": best_b, "tried": tried}
