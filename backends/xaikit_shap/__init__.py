"""shap backend for xaikit: SHAP's own ``GradientExplainer`` behind the xaikit contract.

Importing this package imports neither shap nor TensorFlow: the explainer class lives
in a submodule loaded on first use, so ``xaikit.list_backends()`` stays cheap.

The point of this backend is comparison: the same method (expected gradients) computed
by SHAP itself and by xaikit's native TensorFlow backend, on the same model, images and
background, returned in the same :class:`xaikit.Explanation` format.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_shap"

BACKEND = BackendSpec(
    name="shap",
    description="SHAP's GradientExplainer (expected gradients) on Keras 3 models, at the input or a layer",
    methods={
        "expected_gradients": f"{_M}.expected_gradients:ShapExpectedGradients",
    },
    requires=("tensorflow", "keras", "shap"),
    extra="shap",
    frameworks=("keras",),
    native=False,
    distributions=("shap",),
)

__all__ = ["BACKEND"]
