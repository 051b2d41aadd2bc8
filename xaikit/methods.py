"""The catalogue of explanation methods: one id, one definition, one paper each.

Backends implement methods by id; this table is what ``xaikit.list_methods()``, the
docs and the CLI describe. Parameter names are shared across methods and backends:
``layer``, ``batch_size``, ``seed``, ``n_samples``, ``noise``, ``steps``, ``baseline``,
``patch_size``, ``stride``, ``background``, ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MethodInfo", "METHODS", "ATTRIBUTION_METHODS"]


@dataclass(frozen=True)
class MethodInfo:
    """What a method computes.

    Attributes
    ----------
    id : str
        The id passed as ``method=``.
    name : str
        Human-readable name.
    summary : str
        One-sentence definition.
    reference : str
        The paper that defines it.
    signed : bool
        Whether attributions can be negative by definition.
    cost : str
        The model passes the method needs (per image), used by the speed benchmark.
    kind : str
        ``"attribution"`` (returns :class:`~xaikit.Explanation`) or ``"activations"``
        (returns :class:`~xaikit.Activations`).
    """

    id: str
    name: str
    summary: str
    reference: str
    signed: bool
    cost: str
    kind: str = "attribution"


METHODS: dict[str, MethodInfo] = {
    m.id: m
    for m in [
        MethodInfo(
            "activations", "Activation (feature-map) extraction",
            "Outputs of chosen layers (default: every convolution and pooling layer) for the images.",
            "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014; "
            "Chollet, 'Deep Learning with Python', 2017, sec. 5.4.1.",
            signed=True, cost="1 forward pass", kind="activations"),
        MethodInfo(
            "occlusion", "Occlusion sensitivity",
            "Drop of the target score when a patch of the image is replaced by a baseline value; "
            "each pixel gets the mean drop of the patches covering it.",
            "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014.",
            signed=True, cost="1 + number of patches forward passes"),
        MethodInfo(
            "gradcam", "Grad-CAM",
            "ReLU of the feature maps of a layer weighted by the spatial mean of the target score's "
            "gradient with respect to them, upsampled to the input.",
            "Selvaraju et al., 'Grad-CAM: Visual Explanations from Deep Networks via Gradient-based "
            "Localization', ICCV 2017.",
            signed=False, cost="1 forward + 1 backward pass (down to the layer)"),
        MethodInfo(
            "gradcam++", "Grad-CAM++",
            "Grad-CAM with per-location weights from second and third powers of the gradient "
            "(the closed form for an exponential score).",
            "Chattopadhay et al., 'Grad-CAM++: Generalized Gradient-based Visual Explanations for "
            "Deep Convolutional Networks', WACV 2018.",
            signed=False, cost="1 forward + 1 backward pass (down to the layer)"),
        MethodInfo(
            "vanilla_gradients", "Vanilla gradients (saliency)",
            "Gradient of the target score with respect to the input pixels.",
            "Simonyan, Vedaldi & Zisserman, 'Deep Inside Convolutional Networks: Visualising Image "
            "Classification Models and Saliency Maps', ICLR workshop 2014.",
            signed=True, cost="1 forward + 1 backward pass"),
        MethodInfo(
            "gradient_x_input", "Gradient x input",
            "Input multiplied element-wise by the gradient of the target score.",
            "Shrikumar et al., 'Not Just a Black Box: Learning Important Features Through Propagating "
            "Activation Differences', 2016 (arXiv:1605.01713).",
            signed=True, cost="1 forward + 1 backward pass"),
        MethodInfo(
            "smoothgrad", "SmoothGrad",
            "Mean gradient of the target score over n copies of the image with Gaussian noise "
            "(standard deviation = noise x the image's value range).",
            "Smilkov et al., 'SmoothGrad: removing noise by adding noise', 2017 (arXiv:1706.03825).",
            signed=True, cost="n_samples forward + backward passes"),
        MethodInfo(
            "integrated_gradients", "Integrated gradients",
            "(x - baseline) times the path integral of the gradient along the straight line from "
            "the baseline to x, approximated with `steps` points.",
            "Sundararajan, Taly & Yan, 'Axiomatic Attribution for Deep Networks', ICML 2017.",
            signed=True, cost="steps forward + backward passes"),
        MethodInfo(
            "expected_gradients", "Expected gradients (SHAP GradientExplainer)",
            "Expectation over background samples r and t ~ U(0, 1) of grad f(r + t (x - r)) * (x - r), "
            "estimated with n_samples draws, at the input or at a layer.",
            "Erion et al., 'Improving performance of deep learning models with axiomatic attribution "
            "priors and expected gradients', Nature Machine Intelligence 2021; Lundberg & Lee, "
            "'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017.",
            signed=True, cost="n_samples forward + backward passes (above the layer)"),
    ]
}

ATTRIBUTION_METHODS = tuple(m for m, info in METHODS.items() if info.kind == "attribution")
