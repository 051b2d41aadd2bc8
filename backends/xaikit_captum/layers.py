"""Captum's layer attributions: LayerGradCam, GuidedGradCam and LayerActivation."""

from __future__ import annotations

from typing import Any

import numpy as np
from captum.attr import GuidedGradCam, LayerActivation, LayerGradCam
from xaikit_torch.adapters import as_numpy, layer_map, module_of, to_tensor

from xaikit.catalogue import SHARED, Param
from xaikit.explainer import Attribution, CallContext
from xaikit.kernels import chunks, reduce_channels

from ._base import CaptumExplainer, CaptumExtractorBase, captum_call

__all__ = ["CaptumLayerGradCam", "CaptumGuidedGradCam", "CaptumActivations"]


class CaptumLayerGradCam(CaptumExplainer):
    """Captum's ``LayerGradCam``: :math:`\\sum_k \\mathrm{mean}_{ij}(\\partial S_t/\\partial A_k)\\, A_k` at the
    layer, **without ReLU** by default.

    ``LayerGradCam(forward, layer).attribute(x, target=t, relu_attributions=False)``
    returns the signed ``(N, 1, h, w)`` map at the layer's resolution (Captum's default
    keeps negative evidence); ``relu=True`` is its ``relu_attributions=True``, which is
    exactly the native ``gradcam`` (tested). Captum does not upsample (its
    ``LayerAttribution.interpolate`` is a separate, nearest-neighbour step); xaikit keeps
    the layer map in ``layer_attributions`` and upsamples it bilinearly, as for every
    CAM. Captum has no default layer: ``layer=None`` is xaikit's rule (the output of the
    last convolution block).

    Parameters
    ----------
    model : torch.nn.Module
    layer : str, module or None
    relu : bool, default False
        Captum's ``relu_attributions``.
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "gradcam"
    param_changes = {"relu": SHARED["relu"].with_default(False, "Captum's relu_attributions (its default False keeps "
                                                                "the signed map); True is the paper's definition."),
                     "eigen_smooth": None, "aug_smooth": None}  # pytorch-grad-cam's options: not Captum's

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        forward = self._forward(images, params["score"])

        def call(x: Any, t: list[int]) -> Any:
            with layer_map(self.model, params["layer"], params["_layout"]) as module:  # tokens/channels-last as a map
                return LayerGradCam(forward, module).attribute(x, target=t, relu_attributions=params["relu"])

        maps = self._chunked(images, targets, params["batch_size"], call)
        return Attribution(maps[:, 0], outputs, targets, at_layer=True)


class CaptumGuidedGradCam(CaptumExplainer):
    """Captum's ``GuidedGradCam``: guided backpropagation times ``LayerGradCam`` (with ReLU), per channel.

    Captum upsamples the layer's Grad-CAM map to the input with
    ``LayerAttribution.interpolate(..., interpolate_mode)``, **nearest** neighbour by
    default, and multiplies each channel of the guided gradient by it; the native
    ``guided_gradcam`` upsamples bilinearly. With the same upsampling they agree: Captum
    = native ``guided_backprop`` channels times the nearest-upsampled native Grad-CAM
    layer map (tested).

    Parameters
    ----------
    model : torch.nn.Module
    layer : str, module or None
    interpolate_mode : {"nearest", "bilinear", "bicubic", "area"}, default "nearest"
        Captum's ``interpolate_mode`` (``torch.nn.functional.interpolate``'s mode).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    """

    method = "guided_gradcam"
    param_changes = {
        "interpolate_mode": Param("interpolate_mode", "choice", "nearest", "Captum's interpolate_mode: how the layer's "
                                  "Grad-CAM map is upsampled to the input (torch's F.interpolate mode).",
                                  choices=("nearest", "bilinear", "bicubic", "area")),
    }
    aligned_params = {"interpolate_mode": "bilinear"}

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        forward = self._forward(images, params["score"])
        mode = params["interpolate_mode"]

        def call(x: Any, t: list[int]) -> Any:
            with layer_map(self.model, params["layer"], params["_layout"]) as module:  # tokens/channels-last as a map
                return GuidedGradCam(forward, module).attribute(x, target=t, interpolate_mode=mode)

        channels = self._chunked(images, targets, params["batch_size"], call)
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels)


class CaptumActivations(CaptumExtractorBase):
    """Captum's ``LayerActivation`` on the chosen layers: each module's output as Captum's forward hook records it,
    ``(N, C, h, w)`` as the model computes it (identical to the native extractor, tested).

    Parameters
    ----------
    model : torch.nn.Module
    layers : None, str or sequence of str
        As for the native extractor (:mod:`xaikit.layer_selection`).
    batch_size : int, default 32
    """

    def _extract(self, images: np.ndarray, layers: list[str], batch_size: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        extractor = LayerActivation(self.model, [module_of(self.model, name) for name in layers])
        parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        with captum_call(self.model):
            for s in chunks(len(images), batch_size):
                values = extractor.attribute(to_tensor(images[s], self.model))
                values = values if isinstance(values, (list, tuple)) else [values]
                for name, value in zip(layers, values):
                    parts[name].append(as_numpy(value))
        outputs = self._predict(images, batch_size)
        return {name: np.concatenate(chunk) for name, chunk in parts.items()}, outputs
