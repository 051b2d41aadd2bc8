"""The methods, written once on the engine primitives; and the catalogue's names.

Every native backend offers the method classes here, bound to its engine by the
registry (:func:`xaikit.binding.get_method_class`), for every method whose catalogue
``needs`` its engine's capabilities cover. Adapters of other libraries (tf-explain,
shap, ...) bring their own classes.
"""

from __future__ import annotations

from ..catalogue import ATTRIBUTION_METHODS, METHODS
from ..catalogue import MethodSchema as MethodInfo
from .base import EngineExplainer, EngineExtractor
from .cam import GradCAM, GradCAMPlusPlus, GuidedGradCAM, HiResCAM, LayerCAM, XGradCAM
from .cam_free import AblationCAM, EigenCAM, ScoreCAM
from .gradients import Deconvnet, GradientXInput, GuidedBackprop, VanillaGradients
from .occlusion import Occlusion
from .paths import ExpectedGradients, IntegratedGradients, SmoothGrad, SquareGrad, VarGrad
from .rise import RISE
from .sobol import Sobol
from .surrogates import LIME, KernelSHAP

__all__ = [
    "ATTRIBUTION_METHODS",
    "CORE_METHODS",
    "IMPLEMENTATIONS",
    "LIME",
    "METHODS",
    "RISE",
    "AblationCAM",
    "Deconvnet",
    "EigenCAM",
    "EngineExplainer",
    "EngineExtractor",
    "ExpectedGradients",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "IntegratedGradients",
    "KernelSHAP",
    "LayerCAM",
    "MethodInfo",
    "Occlusion",
    "ScoreCAM",
    "SmoothGrad",
    "Sobol",
    "SquareGrad",
    "VanillaGradients",
    "VarGrad",
    "XGradCAM",
]

#: method id -> the core class computing it on an engine.
IMPLEMENTATIONS: dict[str, type] = {
    "activations": EngineExtractor,
    "occlusion": Occlusion,
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "vanilla_gradients": VanillaGradients,
    "gradient_x_input": GradientXInput,
    "smoothgrad": SmoothGrad,
    "integrated_gradients": IntegratedGradients,
    "expected_gradients": ExpectedGradients,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "scorecam": ScoreCAM,
    "ablationcam": AblationCAM,
    "eigencam": EigenCAM,
    "guided_backprop": GuidedBackprop,
    "deconvnet": Deconvnet,
    "guided_gradcam": GuidedGradCAM,
    "vargrad": VarGrad,
    "squaregrad": SquareGrad,
    "rise": RISE,
    "kernel_shap": KernelSHAP,
    "lime": LIME,
    "sobol": Sobol,
}

#: The attribution methods written here (every native backend computes them); the catalogue's others
#: (``MethodSchema.core`` False: shap's ``partition_shap``) only a library's adapter computes.
CORE_METHODS: tuple[str, ...] = tuple(m for m in ATTRIBUTION_METHODS if METHODS[m].core)
