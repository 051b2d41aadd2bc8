"""The methods, written once on the engine primitives, each declared with its schema; and the catalogue's names.

Adding a method: its kernel if any (:mod:`xaikit.kernels`), its class with its
:class:`~xaikit.catalogue.MethodSchema` (``schema=``, with ``example_params`` for the tests and
``docs=DocsEntry(...)`` for the docs' navigation and index, which ``docs/hooks.py`` generates) in
a module imported here, and its docs page (``docs/methods/<id>.md``); ``tests/test_method_declarations.py``
checks them.

Every native backend offers the method classes here, bound to its engine by the
registry (:func:`xaikit.binding.get_method_class`), for every method whose catalogue
``needs`` its engine's capabilities cover. Adapters of other libraries (tf-explain,
shap, ...) bring their own classes.
"""

from __future__ import annotations

from ..catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS, IMPLEMENTATIONS, METHODS, MethodIds
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

# IMPLEMENTATIONS (method id -> the core class computing it on an engine) is filled by the classes above: each
# declares its method with its schema (``class GradCAM(EngineExplainer, schema=MethodSchema("gradcam", ...))``, see
# :mod:`xaikit.methods.base`).

#: The attribution methods written here that apply to any model (every native backend computes them); the
#: catalogue's others are the attention methods (transformers only, :data:`ATTENTION_METHODS`) and those only a
#: library's adapter computes (``MethodSchema.core`` False: shap's ``partition_shap``).
CORE_METHODS: MethodIds = MethodIds(lambda s: s.kind == "attribution" and s.core and "attention" not in s.needs)
