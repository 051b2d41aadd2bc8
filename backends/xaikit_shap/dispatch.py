"""``shap.GradientExplainer`` for any model shap differentiates: the class registered for ``expected_gradients``.

shap has one ``GradientExplainer`` with a TensorFlow and a PyTorch implementation; xaikit
has one for each too (:mod:`.expected_gradients` for Keras 3 models, :mod:`.torch_gradients`
for PyTorch modules). :class:`ShapExpectedGradients` picks by the model's framework when
it is constructed, so ``xk.explain(model, x, "expected_gradients", backend="shap")`` works
for both. Importing this module imports neither shap nor a framework.
"""

from __future__ import annotations

from typing import Any

from ._common import ShapExpectedGradientsBase, implementation_for

__all__ = ["ShapExpectedGradients"]

#: framework -> the class computing shap's expected gradients for its models.
IMPLEMENTATIONS = {"keras": "xaikit_shap.expected_gradients:KerasShapExpectedGradients",
                   "torch": "xaikit_shap.torch_gradients:TorchShapExpectedGradients"}


class ShapExpectedGradients(ShapExpectedGradientsBase):
    """Expected gradients by ``shap.GradientExplainer``, for Keras 3 models and PyTorch modules.

    Constructing it returns the explainer of the model's framework:
    :class:`xaikit_shap.expected_gradients.KerasShapExpectedGradients` or
    :class:`xaikit_shap.torch_gradients.TorchShapExpectedGradients` (same parameters;
    their pages say what shap computes). Any other model raises
    :class:`~xaikit.ModelError` naming ``partition_shap``, shap's black-box method.
    """

    def __new__(cls, model: Any, **params: Any) -> Any:
        return implementation_for(model, IMPLEMENTATIONS, "shap's GradientExplainer")(model, **params)
