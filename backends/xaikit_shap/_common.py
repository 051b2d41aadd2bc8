"""What the shap backend's explainers share whatever the framework (imports neither shap nor a framework)."""

from __future__ import annotations

import importlib
from typing import Any

from xaikit.errors import ModelError
from xaikit.explainer import Explainer

__all__ = ["ShapExpectedGradientsBase", "framework_of", "implementation_for"]


def framework_of(model: Any) -> str | None:
    """``"keras"`` or ``"torch"`` from the modules of the model's classes (nothing imported), else None."""
    roots = {cls.__module__.split(".", 1)[0] for cls in type(model).__mro__}
    if roots & {"keras", "tf_keras"}:
        return "keras"
    if "torch" in roots:
        return "torch"
    return None


def implementation_for(model: Any, implementations: dict[str, str], what: str) -> type:
    """The class (``"module:Class"``, imported now) that computes ``what`` for ``model``'s framework."""
    framework = framework_of(model)
    if framework not in implementations:
        raise ModelError(f"{what} explains Keras 3 models and PyTorch modules (it differentiates them); got a "
                         f"{type(model).__module__}.{type(model).__qualname__}. For a black box, use shap's "
                         "Partition explainer: method='partition_shap', backend='shap'.")
    module, _, name = implementations[framework].partition(":")
    return getattr(importlib.import_module(module), name)


class ShapExpectedGradientsBase(Explainer):
    """The method and parameters of shap's ``GradientExplainer`` in xaikit, for every framework."""

    method = "expected_gradients"
    backend = "shap"
    param_changes = {"completeness": None}  # shap's result always comes with its completeness gap
