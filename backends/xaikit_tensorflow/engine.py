"""The Keras 3 engine: xaikit's primitives as compiled TensorFlow functions.

Each primitive is one ``tf.function`` per (primitive, layer, score, input shape), built
once per model view and reused across calls, explainers and batch sizes (a ``None``
batch dimension); points, occluded images and per-image sums are built inside the
graph, so only what must come from the host (noise, references, windows) crosses over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.engine import Engine
from xaikit.errors import ModelError
from xaikit.layer_layout import LayerLayout
from xaikit.spec import ModelSpec
from xaikit.targets import not_differentiable_error

from ._keras import KerasModelView
from .compiled import device_scope, traced_error
from .propagation import PropagationRule
from .views import model_view

__all__ = ["KerasEngine", "engine_for", "versions"]

_INT = tf.TensorSpec([None], tf.int32)


def versions(*distributions: str) -> dict[str, str]:
    """Versions recorded in results: xaikit, TensorFlow, Keras and the given distributions."""
    from xaikit.registry import recorded_versions

    return {**recorded_versions(*distributions), "tensorflow": tf.__version__, "keras": keras.__version__}


def engine_for(model: Any) -> KerasEngine:
    """The engine of ``model`` (one per model view; raises :class:`~xaikit.ModelError` if unsupported)."""
    view = model_view(model)
    engine = view._engine
    if engine is None:
        engine = view._engine = KerasEngine(view)
    return engine


def _no_gradient(view: KerasModelView, score: Any) -> Exception:
    """The error when a gradient is None: the score function's (it does not depend on the output), else the model's."""
    if callable(score):
        return traced_error(not_differentiable_error(score, "a tensor that does not depend differentiably on the "
                                                            "output (tf.stop_gradient, a cast or a NumPy call "
                                                            "inside?)"))
    return _no_input_gradient(view)


def _no_input_gradient(view: KerasModelView) -> ModelError:
    dtype = getattr(view.model.inputs[0], "dtype", "?") if getattr(view.model, "inputs", None) else "?"
    return ModelError(f"model {view.name!r} gives no gradient with respect to its input (it takes {dtype} images, "
                      "or cuts the input off the graph): gradient methods cannot explain it. Use occlusion, a CAM "
                      "method at a layer, or a model that takes float images.")


class KerasEngine(Engine):
    """xaikit's primitives on a Keras 3 model (see :mod:`xaikit.engine` for the contract)."""

    framework = "keras"

    def __init__(self, view: KerasModelView) -> None:
        self.view = view

    @property
    def layout(self) -> str:
        """``"NHWC"``, or ``"NCHW"`` for a model whose input shape says channels first (or declared so)."""
        return self.view.layout

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        return self.view.describe(image_shape)

    def versions(self) -> dict[str, str]:
        return versions()

    def fingerprint(self) -> str:
        return self.view.weights_fingerprint()

    def thread_context(self) -> Callable[[], contextlib.AbstractContextManager[Any]] | None:
        device = device_scope()
        if not device:
            return None
        return lambda: tf.device(device)  # the caller's tf.device scope is thread-local: carry it over

    # ----------------------------------------------------------------- helpers
    def _compiled(self, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]],
                  signature: Sequence[tf.TensorSpec]) -> Callable[..., Any]:
        return self.view.compiled(key, build, signature)

    def _selected(self, cap: Any, t: Any, score: Any) -> tuple[Any, Any]:
        view = self.view
        t_used = t if callable(score) else tf.where(t < 0, view.predicted(cap), t)
        return tf.gather(view.class_scores(cap, score), t_used, batch_dims=1), t_used

    def _out(self, cap: Any) -> Any:
        return tf.cast(cap.outputs["__output__"], tf.float32)

    # ----------------------------------------------------------------- scores
    def predict(self, x: np.ndarray) -> np.ndarray:
        view, shape = self.view, tuple(x.shape[1:])

        def build() -> Callable[..., Any]:
            def fn(images: Any) -> Any:
                return tf.cast(view.model(images, training=False), tf.float32)
            return fn

        return self._compiled(("predict", shape), build, [view.image_spec(shape)])(x).numpy()

    def class_scores(self, x: np.ndarray, score: str) -> np.ndarray:
        view, shape = self.view, tuple(x.shape[1:])

        def build() -> Callable[..., Any]:
            def fn(batch: Any) -> Any:
                return view.class_scores(view.forward(batch), score)
            return fn

        return self._compiled(("class_scores", score, shape), build, [view.image_spec(shape)])(x).numpy()

    def target_scores(self, x: np.ndarray, t: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        view, shape = self.view, tuple(x.shape[1:])

        def build() -> Callable[..., Any]:
            def fn(images: Any, targets: Any) -> Any:
                cap = view.forward(images)
                s, t_used = self._selected(cap, targets, score)
                return s, self._out(cap), t_used
            return fn

        fn = self._compiled(("score", score, shape), build, [view.image_spec(shape), _INT])
        return tuple(v.numpy() for v in fn(x, t))  # type: ignore[return-value]

    def occlusion_scores(self, x: np.ndarray, seg: np.ndarray, windows: np.ndarray, baseline: np.ndarray,
                         t: np.ndarray, score: str) -> np.ndarray:
        view, shape = self.view, tuple(x.shape[1:])
        last = view.layout == "NHWC"
        height, width = (shape[0], shape[1]) if last else (shape[1], shape[2])

        def build() -> Callable[..., Any]:
            def fn(images: Any, seg: Any, windows: Any, baseline: Any, targets: Any) -> Any:
                rows_x = tf.gather(images, seg)  # row i occludes image seg[i]
                rows = tf.range(height)[None, :, None]
                cols = tf.range(width)[None, None, :]
                top, left, bottom, right = (windows[:, i, None, None] for i in range(4))
                inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
                inside = inside[..., None] if last else inside[:, None]  # broadcast over the channels
                occluded = tf.where(inside, baseline[None], rows_x)
                return tf.gather(view.class_scores(view.forward(occluded), score), targets, batch_dims=1)
            return fn

        signature = [view.image_spec(shape), _INT, tf.TensorSpec([None, 4], tf.int32),
                     tf.TensorSpec(shape, tf.float32), _INT]
        fn = self._compiled(("occlusion", score, shape), build, signature)
        return fn(x, seg, windows, baseline, t).numpy()

    def masked_scores(self, x: np.ndarray, seg: np.ndarray, masks: np.ndarray, fill: np.ndarray, t: np.ndarray,
                      score: str) -> np.ndarray:
        view, shape = self.view, tuple(x.shape[1:])
        last = view.layout == "NHWC"

        def build() -> Callable[..., Any]:
            def fn(images: Any, seg: Any, masks: Any, fill: Any, targets: Any) -> Any:
                m = masks[..., None] if last else masks[:, None]  # broadcast over the channels
                rows = tf.gather(images, seg) * m + fill[None] * (1.0 - m)
                return tf.gather(view.class_scores(view.forward(rows), score), targets, batch_dims=1)
            return fn

        size = shape[:2] if last else shape[1:]
        signature = [view.image_spec(shape), _INT, tf.TensorSpec((None, *size), tf.float32),
                     tf.TensorSpec(shape, tf.float32), _INT]
        fn = self._compiled(("masked_scores", score, shape), build, signature)
        return fn(x, seg, masks.astype(np.float32), fill.astype(np.float32), t).numpy()

    # ----------------------------------------------------------------- gradients
    def _check_differentiable(self) -> None:
        """Integer image inputs have no gradient: say so before tracing (a traced error would be wrapped)."""
        inputs = getattr(self.view.model, "inputs", None) or []
        if inputs and not str(inputs[0].dtype).startswith(("float", "bfloat")):
            raise _no_input_gradient(self.view)

    def input_gradients(self, x: np.ndarray, t: np.ndarray, score: str, *, rule: str = "plain"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self._check_differentiable()
        view, shape = self.view, tuple(x.shape[1:])
        relu_rule = None if rule == "plain" else rule
        if rule not in ("plain", "guided", "deconvnet"):
            raise ValueError(f"unknown gradient rule {rule!r}")
        if relu_rule is not None:
            view.check_relus(rule)

        def build() -> Callable[..., Any]:
            def fn(images: Any, targets: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(images)
                    cap = view.forward(images, relu_rule=relu_rule)
                    s, t_used = self._selected(cap, targets, score)
                grads = tape.gradient(s, images)
                if grads is None:
                    raise _no_gradient(view, score)
                return grads, self._out(cap), t_used, s
            return fn

        fn = self._compiled(("input_gradient", score, shape, rule), build, [view.image_spec(shape), _INT])
        return tuple(v.numpy() for v in fn(x, t))  # type: ignore[return-value]

    def propagation_gradients(self, x: np.ndarray, t: np.ndarray, score: Any, rule: str, *,
                              reference: np.ndarray | None = None, epsilon: float = 1e-9, gamma: float = 0.0,
                              max_pool: str = "rescale"
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """DeepLift's (``rule="rescale"``, with ``reference``) or LRP's (``"lrp"``) modified gradient; see
        :mod:`.propagation`."""
        self._check_differentiable()
        view, shape = self.view, tuple(x.shape[1:])
        chosen = PropagationRule(rule, float(epsilon), float(gamma), max_pool)
        view.check_propagation(chosen, score)
        paired = reference is not None

        def build() -> Callable[..., Any]:
            def fn(images: Any, references: Any, targets: Any) -> Any:
                n = tf.shape(images)[0]
                rows = tf.concat([images, references], axis=0) if paired else images
                with tf.GradientTape() as tape:
                    tape.watch(rows)
                    cap = view.forward(rows, propagation=chosen)
                    scores = view.class_scores(cap, score)
                    out = self._out(cap)[:n]
                    t_used = targets if callable(score) else tf.where(targets < 0, view.predicted(cap)[:n], targets)
                    s = tf.gather(scores[:n], t_used, batch_dims=1)
                grads = tape.gradient(s, rows)
                if grads is None:
                    raise _no_gradient(view, score)
                s_ref = tf.gather(scores[n:], t_used, batch_dims=1) if paired else s
                return grads[:n], out, t_used, s, s_ref
            return fn

        key = ("propagation", score, shape, chosen)
        fn = self._compiled(key, build, [view.image_spec(shape), view.image_spec(shape), _INT])
        refs = reference if paired else x[:0]
        grads, out, used, s, s_ref = (v.numpy() for v in fn(x, refs, t))
        return grads, out, used, s, (s_ref if paired else None)

    def path_gradient_sums(self, x: np.ndarray, seg: np.ndarray, r: np.ndarray, e: np.ndarray, u: np.ndarray,
                           w: np.ndarray, t: np.ndarray, score: str, *, layer: str | None = None,
                           times_delta: bool = False, second_moment: bool = False) -> np.ndarray:
        if layer is None:
            self._check_differentiable()
        else:
            self.view.check_channels_last(layer)
        view, shape, k = self.view, tuple(x.shape[1:]), int(t.shape[1])
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
                sums, squares = [], []
                for s in selected:
                    g = tape.gradient(s, points)
                    if g is None:
                        raise _no_gradient(view, score)
                    g = tf.cast(g, tf.float32)
                    if times_delta:
                        g = g * delta
                    sums.append(tf.math.unsorted_segment_sum(g * w[expand], seg, tf.shape(x)[0]))
                    if second_moment:
                        squares.append(tf.math.unsorted_segment_sum(g * g * w[expand], seg, tf.shape(x)[0]))
                del tape
                return tf.stack([tf.stack(sums), tf.stack(squares)]) if second_moment else tf.stack(sums)
            return fn

        signature = [rows, _INT, rows, rows, vector, vector, tf.TensorSpec([None, k], tf.int32)]
        key = ("path_gradient_sums", score, layer, shape, k, times_delta, second_moment)
        fn = self._compiled(key, build, signature)
        return fn(x, seg, r, e, u, w, t).numpy()

    # ----------------------------------------------------------------- layers
    def _layout(self, layer: str, layout: LayerLayout | None, image_shape: tuple[int, ...]) -> LayerLayout | None:
        """The layout ``layer`` is read with: the one given, else the description's (None: no map, crossed as is)."""
        if layout is not None:
            return layout
        spec = self.describe(image_shape)
        info = spec.layer(layer)
        if info is not None and (info.layout is not None or info.undecided):
            return spec.layer_layout(layer)
        return None

    def layer_gradients(self, x: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                        layout: LayerLayout | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        acts, grads, out, t_used = self._layer_gradients(x, t, score, layer)
        layout = self._layout(layer, layout, tuple(x.shape[1:]))
        if layout is not None:
            acts, grads = layout.to_map(acts), layout.to_map(grads)
        return acts, grads, out, t_used

    def _layer_gradients(self, x: np.ndarray, t: np.ndarray, score: str, layer: str
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        view, shape = self.view, tuple(x.shape[1:])
        view.check_channels_last(layer)

        def build() -> Callable[..., Any]:
            def fn(images: Any, targets: Any) -> Any:
                with tf.GradientTape() as tape:
                    cap = view.forward(images, capture=[layer])
                    acts = cap.outputs[layer]
                    s, t_used = self._selected(cap, targets, score)
                grads = tape.gradient(s, acts)
                if grads is None:
                    raise _no_gradient(view, score)
                return tf.cast(acts, tf.float32), tf.cast(grads, tf.float32), self._out(cap), t_used
            return fn

        fn = self._compiled(("layer_gradient", score, layer, shape), build, [view.image_spec(shape), _INT])
        return tuple(v.numpy() for v in fn(x, t))  # type: ignore[return-value]

    def layer_outputs(self, x: np.ndarray, layers: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        view, shape, names = self.view, tuple(x.shape[1:]), tuple(layers)

        def build() -> Callable[..., Any]:
            def fn(images: Any) -> Any:
                cap = view.forward(images, capture=names)
                return [tf.cast(cap.outputs[n], tf.float32) for n in names], self._out(cap)
            return fn

        maps, out = self._compiled(("activations", names, shape), build, [view.image_spec(shape)])(x)
        arrays = {n: m.numpy() for n, m in zip(names, maps)}
        if view.layout == "NCHW":  # in the model's layout, as the spec describes the layers
            arrays = {n: a.transpose(0, 3, 1, 2) if a.ndim == 4 and view.channels_last(n) else a
                      for n, a in arrays.items()}
        return arrays, out.numpy()

    def probe(self, x: np.ndarray, score: str, layer: str | None, *, layout: LayerLayout | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        out, scores, features = self._probe_layer(x, score, layer)
        layout = self._layout(layer, layout, tuple(x.shape[1:])) if layer else None
        return out, scores, (features if layout is None or features is None else layout.to_map(features))

    def _probe_layer(self, x: np.ndarray, score: str, layer: str | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        view, shape = self.view, tuple(x.shape[1:])
        if layer:
            view.check_channels_last(layer)

        def build() -> Callable[..., Any]:
            def fn(images: Any) -> Any:
                cap = view.forward(images, capture=[layer] if layer else [])
                features = (tf.cast(cap.outputs[layer], tf.float32) if layer
                            else tf.zeros([tf.shape(images)[0], 0]))
                return self._out(cap), view.class_scores(cap, score), features
            return fn

        out, scores, features = self._compiled(("probe", score, layer, shape), build, [view.image_spec(shape)])(x)
        return out.numpy(), scores.numpy(), (features.numpy() if layer else None)

    def check_head(self, layer: str) -> None:
        self.view.check_channels_last(layer)
        self.view.head(layer)

    def head_scores(self, features: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                    layout: LayerLayout | None = None) -> np.ndarray:
        if layout is not None:
            features = layout.from_map(features, "Ablation-CAM")
        return self._head_scores(features, t, score, layer)

    def _head_scores(self, features: np.ndarray, t: np.ndarray, score: str, layer: str) -> np.ndarray:
        view, shape = self.view, tuple(features.shape[1:])
        view.check_channels_last(layer)

        def build() -> Callable[..., Any]:
            def fn(a: Any, targets: Any) -> Any:
                return tf.gather(view.class_scores(view.run_head(layer, a), score), targets, batch_dims=1)
            return fn

        fn = self._compiled(("head_scores", score, layer, shape), build, [tf.TensorSpec((None, *shape), tf.float32),
                                                                         _INT])
        return fn(features.astype(np.float32), t.astype(np.int32)).numpy()

    # ----------------------------------------------------------------- floor
    def pass_loop(self, plan: Any, x: np.ndarray, t: np.ndarray, iters: int, *, serial: bool = False) -> None:
        view = self.view
        score, layer, kind, k = plan.score, plan.layer, plan.kind, plan.k
        shape = tuple(x.shape[1:])

        def unit(xi: Any, ti: Any) -> Any:
            if kind == "forward":
                return tf.gather(view.class_scores(view.forward(xi), score), ti[:, 0], batch_dims=1)
            if kind == "forward_backward_input":
                with tf.GradientTape() as tape:
                    tape.watch(xi)
                    s = tf.gather(view.class_scores(view.forward(xi), score), ti[:, 0], batch_dims=1)
                return tape.gradient(s, xi)
            if kind == "forward_backward_layer":
                with tf.GradientTape() as tape:
                    cap = view.forward(xi, capture=[layer])
                    a = cap.outputs[layer]
                    s = tf.gather(view.class_scores(cap, score), ti[:, 0], batch_dims=1)
                return tape.gradient(s, a)
            # head_forward_backward: xi holds the layer's activations (or the images when layer is None)
            with tf.GradientTape(persistent=k > 1) as tape:
                tape.watch(xi)
                cap = view.forward(xi) if layer is None else view.run_head(layer, xi)
                scores = view.class_scores(cap, score)
                selected = [tf.gather(scores, ti[:, r], batch_dims=1) for r in range(k)]
            grads = [tape.gradient(s, xi) for s in selected]
            del tape
            return tf.add_n([tf.reduce_sum(g) for g in grads])

        def build() -> Callable[..., Any]:
            def fn(x0: Any, t0: Any, n: Any) -> Any:
                acc = tf.zeros([], tf.float32)
                for i in tf.range(n):
                    xi = x0 + tf.cast(i, x0.dtype) * 1e-7
                    if serial:
                        xi = xi + 0.0 * acc  # a data dependency: pass i + 1 starts when pass i is done
                    acc += tf.cast(tf.reduce_sum(unit(xi, t0)), tf.float32)
                return acc
            return fn

        signature = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec([None, k], tf.int32),
                     tf.TensorSpec([], tf.int32)]
        fn = self._compiled(("bench_floor", kind, layer, score, k, shape, serial), build, signature)
        fn(x, t, np.int32(iters)).numpy()
