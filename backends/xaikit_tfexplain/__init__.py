"""tf-explain adapter for xaikit: tf-explain's own computations, returned as raw per-image attributions.

The adapter calls tf-explain 0.3.1's lower-level functions (``GradCAM.get_gradients_and_filters``,
``SmoothGrad.get_averaged_gradients``, ``IntegratedGradients.get_integrated_gradients``,
``VanillaGradients.compute_gradients``, ``ExtractActivations.generate_activations_graph``, ...)
on a Keras graph xaikit rebuilds from the user's model (so Keras 3 Sequential and nested
models work without patching the library), and never its ``explain()`` (which normalises a
whole batch together and returns a uint8 grid). Where tf-explain's semantics differ from the
native backend (probabilities instead of logits, guided gradients, cross-entropy SmoothGrad,
1 - p occlusion with grey patches, mean-gradient "integrated gradients", |grad| channel
reduction), they are the defaults here and are recorded in each result's ``params``; see
``docs/backends/tf-explain.md``.

Importing this package does not import TensorFlow or tf-explain: the method classes live in
submodules loaded on first use.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_tfexplain"

BACKEND = BackendSpec(
    name="tf-explain",
    description="tf-explain 0.3.1's computations as raw per-image attributions (Keras 3 models via a rebuilt graph)",
    methods={
        "activations": f"{_M}.activations:TFXActivations",
        "occlusion": f"{_M}.occlusion:TFXOcclusion",
        "gradcam": f"{_M}.cam:TFXGradCAM",
        "vanilla_gradients": f"{_M}.gradients:TFXVanillaGradients",
        "gradient_x_input": f"{_M}.gradients:TFXGradientXInput",
        "smoothgrad": f"{_M}.gradients:TFXSmoothGrad",
        "integrated_gradients": f"{_M}.gradients:TFXIntegratedGradients",
    },
    requires=("tensorflow", "keras", "tf_explain"),
    extra="tf-explain",
    frameworks=("keras",),
    native=False,
    distributions=("tf-explain",),
)

__all__ = ["BACKEND"]
