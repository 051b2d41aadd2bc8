"""Grad-CAM through tf-explain's ``GradCAM.get_gradients_and_filters`` and ``generate_ponderated_output``."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tf_explain.core.grad_cam import GradCAM
from xaikit_tensorflow.adapters import KerasModelView

from xaikit.catalogue import SHARED, Param
from xaikit.errors import LayerError, ModelError
from xaikit.explainer import Attribution, CallContext, ModelSpec

from ._base import TFXExplainer, by_target, chunks

__all__ = ["TFXGradCAM", "tfexplain_auto_layer"]


def tfexplain_auto_layer(view: KerasModelView, hwc: tuple[int, int, int]) -> str:
    """tf-explain's ``infer_grad_cam_target_layer``: the last *top-level* layer with a 4-D output.

    tf-explain walks ``reversed(model.layers)`` and tests ``len(layer.output_shape) == 4``;
    ``output_shape`` no longer exists in Keras 3, so the shapes come from xaikit's probe
    pass instead. Like tf-explain, a nested model counts as one layer (its output).
    """
    spec = view.describe(hwc)
    shapes = {info.name: info.output_shape for info in spec.layer_info}
    top_level = [layer.name for layer in view.model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for name in reversed(top_level):
        shape = shapes.get(name)
        if shape is not None and len(shape) == 3:
            return name
    raise LayerError(f"model {view.name!r} has no top-level layer with a 4-D (N, h, w, C) output, so tf-explain's "
                     f"Grad-CAM has no feature maps to weight (tf-explain raises 'Model does not seem to contain 4D "
                     f"layer'); name a layer explicitly among: {', '.join(spec.spatial_layers()) or 'none'}")


class TFXGradCAM(TFXExplainer):
    """tf-explain's Grad-CAM, as raw per-image float maps.

    For each image, ``GradCAM.get_gradients_and_filters`` runs a
    ``Model(inputs, [layer.output, model.output])`` under a ``GradientTape`` and
    differentiates ``model.output[:, class_index]``; with ``guided=True`` it keeps
    ``(A > 0) * (g > 0) * g`` (positive gradients at positive activations only).
    ``GradCAM.generate_ponderated_output`` then computes, per image,
    :math:`\\sum_k \\mathrm{mean}_{ij}(g_k)\\, A_k` -- **without** the final ReLU of the
    paper (tf-explain min-max normalises the signed map for display instead).

    Differences from the native ``TFGradCAM`` (and how to make them agree):

    - score: tf-explain differentiates the model's output, i.e. the **probability** of a
      softmax/sigmoid model; native defaults to the logit. Native ``score="probability"``
      matches (or pass ``score="logit"`` here: xaikit hands tf-explain a graph whose
      output is the logit).
    - guided gradients (``guided=True``, tf-explain's default) have no native
      counterpart; ``guided=False`` is the paper's gradient.
    - no ReLU (``relu=False`` here, ``relu=True`` native); set either to agree.
    - layer auto-detection: tf-explain takes the last *top-level* layer with a 4-D
      output (a nested base model counts as one layer); native takes the deepest layer
      with a 4-D output in execution order, inside nested models too. Name the layer to
      compare.
    - upsampling: tf-explain's display resize ``cv2.resize(cam, (W, H))`` is bilinear and
      correctly oriented; xaikit upsamples the same way, keeping the layer-resolution map
      in ``layer_attributions``.

    Images are sent ``batch_size`` at a time, grouped by target (tf-explain takes one
    ``class_index`` per call). ``extras["weights"]`` holds the channel weights
    ``mean_ij(g)`` of each image.

    Parameters
    ----------
    model : keras.Model
        Functional, Sequential (also never called symbolically) or nested; layers inside
        a subclassed model cannot be used (:class:`~xaikit.errors.ModelError`).
    layer : str or None
        ``None``: tf-explain's rule (last top-level layer with a 4-D output).
    guided : bool, default True
        tf-explain's ``use_guided_grads``.
    relu : bool, default False
        Rectify the map (the paper's definition; tf-explain does not).
    batch_size : int, default 32
    score : {None, "probability", "output", "logit"}
        ``None``: the model's output, as tf-explain.
    """

    method = "gradcam"
    param_changes = {
        "layer": SHARED["layer"].with_default(None, "The layer whose output is used; None: tf-explain's rule (the "
                                                    "last top-level layer with a 4-D output)."),
        "relu": SHARED["relu"].with_default(False, "Rectify the map (the paper's definition; tf-explain does not)."),
        "layer_layout": None,  # tf-explain reads every layer as Keras' (N, h, w, C)
        "eigen_smooth": None, "aug_smooth": None,  # pytorch-grad-cam's options: not tf-explain's
        "guided": Param("guided", "bool", True, "tf-explain's use_guided_grads: keep only positive gradients at "
                        "positive activations (no native counterpart; False is the paper's gradient)."),
    }
    aligned_params = {"guided": False}

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        if layer is None:
            return tfexplain_auto_layer(self._view(), tuple(images.shape[1:]))
        return spec.check_layer(layer, spatial=True, method="Grad-CAM")

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        layer = self._view().layers[params["layer"]]
        if params["guided"] and str(getattr(layer, "compute_dtype", "float32")) != "float32":
            raise ModelError(f"layer {params['layer']!r} computes in {layer.compute_dtype} (mixed precision): "
                             "tf-explain's guided Grad-CAM multiplies float32 masks with its gradients and fails "
                             "on them. Pass guided=False (the paper's gradient), or use backend='tensorflow'.")
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        graph = self._graph(params["score"])
        layer = params["layer"]
        graph.tensor_of(layer, "Grad-CAM")  # a clear error for shared layers / subclassed internals
        outputs, targets = ctx.outputs_and_targets()
        h, w, k = ctx.spec.layer(layer).output_shape
        maps = np.zeros((len(images), h, w), np.float32)
        weights = np.zeros((len(images), k), np.float32)
        for c, indices in by_target(targets):
            for s in chunks(len(indices), params["batch_size"]):
                rows = indices[s]
                conv, grads = GradCAM.get_gradients_and_filters(graph, images[rows], layer, c, params["guided"])
                cams = GradCAM.generate_ponderated_output(conv, grads)
                maps[rows] = np.stack([np.asarray(cam, np.float32) for cam in cams])
                weights[rows] = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2)).numpy()
        if params["relu"]:
            maps = np.maximum(maps, 0.0)
        return Attribution(maps, outputs, targets, at_layer=True, extras={"weights": weights})
