"""Class activation maps: Grad-CAM and Grad-CAM++, written once on the engine's layer gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..explainer import Attribution
from ..kernels import chunks, gradcam_plus_plus_weights, gradcam_weights, weighted_cam
from .base import EngineExplainer, graph_targets

__all__ = ["GradCAM", "GradCAMPlusPlus"]


class GradCAM(EngineExplainer):
    """Grad-CAM: feature maps weighted by their mean gradient, rectified.

    :math:`L^c = \\mathrm{ReLU}(\\sum_k \\alpha_k^c A^k)` with
    :math:`\\alpha_k^c = \\frac{1}{hw}\\sum_{ij} \\partial S_c / \\partial A^k_{ij}`;
    upsampled bilinearly to the input size (the layer-resolution map is kept in
    ``layer_attributions``). A CAM variant only changes the channel weights.

    Parameters
    ----------
    model
    layer : str or None
        Layer whose output is weighted; ``None`` = the output of the last convolution
        block (:func:`xaikit.spec.default_cam_layer`).
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
    channel_weights: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray]] = staticmethod(gradcam_weights)

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        engine = self._engine()
        t_in = graph_targets(targets, len(images))
        weights_of = type(self).channel_weights
        maps, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            acts, grads, out, t = engine.layer_gradients(images[s], t_in[s], params["score"], params["layer"])
            maps.append(weighted_cam(acts, weights_of(acts, grads), params["relu"]))
            outputs.append(out)
            used.append(t)
        return Attribution(np.concatenate(maps), np.concatenate(outputs), np.concatenate(used), at_layer=True)


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++: per-location weights from the second and third powers of the gradient.

    :math:`w_k^c = \\sum_{ij} \\alpha^{kc}_{ij} \\mathrm{ReLU}(\\partial S_c/\\partial A^k_{ij})`,
    :math:`\\alpha^{kc}_{ij} = \\frac{g^2}{2 g^2 + \\sum_{ab} A^k_{ab}\\, g^3}` (the closed
    form the paper derives for an exponential score, as in its reference code and
    pytorch-grad-cam). Parameters as :class:`GradCAM`.

    References
    ----------
    Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual Explanations for
    Deep Convolutional Networks", WACV 2018.
    """

    method = "gradcam++"
    channel_weights = staticmethod(gradcam_plus_plus_weights)
