"""Captum adapter for xaikit: Captum's own attribution classes, returned as raw per-image maps in xaikit's format.

Each method calls Captum's class (``Saliency``, ``IntegratedGradients``, ``NoiseTunnel``,
``LayerGradCam``, ...) on a forward function that returns xaikit's class scores of the
user's ``nn.Module`` (:class:`xaikit_torch.adapters.ScoreModel`), with Captum's own
defaults (``Saliency(abs=True)``, ``LayerGradCam`` without ReLU, Gauss-Legendre
integration, ...) unless told otherwise, and records them in each result's ``params``;
see ``docs/backends/captum.md``.

Importing this package imports neither torch nor Captum: the method classes live in
submodules loaded on first use.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_captum"

BACKEND = BackendSpec(
    name="captum",
    description="Captum's attribution classes (gradients, noise tunnel, layer Grad-CAM, occlusion, KernelSHAP, "
                "LIME, DeepLift, LRP...) on PyTorch modules, as raw per-image maps",
    methods={
        "activations": f"{_M}.layers:CaptumActivations",
        "occlusion": f"{_M}.perturbation:CaptumOcclusion",
        "gradcam": f"{_M}.layers:CaptumLayerGradCam",
        "vanilla_gradients": f"{_M}.gradients:CaptumSaliency",
        "gradient_x_input": f"{_M}.gradients:CaptumInputXGradient",
        "smoothgrad": f"{_M}.gradients:CaptumSmoothGrad",
        "integrated_gradients": f"{_M}.gradients:CaptumIntegratedGradients",
        "expected_gradients": f"{_M}.gradients:CaptumGradientShap",
        "guided_backprop": f"{_M}.gradients:CaptumGuidedBackprop",
        "deconvnet": f"{_M}.gradients:CaptumDeconvolution",
        "guided_gradcam": f"{_M}.layers:CaptumGuidedGradCam",
        "vargrad": f"{_M}.gradients:CaptumVarGrad",
        "squaregrad": f"{_M}.gradients:CaptumSquareGrad",
        "kernel_shap": f"{_M}.perturbation:CaptumKernelShap",
        "lime": f"{_M}.perturbation:CaptumLime",
        "deeplift": f"{_M}.propagation:CaptumDeepLift",
        "deepliftshap": f"{_M}.propagation:CaptumDeepLiftShap",
        "lrp": f"{_M}.propagation:CaptumLRP",
        "layer_conductance": f"{_M}.propagation:CaptumLayerConductance",
    },
    requires=("torch", "captum"),
    extra="torch",
    frameworks=("torch",),
    native=False,
    distributions=("captum",),
)

__all__ = ["BACKEND"]
