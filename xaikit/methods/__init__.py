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
from .cam import GradCAM, GradCAMPlusPlus
from .gradients import GradientXInput, VanillaGradients
from .occlusion import Occlusion
from .paths import ExpectedGradients, IntegratedGradients, SmoothGrad

__all__ = [
    "ATTRIBUTION_METHODS",
    "IMPLEMENTATIONS",
    "METHODS",
    "EngineExplainer",
    "EngineExtractor",
    "ExpectedGradients",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "IntegratedGradients",
    "MethodInfo",
    "Occlusion",
    "SmoothGrad",
    "VanillaGradients",
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
}
