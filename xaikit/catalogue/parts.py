"""The pieces method schemas are made of: floors (the unavoidable passes), capability sets, parameter groups.

A method declares its :class:`~xaikit.catalogue.MethodSchema` with its class (:mod:`xaikit.methods`); the
schemas share these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..kernels.cam import CAM_AUGMENTATIONS
from .params import Param, shared
from .schema import FloorContext, FloorPlan

__all__ = [
    "input_gradients_floor",
    "layer_gradients_floor",
    "expected_gradients_floor",
    "occlusion_floor",
    "activations_floor",
    "channel_forwards_floor",
    "guided_gradcam_floor",
    "sample_forwards_floor",
    "attention_pass_floor",
    "reference_pairs_floor",
    "conductance_floor",
    "sobol_row_count",
    "GRADIENTS",
    "MAX_POOL",
    "LAYERS",
    "CAM_PARAMS",
    "GRAD_CAM_PARAMS",
    "PIXEL_PARAMS",
    "GUIDED",
    "PROPAGATION",
    "ACTIVATIONS",
    "SCORES",
    "ATTENTION",
    "NOISE_PARAMS",
    "SEGMENT_PARAMS",
    "GRADCAM_PAPER",
]


# ----------------------------------------------------------------------------- floors
def input_gradients_floor(count: str | None) -> Any:
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        n = 1 if count is None else int(params[count])
        return FloorPlan("forward_backward_input", n, score=ctx.score,
                         description=f"{n} x (forward + backward to the input)")
    return floor


def layer_gradients_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    """The layer gradient CAMs: one forward + backward pass down to the layer per layer and augmentation."""
    layers = params.get("layer")  # several layers: one pass each; aug_smooth: 6 augmented images
    n = (len(layers) if isinstance(layers, list) else 1) * (len(CAM_AUGMENTATIONS) if params.get("aug_smooth") else 1)
    return FloorPlan("forward_backward_layer", n, layer=ctx.layer, score=ctx.score,
                     description=f"{n} x (forward + backward down to {ctx.layer})")


def expected_gradients_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    n, k = int(params["n_samples"]), int(ctx.k or 1)
    where = f"above {ctx.layer}" if ctx.layer else "whole model"
    back = f"{k} backward" if k > 1 else "backward"
    return FloorPlan("head_forward_backward", n, layer=ctx.layer, k=k, score=ctx.score,
                     description=f"{n} x (forward {where} + {back})")


def occlusion_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    windows = params.get("n_windows")
    if windows is None:
        patch = params.get("patch_size", 8)
        ph, pw = (patch, patch) if isinstance(patch, int) else (int(patch[0]), int(patch[1]))
        windows = math.ceil(ctx.image_size[0] / ph) * math.ceil(ctx.image_size[1] / pw)
    n = 1 + int(windows)
    return FloorPlan("forward", n, score=ctx.score, description=f"{n} x forward (1 + {windows} windows)")


def activations_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    return FloorPlan("forward", 1, score=ctx.score, description="1 x forward")


def channel_forwards_floor(what: str) -> Any:
    """1 forward pass for the activations, then one per channel (``n_channels``, recorded by the method)."""
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        c = int(params["n_channels"])
        return FloorPlan("forward", 1 + c, score=ctx.score, description=f"{1 + c} x forward (1 + {c} {what})")
    return floor


def guided_gradcam_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    return FloorPlan("forward_backward_input", 2, score=ctx.score,
                     description=f"2 x (forward + backward): to {ctx.layer} (Grad-CAM) and to the input (guided)")


def sample_forwards_floor(count: Any, what: str, extra: int = 1) -> Any:
    """``extra`` forward passes (the image, the baseline) plus ``count(params)`` perturbed ones."""
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        n = int(count(params))
        return FloorPlan("forward", extra + n, score=ctx.score,
                         description=f"{extra + n} x forward ({extra} + {n} {what})")
    return floor


def attention_pass_floor(backward: bool) -> Any:
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        if backward:
            return FloorPlan("forward_backward_input", 1, score=ctx.score,
                             description="1 x (forward + backward to the attention weights)")
        return FloorPlan("forward", 1, score=ctx.score, description="1 x forward")
    return floor


def reference_pairs_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    """DeepLift: one pass of two rows per reference (the image and the reference in one batch)."""
    background = params.get("background")
    m = int(background["array_shape"][0]) if isinstance(background, Mapping) else (
        len(background) if isinstance(background, list) else 1)
    n = 2 * m
    what = "the image and its baseline" if background is None else f"the image and each of {m} references"
    return FloorPlan("forward_backward_input", n, score=ctx.score,
                     description=f"{n} x (forward + backward) rows: {what}, in one batch")


def conductance_floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    n = int(params["steps"]) + 1
    return FloorPlan("forward_backward_layer", n, layer=ctx.layer, score=ctx.score,
                     description=f"{n} x (forward + backward down to {ctx.layer})")


def sobol_row_count(params: Mapping[str, Any]) -> int:
    return int(params["n_designs"]) * (int(params["grid_size"]) ** 2 + 1)


GRADIENTS = frozenset({"scores", "gradients"})
MAX_POOL = Param("max_pool", "choice", "rescale", "DeepLift's rule at max pooling: 'rescale' (Captum's: the output "
                  "difference split between the image's and the reference's maxima; attributions sum to the score "
                  "difference) or 'gradient' (the pooling's gradient, the original DeepLIFT's default; what Captum "
                  "computes where a ReLU module feeds a max-pooling module directly).", choices=("rescale", "gradient"))
LAYERS = frozenset({"scores", "gradients", "layers"})

CAM_PARAMS = shared("layer", "layer_layout", "relu")
#: The gradient CAMs also take several layers (``layer=[a, b]``), eigen_smooth and aug_smooth, as pytorch-grad-cam.
GRAD_CAM_PARAMS = (*CAM_PARAMS, *shared("eigen_smooth", "aug_smooth"))
PIXEL_PARAMS = shared("channel_reduce")
GUIDED = frozenset({"scores", "gradients", "guided"})
PROPAGATION = frozenset({"scores", "gradients", "propagation"})
ACTIVATIONS = frozenset({"scores", "layers"})
SCORES = frozenset({"scores"})
ATTENTION = frozenset({"scores", "attention"})
NOISE_PARAMS = shared("n_samples", "noise", "seed", "channel_reduce")
SEGMENT_PARAMS = shared("segmentation", "n_segments", "compactness", "baseline")
GRADCAM_PAPER = ("Selvaraju et al., 'Grad-CAM: Visual Explanations from Deep Networks via Gradient-based "
                  "Localization', ICCV 2017.")
