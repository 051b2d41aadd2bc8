"""The floor of a method: the model passes it cannot avoid, timed at their best.

Every attribution method costs at least a known number of forward and backward passes
through the model per image (the ``cost`` column of :data:`xaikit.METHODS`). The floor
is the time of exactly those passes, measured in the same process as the method, on
the same model, images and targets, with:

- one compiled TensorFlow function per kind of pass (``tf.function`` with a
  ``tf.range`` loop inside, so no Python runs between passes);
- the input nudged by ``1e-7 * i`` at iteration ``i`` so that no pass can be hoisted
  out of the loop or cached;
- TensorFlow may overlap consecutive passes of the loop (throughput); ``serial=True``
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
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PASS_KINDS", "FloorPlan", "floor_plan", "measure_pass_rate"]

#: The kinds of pass the floor is made of.
PASS_KINDS = ("forward", "forward_backward_input", "forward_backward_layer", "head_forward_backward")


@dataclass(frozen=True)
class FloorPlan:
    """The unavoidable passes of one explanation, per image.

    Attributes
    ----------
    kind : str
        One of :data:`PASS_KINDS`.
    passes : int
        Number of such passes per image.
    layer : str or None
        The layer of ``forward_backward_layer`` and ``head_forward_backward``.
    k : int
        Backward passes per forward pass (ranked outputs of expected gradients).
    score : str
        The score differentiated.
    description : str
        The floor in words, for the report.
    """

    kind: str
    passes: int
    layer: str | None = None
    k: int = 1
    score: str = "logit"
    description: str = ""


def _score(exp_score: str | None, default: str) -> str:
    return exp_score if exp_score in ("logit", "probability", "output") else default


def floor_plan(method: str, params: dict[str, Any], *, layer: str | None, score: str | None, default_score: str,
               image_size: tuple[int, int], ranked_outputs: int | None = None) -> FloorPlan:
    """What the floor of ``method`` is, given the effective parameters of an explanation.

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
    s = _score(score, default_score)
    if method in ("vanilla_gradients", "gradient_x_input"):
        return FloorPlan("forward_backward_input", 1, score=s, description="1 x (forward + backward to the input)")
    if method in ("gradcam", "gradcam++"):
        return FloorPlan("forward_backward_layer", 1, layer=layer, score=s,
                         description=f"1 x (forward + backward down to {layer})")
    if method == "smoothgrad":
        n = int(params["n_samples"])
        return FloorPlan("forward_backward_input", n, score=s, description=f"{n} x (forward + backward to the input)")
    if method == "integrated_gradients":
        n = int(params["steps"])
        return FloorPlan("forward_backward_input", n, score=s, description=f"{n} x (forward + backward to the input)")
    if method == "expected_gradients":
        n = int(params["n_samples"])
        k = int(ranked_outputs or 1)
        where = f"above {layer}" if layer else "whole model"
        back = f"{k} backward" if k > 1 else "backward"
        return FloorPlan("head_forward_backward", n, layer=layer, k=k, score=s,
                         description=f"{n} x (forward {where} + {back})")
    if method == "occlusion":
        windows = params.get("n_windows")
        if windows is None:
            patch = params.get("patch_size", 8)
            ph, pw = (patch, patch) if np.ndim(patch) == 0 else (int(patch[0]), int(patch[1]))
            windows = math.ceil(image_size[0] / ph) * math.ceil(image_size[1] / pw)
        n = 1 + int(windows)
        return FloorPlan("forward", n, score=s, description=f"{n} x forward (1 + {windows} windows)")
    raise ValueError(f"no floor is defined for method {method!r}")


# --------------------------------------------------------------------------- measurement
def _loop_function(view: Any, plan: FloorPlan, feature_shape: tuple[int, ...], serial: bool = True) -> Any:
    """Compiled ``(x, t, iters) -> checksum`` running ``iters`` passes of ``plan.kind`` on batch ``x``.

    With ``serial`` each pass depends on the previous one's result, so passes run back to
    back; otherwise TensorFlow's while loop may overlap consecutive passes (up to 10 in
    flight), which measures throughput rather than the cost of the passes themselves.
    """
    import tensorflow as tf

    score, layer, kind, k = plan.score, plan.layer, plan.kind, plan.k

    def unit(x: Any, t: Any) -> Any:
        if kind == "forward":
            return tf.gather(view.class_scores(view.forward(x), score), t[:, 0], batch_dims=1)
        if kind == "forward_backward_input":
            with tf.GradientTape() as tape:
                tape.watch(x)
                s = tf.gather(view.class_scores(view.forward(x), score), t[:, 0], batch_dims=1)
            return tape.gradient(s, x)
        if kind == "forward_backward_layer":
            with tf.GradientTape() as tape:
                cap = view.forward(x, capture=[layer])
                a = cap.outputs[layer]
                s = tf.gather(view.class_scores(cap, score), t[:, 0], batch_dims=1)
            return tape.gradient(s, a)
        # head_forward_backward: x is the layer's activations (or the images when layer is None)
        with tf.GradientTape(persistent=k > 1) as tape:
            tape.watch(x)
            cap = view.forward(x) if layer is None else view.run_head(layer, x)
            scores = view.class_scores(cap, score)
            selected = [tf.gather(scores, t[:, r], batch_dims=1) for r in range(k)]
        grads = [tape.gradient(s, x) for s in selected]
        del tape
        return tf.add_n([tf.reduce_sum(g) for g in grads])

    def build() -> Any:
        def fn(x: Any, t: Any, iters: Any) -> Any:
            acc = tf.zeros([], tf.float32)
            for i in tf.range(iters):
                xi = x + tf.cast(i, x.dtype) * 1e-7
                if serial:
                    xi = xi + 0.0 * acc  # a data dependency: pass i + 1 starts when pass i is done
                acc += tf.cast(tf.reduce_sum(unit(xi, t)), tf.float32)
            return acc
        return fn

    spec = tf.TensorSpec((None, *feature_shape), tf.float32)
    signature = [spec, tf.TensorSpec([None, k], tf.int32), tf.TensorSpec([], tf.int32)]
    return view.compiled(("bench_floor", kind, layer, score, k, feature_shape, serial), build, signature)


def _features(view: Any, layer: str, x: np.ndarray, batch_size: int) -> np.ndarray:
    import tensorflow as tf

    hwc = tuple(x.shape[1:])

    def build() -> Any:
        def fn(images: Any) -> Any:
            return tf.cast(view.forward(images, capture=[layer]).outputs[layer], tf.float32)
        return fn

    fn = view.compiled(("bench_features", layer, hwc), build, [view.image_spec(hwc)])
    return np.concatenate([fn(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])


def _tile(a: np.ndarray, n: int) -> np.ndarray:
    reps = -(-n // len(a))
    return np.concatenate([a] * reps)[:n]


def candidate_batch_sizes(sizes: Sequence[int], total_passes: int) -> list[int]:
    """The batch sizes worth trying: those <= the passes the method makes, plus that number if smaller."""
    out = sorted({int(b) for b in sizes if b <= total_passes})
    if not out:
        out = [max(1, int(total_passes))]
    return out


def measure_pass_rate(model: Any, images: np.ndarray, targets: np.ndarray, plan: FloorPlan, *,
                      batch_sizes: Sequence[int], min_seconds: float = 0.2, max_batch_seconds: float = 3.0,
                      feature_batch: int = 32, serial: bool = False) -> dict[str, Any]:
    """Seconds per pass of ``plan.kind`` at the best of ``batch_sizes``.

    Parameters
    ----------
    model
        A Keras model (the native backend's view of it is used).
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
    from xaikit_tensorflow._keras import model_view

    view = model_view(model)
    x = np.asarray(images, np.float32)
    t = np.asarray(targets, np.int32)
    if t.ndim == 1:
        t = t[:, None]
    if t.shape[1] < plan.k:
        raise ValueError(f"targets have {t.shape[1]} column(s) but the plan needs k={plan.k}")
    t = t[:, :plan.k]
    if plan.kind == "head_forward_backward" and plan.layer is not None:
        x = _features(view, plan.layer, x, feature_batch)
    fn = _loop_function(view, plan, tuple(x.shape[1:]), serial)
    tried: dict[int, float] = {}
    best_b, best = None, math.inf
    for b in sorted({int(v) for v in batch_sizes}):
        xb, tb = _tile(x, b), _tile(t, b)
        fn(xb, tb, np.int32(1))  # trace (first size only) and warm up
        start = time.perf_counter()
        fn(xb, tb, np.int32(1)).numpy()
        one = time.perf_counter() - start
        iters = max(1, math.ceil(min_seconds / max(one, 1e-6)))
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            fn(xb, tb, np.int32(iters)).numpy()
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
