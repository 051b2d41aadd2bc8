"""Class activation maps from a layer's gradients, written once on the engine's layer gradients.

Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM and LayerCAM differ only in the weights of the
activations (:mod:`xaikit.kernels.cam`); Guided Grad-CAM multiplies Grad-CAM by guided
backpropagation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..call_context import CallContext
from ..errors import InputError
from ..explainer import Attribution, ModelSpec
from ..kernels import (
    CAM_AUGMENTATIONS,
    augment_images,
    chunks,
    gradcam_plus_plus_weights,
    gradcam_weights,
    hirescam_weights,
    layercam_weights,
    reduce_channels,
    resize_maps,
    scale_layer_maps,
    weighted_cam,
    xgradcam_weights,
)
from .base import EngineExplainer

__all__ = ["GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "GuidedGradCAM"]


class GradCAM(EngineExplainer):
    """Grad-CAM: feature maps weighted by their mean gradient, rectified.

    :math:`L^c = \\mathrm{ReLU}(\\sum_k \\alpha_k^c A^k)` with
    :math:`\\alpha_k^c = \\frac{1}{hw}\\sum_{ij} \\partial S_c / \\partial A^k_{ij}`;
    upsampled bilinearly to the input size (the layer-resolution map is kept in
    ``layer_attributions``). A CAM variant only changes the weights
    (:attr:`channel_weights`: one per channel, or one per location and channel).

    Parameters
    ----------
    model
    layer : str, list of str or None
        Layer whose output is weighted; ``None`` = the output of the last convolution
        block (:func:`xaikit.spec.default_cam_layer`). Several layers (pytorch-grad-cam's
        ``target_layers``): each layer's map is min-max scaled to [0, 1] as the library
        scales it (divided by its largest absolute value with ``relu=False``, keeping the
        sign), upsampled to the input, and the maps are averaged; one pass per layer; no
        ``layer_attributions``.
    relu : bool, default True
        Apply the final ReLU of the definition; ``False`` keeps negative evidence.
    eigen_smooth : bool, default False
        pytorch-grad-cam's: each image's weighted activations (``weights * A``) projected on
        their first principal component (centred over locations) instead of summed over
        channels; the sign is the one agreeing with the channel sum (the library keeps
        whatever sign the SVD returns).
    aug_smooth : bool, default False
        pytorch-grad-cam's test-time augmentation: the image flipped horizontally or not and
        multiplied by 0.9, 1.0 and 1.1; the CAM of each (for the classes of the image
        itself) min-max scaled, upsampled and scaled again as the library scales it (the
        multiplied images' maps have other magnitudes), flipped back, and the 6 maps
        averaged. 6 passes (per layer).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017.
    """

    method = "gradcam"
    #: ``(activations, gradients) -> weights``, ``(N, C)`` or ``(N, h, w, C)`` (channels-last arrays).
    channel_weights: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray]] = staticmethod(gradcam_weights)

    #: Whether ``layer`` may name several layers and ``eigen_smooth`` / ``aug_smooth`` apply (not guided Grad-CAM).
    several_layers: ClassVar[bool] = True

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> Any:
        if not (self.several_layers and isinstance(layer, (list, tuple))):
            return super()._resolve_layer(layer, spec, images)
        names = [super(GradCAM, self)._resolve_layer(name, spec, images) for name in layer]
        if not names or len(set(names)) != len(names):
            raise InputError(f"layer={list(layer)!r}: give one layer, or a list of distinct layers whose maps are "
                             "averaged (each min-max scaled, as pytorch-grad-cam's aggregate_multi_layers).")
        return names if len(names) > 1 else names[0]

    def _layer_of_params(self, params: Mapping[str, Any]) -> str | None:
        layer = params.get("layer")
        return " + ".join(layer) if isinstance(layer, list) else layer

    def _layer_cams(self, ctx: CallContext, relu: bool, layer: str | None = None, layout: Any = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(maps at layer resolution, outputs, targets used)`` of one layer, one engine pass per chunk."""
        engine, images, params = ctx.engine, ctx.images, ctx.params
        layer = params["layer"] if layer is None else layer
        layout = params["_layout"] if layout is None else layout
        eigen = bool(params.get("eigen_smooth", False))
        t_in = ctx.graph_targets()
        weights_of = type(self).channel_weights
        maps, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            acts, grads, out, t = engine.layer_gradients(images[s], t_in[s], params["score"], layer, layout=layout)
            maps.append(weighted_cam(acts, weights_of(acts, grads), relu, eigen_smooth=eigen))
            outputs.append(out)
            used.append(t)
        return np.concatenate(maps), np.concatenate(outputs), np.concatenate(used)

    def _input_cams(self, ctx: CallContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Maps at input resolution to be averaged (several layers, augmentations), as pytorch-grad-cam computes
        them: each layer's map min-max scaled (:func:`~xaikit.kernels.scale_layer_maps`) at its resolution,
        upsampled, and the layers' maps averaged."""
        size, params = ctx.image_size, ctx.params
        several = isinstance(params["layer"], list)
        layers = zip(params["layer"], params["_layouts"]) if several else [(params["layer"], params["_layout"])]
        total = np.zeros((ctx.n, *size), np.float64)
        for layer, layout in layers:
            maps, outputs, used = self._layer_cams(ctx, params["relu"], layer, layout)
            total += resize_maps(scale_layer_maps(maps, signed=not params["relu"]), size, interpolation="bilinear")
            if ctx.targets is None:  # every layer explains the first layer's classes
                ctx = ctx.with_targets(used)
        return (total / (len(params["layer"]) if several else 1)).astype(np.float32), outputs, used

    def _attribute(self, ctx: CallContext) -> Attribution:
        params = ctx.params
        if not isinstance(params["layer"], list) and not params.get("aug_smooth", False):
            maps, outputs, used = self._layer_cams(ctx, params["relu"])
            return Attribution(maps, outputs, used, at_layer=True)
        maps, outputs, used = self._input_cams(ctx)
        if not params.get("aug_smooth", False):
            return Attribution(maps, outputs, used)
        # test-time augmentation: the classes of the image itself; each augmented image's map scaled again as the
        # library scales it (its aggregate_multi_layers), flipped back; the mean of the 6
        fixed = used if ctx.targets is None else ctx.targets
        width_axis = 2 if ctx.layout == "NHWC" else 3
        total = np.zeros(maps.shape, np.float64)
        for flip, factor in CAM_AUGMENTATIONS:
            augmented = maps if not flip and factor == 1.0 else \
                self._input_cams(dataclasses.replace(ctx, images=augment_images(ctx.images, flip, factor, width_axis),
                                                     targets=fixed))[0]
            scaled = scale_layer_maps(augmented, signed=not params["relu"])
            total += scaled[:, :, ::-1] if flip else scaled
        return Attribution((total / len(CAM_AUGMENTATIONS)).astype(np.float32), outputs, used)


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


class XGradCAM(GradCAM):
    """XGrad-CAM: each channel's gradient averaged with the channel's normalised activations as weights.

    :math:`w_k = \\sum_{ij} \\frac{A^k_{ij}}{\\sum_{ab} A^k_{ab}} \\frac{\\partial S_c}{\\partial A^k_{ij}}`,
    :math:`L = \\mathrm{ReLU}(\\sum_k w_k A^k)`; a channel whose activations sum to 0 gets
    weight 0 (pytorch-grad-cam adds ``1e-7`` to the denominator instead). Parameters as
    :class:`GradCAM`.

    References
    ----------
    Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of
    CNNs", BMVC 2020.
    """

    method = "xgradcam"
    channel_weights = staticmethod(xgradcam_weights)


class HiResCAM(GradCAM):
    """HiResCAM: activations times the gradient location by location, summed over channels.

    :math:`L = \\mathrm{ReLU}(\\sum_k \\frac{\\partial S_c}{\\partial A^k} \\odot A^k)`. Where the
    gradient is the same at every location (a global-average-pooling head) it equals
    Grad-CAM; elsewhere it keeps where each channel's gradient is large instead of
    averaging it away. Parameters as :class:`GradCAM`.

    References
    ----------
    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks", 2020, arXiv:2011.08891.
    """

    method = "hirescam"
    channel_weights = staticmethod(hirescam_weights)


class LayerCAM(GradCAM):
    """LayerCAM: activations times the positive part of the gradient, location by location.

    :math:`L = \\mathrm{ReLU}(\\sum_k \\mathrm{ReLU}(\\frac{\\partial S_c}{\\partial A^k}) \\odot A^k)`,
    usable at shallow layers where Grad-CAM's averaged gradients blur. Parameters as
    :class:`GradCAM`.

    References
    ----------
    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE Transactions on Image Processing 30, 2021.
    """

    method = "layercam"
    channel_weights = staticmethod(layercam_weights)


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map, pixel by pixel.

    :math:`A = \\mathrm{GB}(x) \\odot \\mathrm{up}(L^c_{\\text{Grad-CAM}})`, per input channel
    (in ``channel_attributions``), then reduced with ``channel_reduce``. Grad-CAM is the
    rectified map of :class:`GradCAM`, upsampled bilinearly as every CAM is; it is not
    min-max scaled (pytorch-grad-cam scales it to [0, 1] first, which changes each map by
    a positive factor). The Grad-CAM map at layer resolution is in
    ``extras["gradcam"]``. Two passes per image: one down to the layer, one guided pass to
    the input.

    Parameters
    ----------
    model
    layer : str or None
        As in :class:`GradCAM`.
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    batch_size, score
        As in :class:`GradCAM`.

    References
    ----------
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017.
    """

    method = "guided_gradcam"
    channel_weights = staticmethod(gradcam_weights)
    several_layers = False

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, spec, images, params = ctx.engine, ctx.spec, ctx.images, ctx.params
        cams, outputs, used = self._layer_cams(ctx, relu=True)
        upsampled = resize_maps(cams, ctx.image_size, interpolation="bilinear")
        t_used = used.astype(np.int32)
        guided = []
        for s in chunks(len(images), params["batch_size"]):
            guided.append(engine.input_gradients(images[s], t_used[s], params["score"], rule="guided")[0])
        channels = np.concatenate(guided) * np.expand_dims(upsampled, spec.channel_axis)
        maps = reduce_channels(channels, params["channel_reduce"], axis=spec.channel_axis)
        return Attribution(maps, outputs, used, channels=channels, extras={"gradcam": cams})
