"""Shared pieces of the native TensorFlow methods: the explainer base and compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit._progress import report as report_progress
from xaikit.errors import InputError
from xaikit.explainer import ActivationExtractor, Explainer, ModelSpec
from xaikit.validation import check_choice

from ._keras import KerasModelView, chunks, model_view

__all__ = ["TFExplainer", "TFExplainerWithChannels", "TFExtractorBase", "KerasModelMixin", "ChannelReduceMixin",
           "versions", "CHANNEL_REDUCTIONS", "reduce_channels",
           "gradient_fn", "score_fn", "class_scores", "resolve_targets", "broadcast_baseline", "image_rng", "chunks",
           "path_gradient_sums_fn", "stream_rows", "stream_path_gradient_sums", "segments"]

CHANNEL_REDUCTIONS = ("sum", "abs_sum", "max_abs")
_INT = tf.TensorSpec([None], tf.int32)


def reduce_channels(values: np.ndarray, mode: str) -> np.ndarray:
    """Reduce per-channel attributions ``(N, H, W, C)`` to maps ``(N, H, W)``.

    ``"sum"`` keeps the sign and the completeness property (the map sums to the total
    attribution); ``"abs_sum"`` is tf-explain's grayscale reduction; ``"max_abs"`` is
    Simonyan et al.'s saliency (largest magnitude over channels).
    """
    # An explicit loop over the (few) channels: NumPy's reduction over a short last axis is
    # strided and several times slower than C element-wise passes.
    channels = [values[..., c] for c in range(values.shape[-1])]
    if mode != "sum":
        channels = [np.abs(c) for c in channels]
    out = np.array(channels[0], dtype=np.float32, copy=True)
    for c in channels[1:]:
        if mode == "max_abs":
            np.maximum(out, c, out=out)
        else:
            out += c
    return out


def image_rng(seed: int, image: np.ndarray, stream: int = 0) -> np.random.Generator:
    """A generator for one image, keyed by the seed and the image's *content*.

    The draws for an image therefore do not depend on its position in the batch, on the
    other images, or on ``batch_size``: the same image with the same seed gets the same
    noise whether it is explained alone, in a batch, or in a CLI run split into chunks.
    ``stream`` separates independent uses (e.g. sample positions vs smoothing noise).
    """
    import hashlib

    digest = int.from_bytes(hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, stream, digest])


def broadcast_baseline(baseline: Any, hwc: tuple[int, ...], name: str = "baseline") -> np.ndarray:
    """A baseline value as a float32 ``(H, W, C)`` array: a number, a per-channel ``(C,)``, or ``(H, W, C)``."""
    arr = np.asarray(baseline, dtype=np.float32) if not isinstance(baseline, np.ndarray) else baseline.astype(np.float32)
    if arr.ndim == 0 or arr.shape in ((hwc[2],), tuple(hwc)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{name} contains NaN or Inf")
        return np.broadcast_to(arr, hwc).astype(np.float32)
    raise InputError(f"{name} must be a number, a per-channel array of shape ({hwc[2]},), or an image of shape "
                     f"{tuple(hwc)}; got shape {arr.shape}")


def resolve_targets(view: KerasModelView, x: np.ndarray, targets: np.ndarray | None,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs for ``x`` and the targets (predicted classes when ``targets`` is None)."""
    from xaikit.explainer import predicted_classes

    outputs = view.predict(x, batch_size)
    if targets is None:
        targets = predicted_classes(outputs, view.spec)
    return outputs, targets


def score_fn(view: KerasModelView, score: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
    """Compiled ``(x, t) -> (target score (B,), outputs (B, K), t used (B,))``; ``t < 0`` means predicted."""

    def build() -> Callable[..., Any]:
        def fn(x: Any, t: Any) -> Any:
            cap = view.forward(x)
            t_used = tf.where(t < 0, view.predicted(cap), t)
            s = tf.gather(view.class_scores(cap, score), t_used, batch_dims=1)
            return s, tf.cast(cap.outputs["__output__"], tf.float32), t_used
        return fn

    return view.compiled(("score", score, hwc), build, [view.image_spec(hwc), _INT])


def gradient_fn(view: KerasModelView, score: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
    """Compiled ``(x, t) -> (d score / d x, outputs, t used, score)`` for a batch."""

    def build() -> Callable[..., Any]:
        def fn(x: Any, t: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                cap = view.forward(x)
                t_used = tf.where(t < 0, view.predicted(cap), t)
                s = tf.gather(view.class_scores(cap, score), t_used, batch_dims=1)
            grads = tape.gradient(s, x)
            return grads, tf.cast(cap.outputs["__output__"], tf.float32), t_used, s
        return fn

    return view.compiled(("input_gradient", score, hwc), build, [view.image_spec(hwc), _INT])


def class_scores(model: Any, images: np.ndarray, score: str = "probability", batch_size: int = 32) -> np.ndarray:
    """``(N, n_classes)`` scores of ``model`` for ``images``, as the explainers see them.

    ``score`` is resolved as in :func:`xaikit.explainer.resolve_score`; a single-sigmoid
    model gives two columns (``[1 - p, p]`` or ``[-z, z]``), so column ``t`` is the score
    of target ``t`` for every model. This is the ``predict`` callable the metrics need.
    """
    from xaikit.explainer import resolve_score
    from xaikit.validation import check_images

    view = model_view(model)
    x = check_images(images, expected_shape=view.spec.input_shape)
    score = resolve_score(score, view.spec)
    hwc = tuple(x.shape[1:])

    def build() -> Callable[..., Any]:
        def fn(batch: Any) -> Any:
            return view.class_scores(view.forward(batch), score)
        return fn

    fn = view.compiled(("class_scores", score, hwc), build, [view.image_spec(hwc)])
    return np.concatenate([fn(x[s]).numpy() for s in chunks(len(x), batch_size)])


def path_gradient_sums_fn(view: KerasModelView, score: str, shape: tuple[int, ...], k: int = 1,
                          layer: str | None = None, times_delta: bool = False) -> Callable[..., Any]:
    """Compiled kernel shared by SmoothGrad, integrated and expected gradients.

    ``(x, seg, r, e, u, w, t) -> (k, S, *shape)``: for sample row ``i`` of image
    ``seg[i]`` (an index into the ``S`` rows of ``x``), the point
    ``p_i = r_i + u_i (x[seg_i] + e_i - r_i)`` is sent through the model (or through the
    part above ``layer``, ``x`` then being that layer's activations), and the gradients of
    the ``k`` target scores ``t[i]`` at ``p_i``, times ``w_i`` (and times
    ``x[seg_i] + e_i - r_i`` when ``times_delta``), are summed per image in-graph. ``r``
    and ``e`` may have one row, broadcast to all. SmoothGrad: ``r = 0, u = 1, e =`` noise;
    integrated gradients: ``r =`` baseline, ``u = alpha``, ``w =`` quadrature weight;
    expected gradients: ``r =`` references, ``u ~ U(0, 1)``, ``e =`` smoothing noise,
    ``times_delta``. Building points and reducing per image in the graph keeps host
    memory traffic to the inputs that must come from the host (noise, references).
    """
    rows = tf.TensorSpec((None, *shape), tf.float32)
    vector = tf.TensorSpec([None], tf.float32)

    def build() -> Callable[..., Any]:
        def fn(x: Any, seg: Any, r: Any, e: Any, u: Any, w: Any, t: Any) -> Any:
            expand = (slice(None),) + (None,) * len(shape)
            delta = tf.gather(x, seg) + e - r
            points = r + u[expand] * delta
            with tf.GradientTape(persistent=k > 1) as tape:
                tape.watch(points)
                cap = view.forward(points) if layer is None else view.run_head(layer, points)
                scores = view.class_scores(cap, score)
                selected = [tf.gather(scores, t[:, j], batch_dims=1) for j in range(k)]
            sums = []
            for s in selected:
                g = tf.cast(tape.gradient(s, points), tf.float32) * w[expand]
                if times_delta:
                    g = g * delta
                sums.append(tf.math.unsorted_segment_sum(g, seg, tf.shape(x)[0]))
            del tape
            return tf.stack(sums)
        return fn

    signature = [rows, tf.TensorSpec([None], tf.int32), rows, rows, vector, vector, tf.TensorSpec([None, k], tf.int32)]
    return view.compiled(("path_gradient_sums", score, layer, shape, k, times_delta), build, signature)


def _current_device() -> str | None:
    """The device of the caller's ``tf.device`` scope, if any (TensorFlow has no public getter)."""
    try:
        from tensorflow.python.eager import context

        return context.context().device_name or None
    except Exception:  # pragma: no cover - private API moved
        return None


def stream_rows(n_rows: int, batch_size: int, prepare: Callable[[slice], Any], compute: Callable[[Any], Any],
                consume: Callable[[slice, Any, Any], None], *, in_flight: int = 2) -> None:
    """Stream ``n_rows`` sample rows through the model in chunks of ``batch_size``.

    For each chunk, in order: ``prepared = prepare(rows)`` (host work: noise, references;
    run in this thread, in chunk order, so random streams are drawn deterministically),
    ``result = compute(prepared)`` (the compiled function; up to ``in_flight`` chunks run at
    once in worker threads, as TensorFlow releases the GIL, so one chunk's backward pass
    overlaps the next one's forward pass and the host work), then ``consume(rows,
    prepared, result)`` back in this thread, in chunk order.

    ``batch_size`` bounds the rows alive at once, not only the rows of one call: when the
    rows do not fit in one chunk, they run in chunks of ``batch_size // in_flight`` rows
    (``in_flight`` of them at a time), so peak memory is that of ``batch_size`` rows
    whatever ``n_rows`` is.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    device = _current_device()

    def compute_here(prepared: Any) -> Any:
        if not device:
            return compute(prepared)
        with tf.device(device):  # the caller's tf.device scope is thread-local: carry it over
            return compute(prepared)

    if n_rows <= batch_size or batch_size < in_flight:
        step, in_flight = batch_size, 1 if n_rows > batch_size else in_flight
    else:
        step = batch_size // in_flight
    pending: deque[tuple[slice, Any, Any]] = deque()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="xaikit-chunk") as pool:
        for rows in chunks(n_rows, step):
            prepared = prepare(rows)
            pending.append((rows, prepared, pool.submit(compute_here, prepared)))
            if len(pending) >= in_flight:
                done_rows, done_prepared, future = pending.popleft()
                consume(done_rows, done_prepared, future.result())
                report_progress(done_rows.stop, n_rows)
        while pending:
            done_rows, done_prepared, future = pending.popleft()
            consume(done_rows, done_prepared, future.result())
            report_progress(done_rows.stop, n_rows)


def stream_path_gradient_sums(fn: Callable[..., Any], x: np.ndarray, n_rows: int, batch_size: int,
                              prepare: Callable[[slice], tuple[np.ndarray, ...]], k: int = 1) -> np.ndarray:
    """Run a :func:`path_gradient_sums_fn` kernel over ``n_rows`` sample rows; ``(k, *x.shape)`` float64 sums.

    ``prepare(rows)`` returns the kernel's arguments after ``x`` for those rows, with
    ``used`` (the images the rows belong to) in place of ``x``:
    ``(used, seg, r, e, u, w, t)``. Rows are streamed as :func:`stream_rows` does.
    """
    totals = np.zeros((k, *x.shape), np.float64)

    def compute(prepared: tuple[np.ndarray, ...]) -> np.ndarray:
        used, *rest = prepared
        return fn(x[used], *rest).numpy()

    def consume(rows: slice, prepared: tuple[np.ndarray, ...], sums: np.ndarray) -> None:
        totals[:, prepared[0]] += sums

    stream_rows(n_rows, batch_size, prepare, compute, consume)
    return totals


def segments(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted row->image ``index``: the distinct images and each row's position among them."""
    images, seg = np.unique(index, return_inverse=True)
    return images, seg.astype(np.int32)


def versions(*distributions: str) -> dict[str, str]:
    """Versions recorded in results: xaikit, TensorFlow, Keras and the given distributions."""
    import importlib.metadata

    import xaikit

    out = {"xaikit": xaikit.__version__}
    for name in distributions:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "unknown"
    return {**out, "tensorflow": tf.__version__, "keras": keras.__version__}




class KerasModelMixin:
    """The Explainer hooks every Keras-based backend shares: the model view, its spec, prediction.

    Adapters of other libraries (tf-explain, shap) reuse them, so every backend validates
    and describes a Keras model the same way.
    """

    model: Any

    def _view(self) -> KerasModelView:
        return model_view(self.model)

    def _model_spec(self) -> ModelSpec:
        return self._view().spec

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        return self._view().predict(images, batch_size)


class ChannelReduceMixin:
    """Pixel-level methods: per-channel values reduced to one map by ``channel_reduce``."""

    channel_reduce: str

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)  # type: ignore[misc]
        params["channel_reduce"] = check_choice("channel_reduce", self.channel_reduce, CHANNEL_REDUCTIONS)
        return params


class TFExplainer(KerasModelMixin, Explainer):
    """Base of the native TensorFlow/Keras 3 explainers."""

    backend = "tensorflow"

    def _info(self) -> dict[str, Any]:
        return versions()

    @staticmethod
    def _targets_for_graph(targets: np.ndarray | None, n: int) -> np.ndarray:
        """int32 targets for compiled functions, -1 meaning "the predicted class"."""
        return np.full(n, -1, np.int32) if targets is None else targets.astype(np.int32)


class TFExplainerWithChannels(ChannelReduceMixin, TFExplainer):
    """Native pixel-level methods."""


class TFExtractorBase(KerasModelMixin, ActivationExtractor):
    """Base of the native activation extractor."""

    backend = "tensorflow"

    def _info(self) -> dict[str, Any]:
        return versions()
