"""Class activation maps: Grad-CAM and Grad-CAM++ (computed in-graph, one pass per chunk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.errors import LayerError
from xaikit.explainer import Attribution, ModelSpec
from xaikit.validation import check_bool

from ._base import TFExplainer, chunks
from ._keras import KerasModelView

__all__ = ["TFGradCAM", "TFGradCAMPlusPlus", "auto_layer"]


def auto_layer(view: KerasModelView, hwc: tuple[int, int, int], method: str) -> str:
    """The last layer (in execution order) with a 4-D output, as tf-explain and the seeds pick it."""
    spatial = view.spatial_layers(hwc)
    if not spatial:
        raise LayerError(f"model {view.name!r} has no layer with a spatial (N, h, w, C) output, so {method} has no "
                         f"feature maps to weight; its layers are: {', '.join(view.layers)}")
    return spatial[-1]


def _gradcam_weights(activations: Any, grads: Any) -> Any:
    """Grad-CAM: the spatial mean of the gradient per channel (alpha_k^c in the paper)."""
    return tf.reduce_mean(grads, axis=(1, 2))


def _gradcam_plus_plus_weights(activations: Any, grads: Any) -> Any:
    """Grad-CAM++ weights, eq. 19 of the paper with the exponential-score closed form."""
    g2 = tf.square(grads)
    g3 = g2 * grads
    sum_a = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
    denominator = 2.0 * g2 + sum_a * g3
    alpha = tf.where(grads != 0, tf.math.divide_no_nan(g2, denominator), tf.zeros_like(g2))
    return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))


class TFGradCAM(TFExplainer):
    """Grad-CAM: feature maps weighted by their mean gradient, rectified.

    :math:`L^c = \\mathrm{ReLU}(\\sum_k \\alpha_k^c A^k)` with
    :math:`\\alpha_k^c = \\frac{1}{hw}\\sum_{ij} \\partial S_c / \\partial A^k_{ij}`;
    upsampled bilinearly to the input size (the layer-resolution map is kept in
    ``layer_attributions``).

    Parameters
    ----------
    model : keras.Model
    layer : str or None
        Layer whose output is weighted; ``None`` = the last layer with a 4-D output.
        Any layer works: a conv, an activation after BatchNorm, one inside a nested model.
    relu : bool, default True
        Apply the final ReLU of the definition; ``False`` keeps negative evidence.
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017.
    """

    method = "gradcam"
    _weights: Callable[[Any, Any], Any] = staticmethod(_gradcam_weights)

    def __init__(self, model: Any, *, layer: str | None = None, relu: bool = True, batch_size: int = 32,
                 score: str | None = None) -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.layer = layer
        self.relu = relu

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        view, hwc = self._view(), tuple(images.shape[1:])
        if self.layer is None:
            params["layer"] = auto_layer(view, hwc, self.method)
        else:
            params["layer"] = view.check_layer(self.layer, hwc, spatial=True, method=self.method)
        params["relu"] = check_bool("relu", self.relu)
        return params

    def _function(self, view: KerasModelView, params: dict[str, Any], hwc: tuple[int, ...]) -> Callable[..., Any]:
        layer, score, relu, weights_of = params["layer"], params["score"], params["relu"], type(self)._weights

        def build() -> Callable[..., Any]:
            def fn(x: Any, t: Any) -> Any:
                with tf.GradientTape() as tape:
                    cap = view.forward(x, capture=[layer])
                    activations = cap.outputs[layer]
                    t_used = tf.where(t < 0, view.predicted(cap), t)
                    s = tf.gather(view.class_scores(cap, score), t_used, batch_dims=1)
                grads = tf.cast(tape.gradient(s, activations), tf.float32)
                activations = tf.cast(activations, tf.float32)
                weights = weights_of(activations, grads)
                cam = tf.reduce_sum(activations * weights[:, None, None, :], axis=-1)
                if relu:
                    cam = tf.nn.relu(cam)
                return cam, tf.cast(cap.outputs["__output__"], tf.float32), t_used
            return fn

        key = (self.method, layer, score, relu, hwc)
        return view.compiled(key, build, [view.image_spec(hwc), tf.TensorSpec([None], tf.int32)])

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        fn = self._function(view, params, tuple(images.shape[1:]))
        t_in = self._targets_for_graph(targets, len(images))
        maps, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            cam, out, t = fn(images[s], t_in[s])
            maps.append(cam.numpy())
            outputs.append(out.numpy())
            used.append(t.numpy())
        return Attribution(np.concatenate(maps), np.concatenate(outputs), np.concatenate(used), at_layer=True)


class TFGradCAMPlusPlus(TFGradCAM):
    """Grad-CAM++: per-location weights from the second and third powers of the gradient.

    :math:`w_k^c = \\sum_{ij} \\alpha^{kc}_{ij} \\mathrm{ReLU}(\\partial S_c/\\partial A^k_{ij})`,
    :math:`\\alpha^{kc}_{ij} = \\frac{g^2}{2 g^2 + \\sum_{ab} A^k_{ab}\\, g^3}` (the closed
    form the paper derives for an exponential score, as in its reference code and
    pytorch-grad-cam). Parameters as :class:`TFGradCAM`.

    References
    ----------
    Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations for
    Deep Convolutional Networks", WACV 2018.
    """

    method = "gradcam++"
    _weights = staticmethod(_gradcam_plus_plus_weights)
