"""Keras 3 plumbing for handing a model to shap the TF2 way.

SHAP's old recipe (``GradientExplainer((model.layers[7].input, model.layers[-1].output),
map2layer(x, 7))`` with ``K.get_session()``) needs TF1 graphs. In TF2 the model is
split instead: a *feature extractor* (input -> the layer's output) maps the background
and the images, and shap gets the *head* (the layer's output -> the explained scores)
as a real ``keras.Model`` with one input, which is what ``shap.GradientExplainer``
needs (it reads ``model.inputs``/``model.outputs`` and calls it on a list of tensors).

The cut, its checks and its error messages are the native backend's
(:meth:`xaikit_tensorflow._keras.KerasModelView.head`): a Sequential model runs its
remaining layers, a Functional one a sub-model from the layer's output, and a nested
layer, a residual (bypassed) cut or a subclassed model raise :class:`~xaikit.LayerError`.

The user's layers are never called on new symbolic tensors (that would add nodes to
their graph): the head is one wrapper layer whose ``call`` runs them, and the wrapper
declares its output shape so Keras need not trace it symbolically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
from xaikit_tensorflow.adapters import KerasModelView

__all__ = ["features_function", "head_model", "score_function"]


class _ScoreHead(keras.layers.Layer):
    """One Keras layer that runs a Python function of a tensor returning ``(N, K)`` scores."""

    def __init__(self, fn: Callable[[Any], Any], n_outputs: int, **kwargs: Any) -> None:
        super().__init__(trainable=False, **kwargs)
        self._xaikit_fn = fn
        self._xaikit_n_outputs = int(n_outputs)

    def call(self, inputs: Any) -> Any:
        return self._xaikit_fn(inputs)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return (input_shape[0], self._xaikit_n_outputs)


def score_function(view: KerasModelView, layer: str | None, score: str) -> Callable[[Any], Any]:
    """``a -> (N, n_classes)`` float32 scores of the model above ``layer`` (the whole model if None).

    ``"probability"``/``"output"`` run only the user's Keras layers (the model, or the
    native view's head above the layer): shap sees the model output as it is, the way a
    user calling shap directly would. A single-sigmoid model becomes two columns
    ``[1 - p, p]`` so classes 0 and 1 are explainable and rankable like everywhere else
    in xaikit. ``"logit"`` reads the pre-activation of the last layer through the native
    view's hooks (a fused ``Dense(activation="softmax")`` has no Keras tensor for it).
    """
    binary = view.spec.binary
    if score == "logit":
        def logits(a: Any) -> Any:
            cap = view.forward(a) if layer is None else view.run_head(layer, a)
            return view.class_scores(cap, "logit")
        return logits

    above = None if layer is None else view.head(layer)

    def outputs(a: Any) -> Any:
        out = view.model(a, training=False) if above is None else above(a)
        out = tf.cast(out, tf.float32)
        if not binary:
            return out
        # two classes: [1 - p, p] for a sigmoid, [-z, z] for a single logit output
        return tf.concat([1.0 - out, out] if view.spec.output_activation == "sigmoid" else [-out, out], axis=1)
    return outputs


def head_model(view: KerasModelView, layer: str | None, score: str, feature_shape: tuple[int, ...]) -> Any:
    """The ``keras.Model`` handed to shap: ``feature_shape`` activations (or images) -> scores.

    Its single input is declared as a list so that shap, which calls the model on a
    list of tensors, matches the structure Keras expects.
    """
    inp = keras.Input(feature_shape, name="shap_input")
    out = _ScoreHead(score_function(view, layer, score), view.spec.n_classes, name="xaikit_scores")(inp)
    suffix = "input" if layer is None else layer.replace("/", "_")
    return keras.Model([inp], out, name=f"{view.name}_above_{suffix}")


def features_function(view: KerasModelView, layer: str, hwc: tuple[int, ...]) -> Callable[[Any], Any]:
    """Compiled ``images -> outputs of layer`` (the feature extractor), float32."""

    def build() -> Callable[..., Any]:
        def fn(x: Any) -> Any:
            return tf.cast(view.forward(x, capture=[layer]).outputs[layer], tf.float32)
        return fn

    return view.compiled(("shap_features", layer, hwc), build, [view.image_spec(hwc)])
