"""The methods, written once on the engine primitives; and the catalogue's names.

Every native backend offers the method classes here, bound to its engine by the
registry (:func:`xaikit.binding.get_method_class`), for every method whose catalogue
``needs`` its engine's capabilities cover. Adapters of other libraries (tf-explain,
shap, ...) bring their own classes.
"""

from __future__ import annotations

from ..catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS, METHODS
from ..catalogue import MethodSchema as MethodInfo
from .attention import AttentionRollout, GenericAttention
from .base import EngineExplainer, EngineExtractor
from .cam import GradCAM, GradCAMPlusPlus, GuidedGradCAM, HiResCAM, LayerCAM, XGradCAM
from .cam_free import AblationCAM, EigenCAM, ScoreCAM
from .conductance import LayerConductance
from .gradients import Deconvnet, GradientXInput, GuidedBackprop, VanillaGradients
from .occlusion import Occlusion
from .paths import ExpectedGradients, IntegratedGradients, SmoothGrad, SquareGrad, VarGrad
from .propagation import LRP, DeepLift, DeepLiftShap
from .rise import RISE
from .sobol import Sobol
from .surrogates import LIME, KernelSHAP

__all__ = [
    "ATTENTION_METHODS",
    "ATTRIBUTION_METHODS",
    "CORE_METHODS",
    "IMPLEMENTATIONS",
    "LIME",
    "LRP",
    "METHODS",
    "RISE",
    "AblationCAM",
    "AttentionRollout",
    "DeepLift",
    "DeepLiftShap",
    "Deconvnet",
    "EigenCAM",
    "EngineExplainer",
    "EngineExtractor",
    "ExpectedGradients",
    "GenericAttention",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "IntegratedGradients",
    "KernelSHAP",
    "LayerCAM",
    "LayerConductance",
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
    "attention_rollout": AttentionRollout,
    "generic_attention": GenericAttention,
    "deeplift": DeepLift,
    "deepliftshap": DeepLiftShap,
    "lrp": LRP,
    "layer_conductance": LayerConductance,
}

#: The attribution methods written here that apply to any model (every native backend computes them); the
#: catalogue's others are the attention methods (transformers only, :data:`ATTENTION_METHODS`) and those only a
#: library's adapter computes (``MethodSchema.core`` False: shap's ``partition_shap``).
CORE_METHODS: tuple[str, ...] = tuple(m for m in ATTRIBUTION_METHODS if METHODS[m].core and m not in ATTENTION_METHODS)
