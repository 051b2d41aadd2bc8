"""Class activation maps from a layer's gradients, written once on the engine's layer gradients.

Grad-CAM, Grad-CAM++, XGrad-CAM, HiResCAM and LayerCAM differ only in the weights of the
activations (:mod:`xaikit.kernels.cam`); Eigen-Grad-CAM projects HiResCAM's weighted
activations on their first principal component; Guided Grad-CAM multiplies Grad-CAM by
guided backpropagation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, shared
from ..catalogue.parts import (
    GRAD_CAM_PARAMS,
    GRADCAM_PAPER,
    GUIDED,
    LAYERS,
    guided_gradcam_floor,
    layer_gradients_floor,
)
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

__all__ = ["GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "EigenGradCAM", "GuidedGradCAM"]


class GradCAM(EngineExplainer, schema=MethodSchema(
        "gradcam", "Grad-CAM",
        "ReLU of the feature maps of a layer weighted by the spatial mean of the target score's "
        "gradient with respect to them, upsampled to the input.",
        GRADCAM_PAPER,
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k a_k A^k),  a_k = mean_ij dS_t/dA^k_ij",
        example_params={"layer": "bn_relu"},
        docs=DocsEntry("Grad-CAM", "feature maps weighted by their mean gradient, ReLU",
                       "1 forward + 1 backward", "Selvaraju et al. 2017"))):
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

    #: ``(activations, gradients) -> weights``, ``(N, C)`` or ``(N, h, w, C)`` (channels-last arrays).
    channel_weights: ClassVar[Callable[[np.ndarray, np.ndarray], np.ndarray]] = staticmethod(gradcam_weights)

    #: Whether ``layer`` may name several layers and ``eigen_smooth`` / ``aug_smooth`` apply (not guided Grad-CAM).
    several_layers: ClassVar[bool] = True
    #: Whether the weighted activations are always projected on their first principal component (Eigen-Grad-CAM's
    #: definition) rather than only with ``eigen_smooth=True``.
    eigen_projection: ClassVar[bool] = False

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
        eigen = type(self).eigen_projection or bool(params.get("eigen_smooth", False))
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


class GradCAMPlusPlus(GradCAM, schema=MethodSchema(
        "gradcam++", "Grad-CAM++",
        "Grad-CAM with per-location weights from second and third powers of the gradient "
        "(the closed form for an exponential score).",
        "Chattopadhay et al., 'Grad-CAM++: Generalized Gradient-based Visual Explanations for "
        "Deep Convolutional Networks', WACV 2018.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="w_k = sum_ij alpha_ij ReLU(g_ij),  alpha_ij = g^2 / (2 g^2 + sum_ab A_ab g^3)",
        docs=DocsEntry("Grad-CAM++", "Grad-CAM with higher-order pixel weights",
                       "1 forward + 1 backward", "Chattopadhay et al. 2018"))):
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

    channel_weights = staticmethod(gradcam_plus_plus_weights)


class XGradCAM(GradCAM, schema=MethodSchema(
        "xgradcam", "XGrad-CAM",
        "Grad-CAM with each channel's gradient averaged over the locations with the channel's normalised "
        "activations as weights.",
        "Fu et al., 'Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs', BMVC 2020.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k w_k A^k),  w_k = sum_ij (A^k_ij / sum_ab A^k_ab) dS_t/dA^k_ij",
        example_params={"layer": "bn_relu"},
        docs=DocsEntry("XGrad-CAM", "Grad-CAM with activation-weighted gradient averages",
                       "1 forward + 1 backward", "Fu et al. 2020"))):
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

    channel_weights = staticmethod(xgradcam_weights)


class HiResCAM(GradCAM, schema=MethodSchema(
        "hirescam", "HiResCAM",
        "Feature maps multiplied element-wise by the target score's gradient (no spatial averaging), summed "
        "over channels, rectified.",
        "Draelos & Carin, 'Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural "
        "networks', 2020 (arXiv:2011.08891).",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k dS_t/dA^k * A^k)",
        docs=DocsEntry("HiResCAM", "activations × gradient, location by location",
                       "1 forward + 1 backward", "Draelos & Carin 2020"))):
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

    channel_weights = staticmethod(hirescam_weights)


class LayerCAM(GradCAM, schema=MethodSchema(
        "layercam", "LayerCAM",
        "Feature maps multiplied element-wise by the positive part of the target score's gradient, summed "
        "over channels, rectified.",
        "Jiang et al., 'LayerCAM: Exploring Hierarchical Class Activation Maps for Localization', IEEE "
        "Transactions on Image Processing 30, 2021.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k ReLU(dS_t/dA^k) * A^k)",
        example_params={"layer": "conv_b"},
        docs=DocsEntry("LayerCAM", "activations × positive gradient, location by location",
                       "1 forward + 1 backward", "Jiang et al. 2021"))):
    """LayerCAM: activations times the positive part of the gradient, location by location.

    :math:`L = \\mathrm{ReLU}(\\sum_k \\mathrm{ReLU}(\\frac{\\partial S_c}{\\partial A^k}) \\odot A^k)`,
    usable at shallow layers where Grad-CAM's averaged gradients blur. Parameters as
    :class:`GradCAM`.

    References
    ----------
    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE Transactions on Image Processing 30, 2021.
    """

    channel_weights = staticmethod(layercam_weights)


class EigenGradCAM(HiResCAM, schema=MethodSchema(
        "eigengradcam", "Eigen-Grad-CAM",
        "Feature maps multiplied element-wise by the target score's gradient, projected on their first principal "
        "component (centred over locations; the sign agreeing with the channel sum), rectified.",
        "Muhammad & Yeasin, 'Eigen-CAM: Class Activation Map using Principal Components', IJCNN 2020; "
        "Gildenblat et al., pytorch-grad-cam's EigenGradCAM (github.com/jacobgil/pytorch-grad-cam).",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)",
        params=shared("layer", "layer_layout", "relu", "aug_smooth"), needs=LAYERS, layer="auto", view="positive",
        floor_fn=layer_gradients_floor,
        formula="L = ReLU(M_c v_1),  M = dS_t/dA * A (hw x C) centred over locations,  v_1 its first right "
                "singular vector",
        example_params={"layer": "conv_b"},
        docs=DocsEntry("Eigen-Grad-CAM", "first principal component of the gradient-weighted activations",
                       "1 forward + 1 backward", "Muhammad & Yeasin 2020"))):
    """Eigen-Grad-CAM: HiResCAM's gradient-weighted activations projected on their first principal component.

    :math:`L = \\mathrm{ReLU}(M_c v_1)` with :math:`M = \\frac{\\partial S_c}{\\partial A} \\odot A` as an
    ``(hw, C)`` matrix centred over locations and :math:`v_1` its first right singular vector
    (:func:`~xaikit.kernels.principal_projection`, whose sign makes the map agree with the channel sum,
    i.e. with HiResCAM's map): HiResCAM with ``eigen_smooth`` always on. Unlike Eigen-CAM it depends on the
    class. pytorch-grad-cam's ``EigenGradCAM`` keeps whatever sign its SVD returns. Parameters as
    :class:`GradCAM`, without ``eigen_smooth`` (the definition).

    References
    ----------
    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN 2020;
    pytorch-grad-cam's ``EigenGradCAM``.
    """

    eigen_projection = True


class GuidedGradCAM(GradCAM, schema=MethodSchema(
        "guided_gradcam", "Guided Grad-CAM",
        "Guided backpropagation multiplied pixel by pixel by the Grad-CAM map upsampled to the input.",
        GRADCAM_PAPER,
        signed=True, cost="2 forward + 2 backward passes (one down to the layer)",
        params=shared("layer", "layer_layout", "channel_reduce"), needs=LAYERS | GUIDED, layer="auto",
        view="magnitude",
        floor_fn=guided_gradcam_floor, formula="A = guided_backprop(x) * up(Grad-CAM)",
        example_params={"layer": "bn_relu"},
        docs=DocsEntry("Guided Grad-CAM", "guided backpropagation × upsampled Grad-CAM",
                       "2 forward + 2 backward", "Selvaraju et al. 2017"))):
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
