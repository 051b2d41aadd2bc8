"""shap backend for xaikit: shap's own explainers behind the xaikit contract.

- ``expected_gradients``: ``shap.GradientExplainer`` on Keras 3 models (its TensorFlow
  implementation) and PyTorch modules (its PyTorch implementation), picked by the model's
  framework (:mod:`.dispatch`);
- ``partition_shap``: ``shap.PartitionExplainer`` with ``shap.maskers.Image`` on any model
  xaikit can score, black boxes included (:mod:`.partition`).

Importing this package imports neither shap nor a framework: the explainer classes live
in submodules loaded on first use, so ``xaikit.list_backends()`` stays cheap.

The point of this backend is comparison: the same method computed by shap itself and by
xaikit's native backends, on the same model, images and background, returned in the same
:class:`xaikit.Explanation` format.
"""

from xaikit.registry import ANY_MODEL, BackendSpec

_M = "xaikit_shap"

BACKEND = BackendSpec(
    name="shap",
    description="shap's GradientExplainer (expected gradients; Keras 3 and PyTorch, at the input or a layer) and "
                "Partition explainer with an image masker (any model)",
    methods={
        "expected_gradients": f"{_M}.dispatch:ShapExpectedGradients",
        "partition_shap": f"{_M}.partition:ShapPartition",
    },
    requires=("shap",),
    extra="shap",
    frameworks=("keras", "torch", ANY_MODEL),  # partition_shap takes any model; expected_gradients Keras, PyTorch
    native=False,
    distributions=("shap",),
)

__all__ = ["BACKEND"]
