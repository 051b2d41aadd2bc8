"""The methods of xaikit: one :class:`~xaikit.catalogue.MethodSchema` each.

Adding a method is one entry here plus its implementation on the engine primitives
(:mod:`xaikit.methods`); every native backend whose engine has what the method
``needs`` offers it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..kernels.cam import CAM_AUGMENTATIONS
from .params import Param, shared
from .schema import ExampleImages, FloorContext, FloorPlan, MethodSchema

__all__ = ["ENTRIES", "GRADIENTS", "LAYERS", "layer_gradients_floor"]


# ----------------------------------------------------------------------------- floors
def _input_gradients(count: str | None) -> Any:
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


def _channel_forwards(what: str) -> Any:
    """1 forward pass for the activations, then one per channel (``n_channels``, recorded by the method)."""
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        c = int(params["n_channels"])
        return FloorPlan("forward", 1 + c, score=ctx.score, description=f"{1 + c} x forward (1 + {c} {what})")
    return floor


def _guided_gradcam(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    return FloorPlan("forward_backward_input", 2, score=ctx.score,
                     description=f"2 x (forward + backward): to {ctx.layer} (Grad-CAM) and to the input (guided)")


def _sample_forwards(count: Any, what: str, extra: int = 1) -> Any:
    """``extra`` forward passes (the image, the baseline) plus ``count(params)`` perturbed ones."""
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        n = int(count(params))
        return FloorPlan("forward", extra + n, score=ctx.score,
                         description=f"{extra + n} x forward ({extra} + {n} {what})")
    return floor


def _attention_pass(backward: bool) -> Any:
    def floor(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
        if backward:
            return FloorPlan("forward_backward_input", 1, score=ctx.score,
                             description="1 x (forward + backward to the attention weights)")
        return FloorPlan("forward", 1, score=ctx.score, description="1 x forward")
    return floor


def _reference_pairs(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    """DeepLift: one pass of two rows per reference (the image and the reference in one batch)."""
    background = params.get("background")
    m = int(background["array_shape"][0]) if isinstance(background, Mapping) else (
        len(background) if isinstance(background, list) else 1)
    n = 2 * m
    what = "the image and its baseline" if background is None else f"the image and each of {m} references"
    return FloorPlan("forward_backward_input", n, score=ctx.score,
                     description=f"{n} x (forward + backward) rows: {what}, in one batch")


def _conductance(params: Mapping[str, Any], ctx: FloorContext) -> FloorPlan:
    n = int(params["steps"]) + 1
    return FloorPlan("forward_backward_layer", n, layer=ctx.layer, score=ctx.score,
                     description=f"{n} x (forward + backward down to {ctx.layer})")


def _sobol_rows(params: Mapping[str, Any]) -> int:
    return int(params["n_designs"]) * (int(params["grid_size"]) ** 2 + 1)


GRADIENTS = frozenset({"scores", "gradients"})
_MAX_POOL = Param("max_pool", "choice", "rescale", "DeepLift's rule at max pooling: 'rescale' (Captum's: the output "
                  "difference split between the image's and the reference's maxima; attributions sum to the score "
                  "difference) or 'gradient' (the pooling's gradient, the original DeepLIFT's default; what Captum "
                  "computes where a ReLU module feeds a max-pooling module directly).", choices=("rescale", "gradient"))
LAYERS = frozenset({"scores", "gradients", "layers"})

_CAM_PARAMS = shared("layer", "layer_layout", "relu")
#: The gradient CAMs also take several layers (``layer=[a, b]``), eigen_smooth and aug_smooth, as pytorch-grad-cam.
_GRAD_CAM_PARAMS = (*_CAM_PARAMS, *shared("eigen_smooth", "aug_smooth"))
_PIXEL = shared("channel_reduce")
GUIDED = frozenset({"scores", "gradients", "guided"})
PROPAGATION = frozenset({"scores", "gradients", "propagation"})
ACTIVATIONS = frozenset({"scores", "layers"})
SCORES = frozenset({"scores"})
ATTENTION = frozenset({"scores", "attention"})
_NOISE = shared("n_samples", "noise", "seed", "channel_reduce")
_SEGMENTS = shared("segmentation", "n_segments", "compactness", "baseline")
_GRADCAM_PAPER = ("Selvaraju et al., 'Grad-CAM: Visual Explanations from Deep Networks via Gradient-based "
                  "Localization', ICCV 2017.")

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
        formula="A(p) = mean over patches P containing p of [S_t(x) - S_t(x with P set to the baseline)]",
        example_params={"patch_size": 4, "stride": 3}),
    MethodSchema(
        "gradcam", "Grad-CAM",
        "ReLU of the feature maps of a layer weighted by the spatial mean of the target score's "
        "gradient with respect to them, upsampled to the input.",
        _GRADCAM_PAPER,
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k a_k A^k),  a_k = mean_ij dS_t/dA^k_ij",
        example_params={"layer": "bn_relu"}),
    MethodSchema(
        "gradcam++", "Grad-CAM++",
        "Grad-CAM with per-location weights from second and third powers of the gradient "
        "(the closed form for an exponential score).",
        "Chattopadhay et al., 'Grad-CAM++: Generalized Gradient-based Visual Explanations for "
        "Deep Convolutional Networks', WACV 2018.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
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
        formula="A = 1/n sum_j dS_t/dx (x + e_j),  e_j ~ N(0, (noise * (max x - min x))^2)",
        example_params={"n_samples": 6, "seed": 3}),
    MethodSchema(
        "integrated_gradients", "Integrated gradients",
        "(x - baseline) times the path integral of the gradient along the straight line from "
        "the baseline to x, approximated with `steps` points.",
        "Sundararajan, Taly & Yan, 'Axiomatic Attribution for Deep Networks', ICML 2017.",
        signed=True, cost="steps forward + backward passes",
        params=shared("steps", "baseline", "integration", "channel_reduce"), needs=GRADIENTS,
        floor_fn=_input_gradients("steps"), warmup={"steps": 2},
        formula="A = (x - b) * integral_0^1 dS_t/dx (b + a (x - b)) da",
        example_params={"steps": 8}),
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
        formula="A = E_{r, u} [ dS_t/dx (r + u (x~ - r)) * (x~ - r) ],  x~ = x + N(0, local_smoothing^2)",
        example_params={"background": ExampleImages(), "n_samples": 12, "seed": 4}),
    # ------------------------------------------------------------------ the CAM family
    MethodSchema(
        "xgradcam", "XGrad-CAM",
        "Grad-CAM with each channel's gradient averaged over the locations with the channel's normalised "
        "activations as weights.",
        "Fu et al., 'Axiom-based Grad-CAM: Towards Accurate Visualization and Explanation of CNNs', BMVC 2020.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k w_k A^k),  w_k = sum_ij (A^k_ij / sum_ab A^k_ab) dS_t/dA^k_ij",
        example_params={"layer": "bn_relu"}),
    MethodSchema(
        "hirescam", "HiResCAM",
        "Feature maps multiplied element-wise by the target score's gradient (no spatial averaging), summed "
        "over channels, rectified.",
        "Draelos & Carin, 'Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional neural "
        "networks', 2020 (arXiv:2011.08891).",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k dS_t/dA^k * A^k)"),
    MethodSchema(
        "layercam", "LayerCAM",
        "Feature maps multiplied element-wise by the positive part of the target score's gradient, summed "
        "over channels, rectified.",
        "Jiang et al., 'LayerCAM: Exploring Hierarchical Class Activation Maps for Localization', IEEE "
        "Transactions on Image Processing 30, 2021.",
        signed=False, cost="1 forward + 1 backward pass (down to the layer)", params=_GRAD_CAM_PARAMS,
        needs=LAYERS, layer="auto", view="positive", floor_fn=layer_gradients_floor,
        formula="L = ReLU(sum_k ReLU(dS_t/dA^k) * A^k)",
        example_params={"layer": "conv_b"}),
    MethodSchema(
        "scorecam", "Score-CAM",
        "Feature maps weighted by the softmax over channels of the target score of the image masked by each "
        "channel's upsampled, min-max normalised activation; no gradients.",
        "Wang et al., 'Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks', "
        "CVPR Workshops 2020.",
        signed=False, cost="1 + number of channels forward passes", params=_CAM_PARAMS,
        needs=ACTIVATIONS, layer="auto", view="positive", floor_fn=_channel_forwards("masked images"),
        formula="L = ReLU(sum_k a_k A^k),  a = softmax_k S_t(x * s(up(A^k))),  s = min-max",
        example_params={"layer": "bn_relu"}),
    MethodSchema(
        "ablationcam", "Ablation-CAM",
        "Feature maps weighted by the relative drop of the target score when each channel is set to zero "
        "(the model above the layer run once per channel); no gradients.",
        "Desai & Ramaswamy, 'Ablation-CAM: Visual Explanations for Deep Convolutional Network via "
        "Gradient-free Localization', WACV 2020.",
        signed=False, cost="1 forward pass + number of channels forward passes above the layer",
        params=_CAM_PARAMS, needs=frozenset({"scores", "layers", "head"}), layer="auto", view="positive",
        floor_fn=_channel_forwards("ablated channels, counted as whole forward passes: an upper bound"),
        formula="L = ReLU(sum_k w_k A^k),  w_k = (y - y_k) / y,  y_k = S_t with A^k = 0",
        example_params={"layer": "bn_relu"}),
    MethodSchema(
        "eigencam", "Eigen-CAM",
        "Projection of a layer's activations on their first principal component (class-agnostic: the "
        "target is recorded, not used), rectified.",
        "Muhammad & Yeasin, 'Eigen-CAM: Class Activation Map using Principal Components', IJCNN 2020.",
        signed=False, cost="1 forward pass (down to the layer)", params=_CAM_PARAMS,
        needs=ACTIVATIONS, layer="auto", view="positive", floor_fn=_activations,
        formula="L = ReLU(A_c v_1),  A_c = activations (hw x C) centred,  v_1 its first right singular vector"),
    # ------------------------------------------------------------------ modified backward passes
    MethodSchema(
        "guided_backprop", "Guided backpropagation",
        "Gradient of the target score at the input with every ReLU passing back only positive gradients at "
        "positive inputs.",
        "Springenberg et al., 'Striving for Simplicity: The All Convolutional Net', ICLR workshop 2015.",
        signed=True, cost="1 forward + 1 backward pass", params=_PIXEL, needs=GUIDED, view="magnitude",
        floor_fn=_input_gradients(None), formula="R_l = 1[z_l > 0] * 1[R_{l+1} > 0] * R_{l+1} at every ReLU"),
    MethodSchema(
        "deconvnet", "Deconvnet",
        "Backward pass of the target score to the input in which every ReLU passes back the ReLU of the "
        "gradient, whatever its input.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014.",
        signed=True, cost="1 forward + 1 backward pass", params=_PIXEL, needs=GUIDED, view="magnitude",
        floor_fn=_input_gradients(None), formula="R_l = ReLU(R_{l+1}) at every ReLU"),
    MethodSchema(
        "guided_gradcam", "Guided Grad-CAM",
        "Guided backpropagation multiplied pixel by pixel by the Grad-CAM map upsampled to the input.",
        _GRADCAM_PAPER,
        signed=True, cost="2 forward + 2 backward passes (one down to the layer)",
        params=shared("layer", "layer_layout", "channel_reduce"), needs=LAYERS | GUIDED, layer="auto",
        view="magnitude",
        floor_fn=_guided_gradcam, formula="A = guided_backprop(x) * up(Grad-CAM)",
        example_params={"layer": "bn_relu"}),
    # ------------------------------------------------------------------ modified backward passes with a reference
    MethodSchema(
        "deeplift", "DeepLift (rescale rule)",
        "(x - baseline) times the backward pass in which every nonlinearity passes back the ratio of its output and "
        "input differences between the image and the baseline (max pooling: Captum's rule); sums to "
        "S_t(x) - S_t(baseline).",
        "Shrikumar, Greenside & Kundaje, 'Learning Important Features Through Propagating Activation Differences', "
        "ICML 2017.",
        signed=True, cost="1 forward + 1 backward pass of 2 rows (image and baseline)",
        params=(*shared("baseline"), _MAX_POOL, *shared("channel_reduce")), needs=PROPAGATION,
        floor_fn=_reference_pairs,
        formula="A = (x - b) * m,  m = dS_t/dx with f'(z) replaced by (f(z) - f(z_b)) / (z - z_b) at every "
                "nonlinearity f",
        example_params={"baseline": 0.2}),
    MethodSchema(
        "deepliftshap", "DeepLiftShap",
        "DeepLift averaged over a background of reference images; sums to S_t(x) minus the mean score of the "
        "background.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017; Shrikumar, Greenside "
        "& Kundaje, ICML 2017.",
        signed=True, cost="1 forward + 1 backward pass of 2 rows per background image",
        params=(*shared("background"), _MAX_POOL, *shared("channel_reduce")), needs=PROPAGATION,
        floor_fn=_reference_pairs,
        formula="A = 1/m sum_j (x - r_j) * m(x, r_j),  m = DeepLift's multipliers for reference r_j",
        example_params={"background": ExampleImages(2)}),
    MethodSchema(
        "lrp", "Layer-wise relevance propagation (epsilon / gamma rules)",
        "The target score propagated back as relevance layer by layer: each convolution, dense, pooling and "
        "batch-norm layer passes back a * J^T (R / (z + epsilon sign z)), the gamma rule with weights "
        "W + gamma W+ in convolution and dense layers; ReLU CNNs.",
        "Bach et al., 'On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance "
        "Propagation', PLOS ONE 2015; Montavon et al., 'Layer-Wise Relevance Propagation: An Overview', 2019.",
        signed=True, cost="1 forward + 1 backward pass",
        params=(Param("rule", "choice", "epsilon", "'epsilon' (every layer: LRP-epsilon) or 'gamma' (convolution "
                      "and dense layers with weights W + gamma W+; pooling and batch norm: epsilon).",
                      choices=("epsilon", "gamma")),
                Param("epsilon", "float", 1e-9, "Stabiliser added to every layer's outputs, with their sign "
                      "(Captum's default 1e-9; larger values absorb weak and contradictory relevance).",
                      low=0.0, low_open=True),
                Param("gamma", "float", 0.25, "Weight of the positive weights under rule='gamma'.", low=0.0),
                *shared("channel_reduce")),
        needs=PROPAGATION, floor_fn=_input_gradients(None),
        formula="R_a = a * J'^T (R_z / (z' + epsilon sign z')),  z' = z (epsilon) or with W + gamma W+ (gamma),  "
                "A = R_x",
        example_params={"rule": "gamma", "gamma": 0.5}),
    MethodSchema(
        "layer_conductance", "Layer conductance",
        "The flow of integrated gradients through each unit of a layer: the target score's gradient at the layer "
        "times the change of the unit's activation, summed along the path from the baseline; summed over the "
        "channels, upsampled to the input.",
        "Dhamdhere, Sundararajan & Yan, 'How Important Is a Neuron?', ICLR 2019 (arXiv:1805.12233).",
        signed=True, cost="steps + 1 forward + backward passes (down to the layer)",
        params=shared("layer", "layer_layout", "steps", "baseline"), needs=LAYERS, layer="auto",
        floor_fn=_conductance, warmup={"steps": 1},
        formula="C_y = sum_k dS_t/dy (p_k) * (y(p_{k+1}) - y(p_k)),  p_k = b + k/steps (x - b),  map = sum_c C_y",
        example_params={"layer": "pool_a", "steps": 3}),
    # ------------------------------------------------------------------ gradient statistics over noise
    MethodSchema(
        "vargrad", "VarGrad",
        "Variance of the target score's gradient over n copies of the image with Gaussian noise (SmoothGrad's "
        "samples, another statistic).",
        "Adebayo et al., 'Sanity Checks for Saliency Maps', NeurIPS 2018; Adebayo et al., 'Local Explanation "
        "Methods for Deep Neural Networks Lack Sensitivity to Parameter Values', ICLR workshop 2018.",
        signed=False, cost="n_samples forward + backward passes", params=_NOISE, needs=GRADIENTS, view="positive",
        floor_fn=_input_gradients("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j g_j^2 - (1/n sum_j g_j)^2,  g_j = dS_t/dx (x + e_j)",
        example_params={"n_samples": 5, "seed": 3}),
    MethodSchema(
        "squaregrad", "SquareGrad",
        "Mean of the squared gradient of the target score over n copies of the image with Gaussian noise "
        "(SmoothGrad's samples, another statistic).",
        "Hooker et al., 'A Benchmark for Interpretability Methods in Deep Neural Networks', NeurIPS 2019.",
        signed=False, cost="n_samples forward + backward passes", params=_NOISE, needs=GRADIENTS, view="positive",
        floor_fn=_input_gradients("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j g_j^2,  g_j = dS_t/dx (x + e_j)",
        example_params={"n_samples": 5, "seed": 3}),
    # ------------------------------------------------------------------ transformers' attention
    MethodSchema(
        "attention_rollout", "Attention rollout",
        "The class token's attention to the image patches through every block: the product of the blocks' "
        "head-fused attention matrices, each mixed half and half with the identity for the residual connection; "
        "class-agnostic. Transformers exposing attention weights only.",
        "Abnar & Zuidema, 'Quantifying Attention Flow in Transformers', ACL 2020.",
        signed=False, cost="1 forward pass",
        params=(Param("head_fusion", "choice", "mean", "How the heads' attention weights are combined per block: "
                      "their 'mean' (the paper's), 'max' or 'min'.", choices=("mean", "max", "min")),
                Param("discard_ratio", "float", 0.0, "Fraction of each block's fused attention weights (the lowest) "
                      "set to 0 before the rollout (never the class token's attention to itself).",
                      low=0.0, high=0.99)),
        needs=ATTENTION, view="positive", floor_fn=_attention_pass(False),
        formula="R = prod_l norm(0.5 fuse_h(A_l) + 0.5 I),  map = R[cls, patches]"),
    MethodSchema(
        "generic_attention", "Generic attention explainability (gradient-weighted attention)",
        "Relevance propagated through the blocks' attention: each block's attention weighted by the target "
        "score's gradient with respect to it, rectified and averaged over heads, updates R <- R + A R from R = I; "
        "the class token's row over the patches. Transformers exposing attention weights only.",
        "Chefer, Gur & Wolf, 'Generic Attention-model Explainability for Interpreting Bi-Modal and "
        "Encoder-Decoder Transformers', ICCV 2021.",
        signed=False, cost="1 forward + 1 backward pass (to the attention weights)",
        needs=ATTENTION | {"gradients"}, view="positive", floor_fn=_attention_pass(True),
        formula="A~_l = mean_h (dS_t/dA_l * A_l)^+,  R_l = R_{l-1} + A~_l R_{l-1},  R_0 = I,  map = R_L[cls, patches]"),
    # ------------------------------------------------------------------ black-box methods
    MethodSchema(
        "rise", "RISE",
        "Mean of the target score over random smooth masks, each pixel weighted by how much the masks keep it.",
        "Petsiuk, Das & Saenko, 'RISE: Randomized Input Sampling for Explanation of Black-box Models', BMVC 2018.",
        signed=True, cost="1 + n_samples forward passes",
        params=(*shared("n_samples", "grid_size", n_samples=4000),
                Param("p_keep", "float", 0.5, "Probability that a cell of the coarse grid is kept (not masked).",
                      low=0.0, high=1.0, low_open=True),
                *shared("baseline", "seed")),
        needs=SCORES, floor_fn=_sample_forwards(lambda p: p["n_samples"], "masked images"),
        warmup={"n_samples": 2},
        formula="A(p) = sum_j S_t(x * M_j + b * (1 - M_j)) M_j(p) / sum_j M_j(p)",
        example_params={"n_samples": 24, "grid_size": 3, "seed": 3}),
    MethodSchema(
        "kernel_shap", "KernelSHAP (superpixels)",
        "Shapley values of the image's segments for the target score (a removed segment takes the baseline), "
        "estimated by weighted least squares on coalitions sampled from the Shapley kernel, exact when every "
        "coalition fits in n_samples.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017.",
        signed=True, cost="2 + n_samples forward passes (fewer when every coalition is evaluated)",
        params=(*shared("n_samples", n_samples=1000), *_SEGMENTS, *shared("seed")),
        needs=SCORES, floor_fn=_sample_forwards(lambda p: p["n_samples"], "coalitions", extra=2),
        warmup={"n_samples": 2},
        formula="phi = argmin sum_z pi(z) (S_t(z) - S_t(0) - z . phi)^2  s.t. sum phi = S_t(1) - S_t(0)",
        example_params={"n_samples": 30, "n_segments": 10, "seed": 3}),
    MethodSchema(
        "lime", "LIME (superpixels)",
        "Coefficients of a weighted ridge regression of the target score on random coalitions of the image's "
        "segments (a removed segment takes the baseline), weighted by an exponential kernel on the cosine "
        "distance to the whole image.",
        "Ribeiro, Singh & Guestrin, '\"Why Should I Trust You?\": Explaining the Predictions of Any "
        "Classifier', KDD 2016.",
        signed=True, cost="n_samples forward passes (the first sample is the image itself)",
        params=(*shared("n_samples", n_samples=1000), *_SEGMENTS,
                Param("kernel_width", "float", 0.25, "Width of the exponential kernel on the cosine distance "
                      "between a coalition and the whole image (lime_image's 0.25).", low=0.0, low_open=True),
                Param("ridge_alpha", "float", 1.0, "Ridge penalty of the surrogate linear model (lime's "
                      "Ridge(alpha=1)); 0 is ordinary weighted least squares.", low=0.0),
                *shared("seed")),
        needs=SCORES, floor_fn=_sample_forwards(lambda p: p["n_samples"] - 1, "coalitions"),
        warmup={"n_samples": 2},
        formula="A = coefficients of Ridge(ridge_alpha) fitted to (z_j, S_t(z_j)) with weights "
                "sqrt(exp(-d(z_j, 1)^2 / kernel_width^2)),  d = cosine distance",
        example_params={"n_samples": 30, "n_segments": 10, "seed": 3}),
    MethodSchema(
        "sobol", "Sobol attribution",
        "Total-order Sobol indices of the cells of a grid for the target score, the image multiplied cell by "
        "cell by quasi-Monte Carlo masks (Jansen's estimator).",
        "Fel et al., 'Look at the Variance! Efficient Black-box Explanations with Sobol-based Sensitivity "
        "Analysis', NeurIPS 2021.",
        signed=False, cost="1 + n_designs x (grid_size^2 + 1) forward passes",
        params=(*shared("grid_size", grid_size=8),
                Param("n_designs", "int", 32, "Quasi-Monte Carlo designs (a power of two); the model runs "
                      "n_designs x (grid_size^2 + 1) times per image.", low=2),
                *shared("baseline")),
        needs=SCORES, view="positive", floor_fn=_sample_forwards(_sobol_rows, "masked images"),
        warmup={"n_designs": 2, "grid_size": 1},
        formula="S_Ti = sum_n (f(A_n) - f(C_i,n))^2 / (2 N Var f(A)),  f(M) = S_t(x * up(M) + b * (1 - up(M)))",
        example_params={"grid_size": 2, "n_designs": 4}),
    MethodSchema(
        "partition_shap", "Partition SHAP (shap's Partition explainer with an image masker)",
        "Owen values of a hierarchy of image regions for the target score: shap's Partition explainer splits the "
        "image recursively in halves and evaluates masked images (regions removed by blurring, inpainting or a "
        "baseline) within max_evals model calls per image; what shap users run on black-box image models.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017; Owen, 'Values of "
        "games with a priori unions', 1977; shap's PartitionExplainer (shap.readthedocs.io).",
        signed=True, cost="max_evals forward passes",
        params=(Param("max_evals", "int", 500, "Model evaluations per image and target (shap's max_evals).", low=3),
                Param("masker", "choice", "blur", "How shap's Image masker removes a region: 'blur' (cv2.blur of the "
                      "image), 'inpaint_telea' / 'inpaint_ns' (cv2.inpaint; shap casts the image to uint8, so "
                      "for [0, 255] pixels only) or 'baseline' (the baseline value).",
                      choices=("blur", "inpaint_telea", "inpaint_ns", "baseline")),
                Param("blur_size", "pair", None, "Kernel of the 'blur' masker in pixels (shap's 'blur(h,w)').",
                      nullable="a quarter of the image's height and width"),
                *shared("baseline")),
        needs=SCORES, core=False, floor_fn=_sample_forwards(lambda p: p["max_evals"], "masked images", extra=0),
        warmup={"max_evals": 3},
        formula="phi = Owen values of the game v(S) = S_t(x with the regions outside S masked), over shap's "
                "binary partition tree of the pixels"),
)
