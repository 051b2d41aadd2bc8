"""How the native backend sees a Keras 3 model.

A :class:`KerasModelView` per model (cached per structure: :func:`.views.model_view`)
answers, without the caller caring whether the model is Functional, Sequential (even
one never called symbolically), nested, or subclassed:

- what the model takes and returns, given the images (:meth:`KerasModelView.describe`);
- the outputs of any named layer and the pre-activation of the last layer (the logit),
  by wrapping ``layer.call`` *while a function is being traced* (:mod:`.hooks`): the
  wrapper is removed right after, so the user's model is left as it was and the
  compiled graph has the capture baked in;
- the part of the model above a layer (``head``), for methods that feed modified
  activations (expected gradients at a layer);
- compiled ``tf.function`` s, built once per (method, layer, score, input shape) and
  reused across calls and explainers (:mod:`.compiled`).

Inference mode is always used (``training=False``): BatchNorm uses its moving
statistics and Dropout is off.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras
import tensorflow as tf

from xaikit.errors import InputError, LayerError, ModelError
from xaikit.kernels import layout_from_shape
from xaikit.layer_layout import LayerLayout, decide_layout
from xaikit.methods.gradients import relu_rule_message
from xaikit.spec import LayerInfo, ModelSpec
from xaikit.targets import check_score_values, not_differentiable_error

from .compiled import CompiledFunctions, traced_error, unsupported_here
from .declared_layouts import declared_layout
from .hooks import Capture, forward_hooks, relu_layers, unwrapped
from .layer_kinds import activation_name, index_layers, is_container, layer_kind, model_kind
from .propagation import check_layers

__all__ = ["KerasModelView"]


#: What TensorFlow takes as a name scope: a model or layer named otherwise cannot run inside a ``tf.function``.
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


def _check_scope_names(model: Any, layers: dict[str, Any]) -> None:
    """A :class:`ModelError` naming the model's and layers' names TensorFlow refuses as name scopes (a space, a colon).

    Keras opens a name scope per layer call: such a model runs eagerly but not in a
    compiled function (Keras' own ``model.predict`` fails on it too), and every method
    would fail with TensorFlow's raw ValueError.
    """
    named = [("model", model.name), *(("layer", layer.name) for layer in layers.values())]
    bad = list(dict.fromkeys((what, name) for what, name in named if not _SCOPE_NAME.match(name)))
    if bad:
        shown = ", ".join(f"{what} {name!r}" for what, name in bad)
        what, name = bad[0]
        fixed = re.sub(r"[^A-Za-z0-9_.\\/>-]", "_", name)
        rename = f"model.name = {fixed!r}" if what == "model" else f"model.get_layer({name!r}).name = {fixed!r}"
        raise ModelError(f"model {model.name!r} has names TensorFlow cannot use as name scopes ({shown}): a name may "
                         "hold only letters, digits and _ . / > -, and Keras' own model.predict fails on this model "
                         f"too. Rename them before explaining ({rename}), or when building the model.")


class KerasModelView(CompiledFunctions):
    """A Keras 3 model seen by the native backend; see the module docstring."""

    def __init__(self, model: Any) -> None:
        if not isinstance(model, keras.Model):
            module = type(model).__module__
            if module.startswith(("tf_keras", "tensorflow.python.keras", "keras.src.engine")):
                raise ModelError("this is a tf-keras (Keras 2) model; the native backend explains Keras 3 models "
                                 "(TensorFlow >= 2.16). Re-create or re-load it with Keras 3 "
                                 "(keras.saving.load_model on a .keras/.h5 file).")
            raise ModelError(f"xaikit's Keras backends (tensorflow, tf-explain, shap) explain keras.Model objects; "
                             f"got {type(model).__name__}. "
                             "Wrap a plain function in a keras.Model, or pick the backend for your framework.")
        if not model.built:
            raise ModelError(f"model {model.name!r} has no weights yet (it was never built): call it once on a "
                             "batch, or model.build((None, height, width, channels)), or load the trained model.")
        self._model_ref = weakref.ref(model)
        self.name = model.name
        self.kind = model_kind(model)
        self.layers = index_layers(model)
        _check_scope_names(model, self.layers)
        self.input_shape = self._input_shape(model)
        self.layout = declared_layout(model) or self._layout_from_structure()
        self.final_layer, self.output_activation, self.final_mode = self._final(model)
        self._functions: dict[tuple[Any, ...], Callable[..., Any]] = {}
        self._shape_cache: dict[tuple[int, ...], tuple[dict[str, tuple[int | None, ...]], dict[str, int]]] = {}
        self._specs: dict[tuple[int, ...], ModelSpec] = {}
        self._heads: dict[str, Callable[[Any], Any]] = {}
        self.trace_counts: dict[tuple[Any, ...], int] = {}
        self.top_layers = tuple(layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))
        #: One image's output shape when it is not (K,) class scores (a segmentation map): a score function's model.
        self.output_shape: tuple[int | None, ...] | None = None
        self.n_outputs: int | None = self._n_outputs(model)
        self._spec: ModelSpec | None = None if self.n_outputs is None else self._static_spec(self.n_outputs)
        self.fingerprint: tuple[Any, ...] | None = None
        self._engine: Any = None

    # --------------------------------------------------------------- inspection
    @property
    def model(self) -> Any:
        model = self._model_ref()
        if model is None:  # pragma: no cover - the explainer holds the model
            raise ModelError("the model this view belongs to no longer exists")
        return model

    @property
    def spec(self) -> ModelSpec:
        """What the model takes and returns (for a subclassed model: once described with images)."""
        if self._spec is None:
            raise ModelError(f"the output of subclassed model {self.name!r} is known only after it has been described "
                             "with images (describe(image_shape))")
        return self._spec

    def _static_spec(self, n_outputs: int) -> ModelSpec:
        return ModelSpec(self.input_shape, n_outputs, self.output_activation, tuple(self.layers), self.top_layers,
                         layout=self.layout, framework="keras", name=self.name,
                         output_shape=self.output_shape)  # type: ignore[arg-type]

    def _not_a_classifier(self, shape: tuple[int | None, ...]) -> int:
        """Record an output of one image's ``shape`` other than ``(K,)``; its last axis (the classes of a
        segmentation map) is the recorded width. Only a score function (xaikit.targets) can be explained."""
        self.output_shape = tuple(shape)
        self.output_activation = "unknown"  # no class scores to take a logit or probability of
        return int(shape[-1] or 0)

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        """The model's :class:`~xaikit.ModelSpec` for images of shape ``image_shape`` ``(H, W, C)``.

        Layer kinds and output shapes come from one eager pass on a zero image of that
        shape (cached per shape). If the model declares an input shape the images do not
        fit, the static description is returned (without layer shapes) so that the image
        check says what is wrong.
        """
        if image_shape is None:
            return self._spec if self._spec is not None else self._static_spec(0)
        image_shape = tuple(int(s) for s in image_shape)
        cached = self._specs.get(image_shape)
        if cached is not None:
            return cached
        if len(image_shape) != 3 or any(e is not None and e != a for e, a in zip(self.input_shape, image_shape)):
            return self._spec if self._spec is not None else self._static_spec(0)
        shapes, calls = self.probe(image_shape)
        out = shapes["__output__"]
        if not out:
            raise ModelError(f"model {self.name!r} returns shape (N,); xaikit explains models returning (N, K) class "
                             "scores, or any (N, ...) output through a score function (xaikit.targets).")
        if self._spec is None:
            self.n_outputs = int(out[0]) if len(out) == 1 else self._not_a_classifier(out)
            self._spec = self._static_spec(self.n_outputs)
        finished = [n for n in shapes if n != "__output__"]
        order = finished + [n for n in self.layers if n not in shapes]
        info = self._layer_info(order, shapes, calls, image_shape)
        spec = ModelSpec(self.input_shape, self._spec.n_outputs, self.output_activation, tuple(self.layers),
                         self.top_layers, layout=self.layout, layer_info=info, framework="keras", name=self.name,
                         output_shape=None if len(out) == 1 else tuple(out))  # type: ignore[arg-type]
        self._specs[image_shape] = spec
        return spec

    def _layout_from_structure(self) -> str:
        """The layout of the model's input: NCHW only where the input shape says channels first (1, 3 or 4 entries
        first, not last: the callable backend's rule) *and* the model shows it (a ``Permute`` or a layer computing
        ``data_format="channels_first"``); else Keras' convention, NHWC. A 2-channel image ``(4, 6, 2)`` is not
        read as 4 channels of 6 x 2 pixels. :func:`declare_layout` states it where neither tells."""
        if layout_from_shape(self.input_shape) != "NCHW":
            return "NHWC"
        shows = any(type(layer).__name__ == "Permute" or getattr(layer, "data_format", None) == "channels_first"
                    for layer in self.layers.values())
        return "NCHW" if shows else "NHWC"

    def _in_layout(self, layer: str, shape: tuple[int | None, ...] | None) -> tuple[int | None, ...] | None:
        """A layer's per-image output shape in the model's layout (``(C, h, w)`` for a channels-first model), as
        :class:`~xaikit.ModelSpec` describes layers; the engine still passes layer tensors channels last."""
        if self.layout == "NHWC" or shape is None or len(shape) != 3 or not self.channels_last(layer):
            return shape
        return (shape[2], shape[0], shape[1])

    def channels_last(self, layer: str) -> bool:
        """Whether ``layer`` computes channels last (every Keras layer but those with data_format='channels_first')."""
        return getattr(self.layers.get(layer), "data_format", None) != "channels_first"

    def _layer_info(self, order: list[str], shapes: dict[str, Any], calls: dict[str, int],
                    image_shape: tuple[int, ...]) -> tuple[LayerInfo, ...]:
        """Each layer's :class:`LayerInfo` with its map layout: a 3-D output is channels-last (channels-first for a
        layer built with ``data_format="channels_first"``); a 2-D one is tokens where its count fits a grid of the
        input (:func:`xaikit.layer_layout.decide_layout`)."""
        size = (image_shape[0], image_shape[1])
        layouts: dict[str, Any] = {}
        for name in order:
            shape = shapes.get(name)
            if shape is not None and len(shape) == 3 and layer_kind(self.layers[name]) != "container":
                first = getattr(self.layers[name], "data_format", "channels_last") == "channels_first"
                layouts[name] = decide_layout(shape, "channels_first" if first else "channels_last", size)
        grids = [lay.grid for lay in layouts.values() if isinstance(lay, LayerLayout)]
        for name in order:
            shape = shapes.get(name)
            if shape is not None and len(shape) == 2:
                layouts[name] = decide_layout(shape, None, size, grids)
            elif shape is not None and len(shape) == 3 and name not in layouts:  # a nested model: as its last layer
                layouts[name] = decide_layout(shape, "channels_last", size)
        # layouts are read from the tensors as Keras computes them (channels last but for channels-first layers);
        # the recorded shapes are in the model's layout (a channels-first model's layers as (C, h, w))
        return tuple(LayerInfo(n, layer_kind(self.layers[n]), self._in_layout(n, shapes.get(n)), calls.get(n, 0),
                               layouts[n] if isinstance(layouts.get(n), LayerLayout) else None,
                               layouts[n] if isinstance(layouts.get(n), str) else "") for n in order)

    def _input_shape(self, model: Any) -> tuple[int | None, int | None, int | None]:
        shape = None
        inputs = getattr(model, "inputs", None) if self.kind != "subclassed" else None
        if inputs:
            if len(inputs) != 1:
                raise ModelError(f"model {model.name!r} has {len(inputs)} inputs; xaikit explains image classifiers "
                                 "with one (N, H, W, C) input. Build a single-input wrapper model.")
            shape = tuple(inputs[0].shape)
        else:
            build = getattr(model, "_build_shapes_dict", None) or {}
            if len(build) == 1:
                shape = tuple(next(iter(build.values())))
        if shape is None:  # a subclassed model: the images tell
            return (None, None, None)
        if len(shape) != 4:
            raise ModelError(f"model {model.name!r} takes inputs of shape {shape}; xaikit explains image classifiers "
                             "taking (N, H, W, C) or (N, C, H, W) batches.")
        return (shape[1], shape[2], shape[3])

    def _final(self, model: Any) -> tuple[Any, str, str]:
        """The layer that produces the output, the output activation, and how to get the logit."""
        layer = None
        if self.kind == "sequential":
            layer = model.layers[-1] if model.layers else None
        elif self.kind == "functional":
            outputs = model.outputs
            if len(outputs) != 1:
                names = ", ".join(f"[{i}] {t._keras_history.operation.name!r} (N, {', '.join(map(str, t.shape[1:]))})"
                                  for i, t in enumerate(outputs))
                raise ModelError(f"model {model.name!r} has {len(outputs)} outputs: {names}; xaikit explains one "
                                 "(N, K) output of class scores: say which with output= (its index or its layer's "
                                 "name; command line: --model-output).")
            layer = outputs[0]._keras_history.operation
        while layer is not None and is_container(layer):  # a nested model produces the output
            kind = model_kind(layer)
            if kind == "sequential" and layer.layers:
                layer = layer.layers[-1]
            elif kind == "functional" and len(layer.outputs) == 1:
                layer = layer.outputs[0]._keras_history.operation
            else:
                layer = None
        if layer is None:
            return None, "unknown", "none"
        if isinstance(layer, keras.layers.Softmax):
            return layer, "softmax", "input"
        if isinstance(layer, keras.layers.Activation):
            name = activation_name(unwrapped(layer.activation))
            return layer, (name if name != "other" else "unknown"), ("input" if name != "other" else "none")
        if hasattr(layer, "activation"):
            name = activation_name(unwrapped(layer.activation))
            if name == "other":
                return layer, "unknown", "none"
            return layer, name, "swap"
        return layer, "unknown", "none"

    def _n_outputs(self, model: Any) -> int | None:
        if self.kind == "subclassed":
            return None  # known once described with images
        shape = tuple(model.outputs[0].shape)
        if len(shape) < 2:
            raise ModelError(f"model {self.name!r} returns shape {shape}; xaikit explains models returning (N, K) "
                             "class scores, or any (N, ...) output through a score function (xaikit.targets).")
        return int(shape[1]) if len(shape) == 2 else self._not_a_classifier(shape[1:])

    def probe(self, hwc: tuple[int, ...]) -> tuple[dict[str, tuple[int | None, ...]], dict[str, int]]:
        """Per-image output shape of every layer and how often it ran, for inputs of shape ``hwc``.

        One eager pass on a zero image, cached per shape. The order of the shapes is the
        order in which the layers *finished* during the forward pass, so the last spatial
        entry is the deepest one; ``"__output__"`` is the model's output.
        """
        hwc = tuple(hwc)
        if hwc in self._shape_cache:
            return self._shape_cache[hwc]
        capture = Capture(wanted=frozenset(self.layers))
        try:
            with self._hooks(capture):
                out = self.model(tf.zeros((1, *hwc), tf.float32), training=False)
        except tf.errors.UnimplementedError as exc:
            raise ModelError(unsupported_here(self, exc)) from None
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            order = "channels last" if self.layout == "NHWC" else "channels first"
            raise InputError(f"model {self.name!r} cannot take images of shape (N, {', '.join(map(str, hwc))}) "
                             f"({order}): {first}") from None
        shapes: dict[str, tuple[int | None, ...]] = {}
        for name, tensor in capture.outputs.items():
            if hasattr(tensor, "shape"):
                shapes[name] = tuple(tensor.shape)[1:]
        shapes["__output__"] = tuple(getattr(out, "shape", ()))[1:]
        self._shape_cache[hwc] = (shapes, dict(capture.calls))
        return self._shape_cache[hwc]

    # ------------------------------------------------------------------- hooks
    def _hooks(self, capture: Capture, relu_rule: str | None = None,
               propagation: Any = None) -> contextlib.AbstractContextManager[Capture]:
        """Record the wanted layers' outputs (and the final layer's logit) during one forward pass: see
        :func:`.hooks.forward_hooks`."""
        return forward_hooks(self.layers, self.final_layer, self.final_mode, capture, relu_rule, propagation)

    def check_relus(self, rule: str) -> None:
        """Raise :class:`ModelError` when ``rule`` (guided, deconvnet) would reach no ReLU (plain gradients)."""
        if not relu_layers(self.layers):
            raise ModelError(relu_rule_message(self.name, rule, "ReLU activation or ReLU layer"))

    def check_propagation(self, rule: Any, score: Any) -> None:
        """Raise :class:`ModelError` naming the layers DeepLift's / LRP's ``rule`` cannot go through."""
        check_layers(self.layers, self.name, rule, self.final_layer, self.final_mode, score, is_container)

    def check_channels_last(self, layer: str) -> None:
        """Layer tensors cross the engine boundary channels-last: a ``channels_first`` layer is refused by name."""
        if not self.channels_last(layer):
            raise LayerError(f"layer {layer!r} of model {self.name!r} computes channels first (data_format="
                             "'channels_first'); xaikit reads layer activations channels last. Pick a channels-last "
                             "layer (after a Permute((2, 3, 1))) or a method at the input.")

    def forward(self, x: Any, capture: Sequence[str] = (), relu_rule: str | None = None,
                propagation: Any = None) -> Capture:
        """Run the model on ``x`` (inside a traced function), recording layers and logits."""
        cap = Capture(wanted=frozenset(capture))
        with self._hooks(cap, relu_rule, propagation):
            cap.outputs["__output__"] = self.model(x, training=False)
        for name in capture:
            if cap.calls.get(name, 0) > 1:
                raise LayerError(f"layer {name!r} is called {cap.calls[name]} times in one forward pass (a shared "
                                 "layer); its output is ambiguous. Pick a layer that is used once.")
            if name not in cap.outputs:
                raise LayerError(f"layer {name!r} was not called during the forward pass; pick a layer on the path "
                                 "from input to output.")
        return cap

    # ------------------------------------------------------------------ scores
    def class_scores(self, cap: Capture, score: Any) -> Any:
        """``(N, n_classes)`` scores to explain, per ``score`` (see xaikit.explainer.resolve_score).

        A score function (:mod:`xaikit.targets`) gives one column: the function of the raw
        output, traced into the compiled function.
        """
        out = cap.outputs["__output__"]
        if callable(score):
            value = score(out)
            try:
                check_score_values(score, value, None)
                if not tf.is_tensor(value):
                    raise not_differentiable_error(score, f"a {type(value).__module__}.{type(value).__qualname__}, "
                                                          "not a TensorFlow tensor")
            except InputError as exc:
                raise traced_error(exc) from None
            return tf.cast(value, tf.float32)[:, None]
        binary = self.spec.binary
        if score == "logit":
            z = out if self.output_activation == "linear" and cap.logits is None else cap.logits
            if z is None:  # pragma: no cover - resolve_score prevents this
                raise ModelError("the logit of this model is not available")
            z = tf.cast(z, tf.float32)
            return tf.concat([-z, z], axis=1) if binary else z
        out = tf.cast(out, tf.float32)
        if binary and self.output_activation == "sigmoid":
            return tf.concat([1.0 - out, out], axis=1)
        if binary:  # a single logit output: "output" is the logit
            return tf.concat([-out, out], axis=1)
        return out

    def predicted(self, cap: Capture) -> Any:
        """Predicted class per row, the rule of xaikit.explainer.predicted_classes."""
        out = tf.cast(cap.outputs["__output__"], tf.float32)
        if self.spec.binary:
            return tf.cast(out[:, 0] > self.spec.binary_threshold, tf.int32)
        return tf.argmax(out, axis=1, output_type=tf.int32)

    # ------------------------------------------------------------------- heads
    def head(self, layer: str) -> Callable[[Any], Any]:
        """The model above ``layer``: a function from that layer's output to the model output.

        Used inside traced functions, under :meth:`_hooks`, so that the logit of the
        final layer is recorded. Sequential models run their remaining layers; Functional
        models get a sub-model from the layer's output tensor; otherwise (nested layer,
        subclassed model, or a layer other paths bypass) a :class:`LayerError` says why.
        """
        if layer in self._heads:
            return self._heads[layer]
        model = self.model
        top_level = [lyr for lyr in model.layers if not isinstance(lyr, keras.layers.InputLayer)]
        target = self.layers[layer]
        if not any(lyr is target for lyr in top_level):
            raise LayerError(f"layer {layer!r} is inside a nested model; methods that feed activations at a layer need "
                             f"a top-level layer of {self.name!r}: {', '.join(lyr.name for lyr in top_level)}")
        if self.kind == "sequential":
            index = next(i for i, lyr in enumerate(top_level) if lyr is target)
            rest = top_level[index + 1:]

            def run(a: Any) -> Any:
                for lyr in rest:
                    a = lyr(a, training=False)
                return a
        elif self.kind == "functional":
            try:
                sub = keras.Model(target.output, model.outputs[0])
            except Exception as exc:  # noqa: BLE001 - Keras raises many types for a graph it cannot cut
                raise LayerError(f"the model above layer {layer!r} cannot be computed from that layer's output alone "
                                 f"(another path bypasses it, e.g. a residual connection): {exc}. Pick a layer that "
                                 "cuts the network in two, such as a block output.") from None

            def run(a: Any) -> Any:
                return sub(a, training=False)
        else:
            raise LayerError(f"model {self.name!r} is a subclassed keras.Model: xaikit cannot run only the part above "
                             f"layer {layer!r}. Use a Functional or Sequential model for layer-level expected "
                             "gradients.")
        self._heads[layer] = run
        return run

    def run_head(self, layer: str, a: Any) -> Capture:
        """Run the head above ``layer`` on activations ``a``, recording the logit."""
        run = self.head(layer)
        cap = Capture(wanted=frozenset())
        with self._hooks(cap):
            cap.outputs["__output__"] = run(a)
        return cap
