"""Native TensorFlow / Keras 3 backend for xaikit.

Importing this package does not import TensorFlow: the method classes live in
submodules loaded on first use.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_tensorflow"

BACKEND = BackendSpec(
    name="tensorflow",
    description="Native TensorFlow/Keras 3 implementations (compiled, batched, seeded)",
    methods={
        "activations": f"{_M}.activations:TFActivations",
        "occlusion": f"{_M}.occlusion:TFOcclusion",
        "gradcam": f"{_M}.cam:TFGradCAM",
        "gradcam++": f"{_M}.cam:TFGradCAMPlusPlus",
        "vanilla_gradients": f"{_M}.gradients:TFVanillaGradients",
        "gradient_x_input": f"{_M}.gradients:TFGradientXInput",
        "smoothgrad": f"{_M}.gradients:TFSmoothGrad",
        "integrated_gradients": f"{_M}.gradients:TFIntegratedGradients",
        "expected_gradients": f"{_M}.expected_gradients:TFExpectedGradients",
    },
    requires=("tensorflow", "keras"),
    extra="tensorflow",
    frameworks=("keras", "tf_keras", "tensorflow"),
    native=True,
    distributions=("tensorflow", "keras"),
)

def class_scores(model, images, score="probability", batch_size=32):  # noqa: ANN001, ANN201
    """``(N, n_classes)`` class scores as the explainers see them; see :func:`._base.class_scores`."""
    from ._base import class_scores as _class_scores

    return _class_scores(model, images, score, batch_size)


__all__ = ["BACKEND", "class_scores"]
