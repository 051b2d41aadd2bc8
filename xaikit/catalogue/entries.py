"""The methods of xaikit: one :class:`~xaikit.catalogue.MethodSchema` each.

Adding a method is one entry here plus its implementation on the engine primitives
(:mod:`xaikit.methods`); every native backend whose engine has what the method
``needs`` offers it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .params import Param, shared
from .schema import FloorContext, FloorPlan, MethodSchema

__all__ = ["ENTRIES"]


# ----------------------------------------------------------------------------- floors
def _input_gradients(count: str | None) -> Any:
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        n = 1 if count is None else int(params[count])
        return FloorPlan("forward_backward_input", n, score=ctx.score,
                         description=f"{n} x (forward + backward to the input)")
    return floor


def _layer_gradients(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    return FloorPlan("forward_backward_layer", 1, layer=ctx.layer, score=ctx.score,
                     description=f"1 x (forward + backward down to {ctx.layer})")


def _expected_gradients(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    n, k = int(params["n_samples"]), int(ctx.k or 1)
    where = f"above {ctx.layer}" if ctx.layer else "whole model"
    back = f"{k} backward" if k > 1 else "backward"
    return FloorPlan("head_forward_backward", n, layer=ctx.layer, k=k, score=ctx.score,
                     description=f"{n} x (forward {where} + {back})")


def _occlusion(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    windows = params.get("n_windows")
    if windows is None:
        patch = params.get("patch_size", 8)
        ph, pw = (patch, patch) if isinstance(patch, int) else (int(patch[0]), int(patch[1]))
        windows = math.ceil(ctx.image_size[0] / ph) * math.ceil(ctx.image_size[1] / pw)
    n = 1 + int(windows)
    return FloorPlan("forward", n, score=ctx.score, description=f"{n} x forward (1 + {windows} windows)")


def _activations(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    return FloorPlan("forward", 1, score=ctx.score, description="1 x forward")


GRADIENTS = frozenset({"scores", "gradients"})
LAYERS = frozenset({"scores", "gradients", "layers"})

_CAM_PARAMS = shared("layer", "relu")
_PIXEL = shared("channel_reduce")

ENTRIES: tuple[MethodSchema, ...] = (
    MethodSchema(
        "activations", "Activation (feature-map) extraction",
        "Outputs of chosen layers (default: every convolution and pooling layer) for the images.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014; "
        "Chollet, 'Deep Learning with Python', 2017, sec. 5.4.1.",
        signed=True, cost="1 forward pass", kind="activations", params=shared("layers"),
        needs=frozenset({"scores", "layers"}), floor_fn=_activations),
    MethodSchema(
        "occlusion", "Occlusion sensitivity",
        "Drop of the target score when a patch of the image is replaced by a baseline value; "
        "each pixel gets the mean drop of the patches covering it.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014.",
        signed=True, cost="1 + number of patches forward passes",
        params=shared("patch_size", "stride", "baseline"), needs=frozenset({"scores"}),
        floor_fn=_occlusion, warmup={"patch_size": "image", "stride": None},
        formula="A(p) = mean over patches P containing p of [S_t(x) - S_t(x with P set to the baseline)]"),
    MethodSchema(
        "gradcam", "Grad-CAM",
        "ReLU of the feature maps of a layer weighted by the spatial mean of the target score's "
        "gradient with respect to them, upsampled to the input.",
        "Selvaraju et al., 'Grad-CAM: Visual Explanations from Deep Networks via Gradient-based "
        "Localization', ICCV 2017.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=_layer_gradients,
        formula="L = ReLU(sum_k a_k A^k),  a_k = mean_ij dS_t/dA^k_ij"),
    MethodSchema(
        "gradcam++", "Grad-CAM++",
        "Grad-CAM with per-location weights from second and third powers of the gradient "
        "(the closed form for an exponential score).",
        "Chattopadhay et al., 'Grad-CAM++: Generalized Gradient-based Visual Explanations for "
        "Deep Convolutional Networks', WACV 2018.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=_layer_gradients,
        formula="w_k = sum_ij alpha_ij ReLU(g_ij),  alpha_ij = g^2 / (2 g^2 + sum_ab A_ab g^3)"),
    MethodSchema(
        "vanilla_gradients", "Vanilla gradients (saliency)",
        "Gradient of the target score with respect to the input pixels.",
        "Simonyan, Vedaldi & Zisserman, 'Deep Inside Convolutional Networks: Visualising Image "
        "Classification Models and Saliency Maps', ICLR workshop 2014.",
        signed=True, cost="1 forward + 1 backward pass", params=_PIXEL, needs=GRADIENTS, view="magnitude",
        floor_fn=_input_gradients(None), formula="A = dS_t/dx"),
    MethodSchema(
        "gradient_x_input", "Gradient x input",
        "Input multiplied element-wise by the gradient of the target score.",
        "Shrikumar et al., 'Not Just a Black Box: Learning Important Features Through Propagating "
        "Activation Differences', 2016 (arXiv:1605.01713).",
        signed=True, cost="1 forward + 1 backward pass", params=_PIXEL, needs=GRADIENTS,
        floor_fn=_input_gradients(None), formula="A = x * dS_t/dx"),
    MethodSchema(
        "smoothgrad", "SmoothGrad",
        "Mean gradient of the target score over n copies of the image with Gaussian noise "
        "(standard deviation = noise x the image's value range).",
        "Smilkov et al., 'SmoothGrad: removing noise by adding noise', 2017 (arXiv:1706.03825).",
        signed=True, cost="n_samples forward + backward passes",
        params=shared("n_samples", "noise", "seed", "channel_reduce"), needs=GRADIENTS, view="magnitude",
        floor_fn=_input_gradients("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j dS_t/dx (x + e_j),  e_j ~ N(0, (noise * (max x - min x))^2)"),
    MethodSchema(
        "integrated_gradients", "Integrated gradients",
        "(x - baseline) times the path integral of the gradient along the straight line from "
        "the baseline to x, approximated with `steps` points.",
        "Sundararajan, Taly & Yan, 'Axiomatic Attribution for Deep Networks', ICML 2017.",
        signed=True, cost="steps forward + backward passes",
        params=shared("steps", "baseline", "integration", "channel_reduce"), needs=GRADIENTS,
        floor_fn=_input_gradients("steps"), warmup={"steps": 2},
        formula="A = (x - b) * integral_0^1 dS_t/dx (b + a (x - b)) da"),
    MethodSchema(
        "expected_gradients", "Expected gradients (SHAP GradientExplainer)",
        "Expectation over background samples r and t ~ U(0, 1) of grad f(r + t (x - r)) * (x - r), "
        "estimated with n_samples draws, at the input or at a layer.",
        "Erion et al., 'Improving performance of deep learning models with axiomatic attribution "
        "priors and expected gradients', Nature Machine Intelligence 2021; Lundberg & Lee, "
        "'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017.",
        signed=True, cost="n_samples forward + backward passes (above the layer)",
        params=(*shared("background", "n_samples", "local_smoothing", "seed", n_samples=200),
                Param("layer", "layer", None, "Explain at this layer's output instead of the input.",
                      nullable="the input"),
                *shared("completeness", "channel_reduce")),
        needs=GRADIENTS, layer="optional", floor_fn=_expected_gradients, warmup={"n_samples": 2},
        formula="A = E_{r, u} [ dS_t/dx (r + u (x~ - r)) * (x~ - r) ],  x~ = x + N(0, local_smoothing^2)"),
)
