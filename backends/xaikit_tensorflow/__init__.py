"""Native TensorFlow / Keras 3 backend for xaikit.

The backend is an engine (:mod:`.engine`: xaikit's primitives as compiled TensorFlow
functions) and model services (:mod:`.services`); every method comes from the core
(:mod:`xaikit.methods`). Importing this package does not import TensorFlow.
"""

from xaikit.registry import BackendSpec

from .preprocessing import KERAS_FAMILIES  # NumPy only: the family names, no Keras import

_M = "xaikit_tensorflow"

BACKEND = BackendSpec(
    name="tensorflow",
    description="Native TensorFlow/Keras 3 implementations (compiled, batched, seeded)",
    engine=f"{_M}.engine:engine_for",
    capabilities=("scores", "gradients", "layers", "head", "guided", "propagation"),
    services=f"{_M}.services:SERVICES",
    model_files=(".keras", ".h5", ".hdf5", "/saved_model.pb"),
    preprocessing=(*KERAS_FAMILIES, "keras.applications.*"),
    requires=("tensorflow", "keras"),
    extra="tensorflow",
    frameworks=("keras", "tf_keras", "tensorflow"),
    native=True,
    distributions=("tensorflow", "keras"),
)


def declare_layout(model, layout):
    """State how ``model`` takes a batch (``"NHWC"``, ``"NCHW"``; None: read from its input shape); see
    :func:`.declared_layouts.declare_layout`."""
    from .declared_layouts import declare_layout as declare

    declare(model, layout)


def class_scores(model, images, score="probability", batch_size=32):
    """``(N, n_classes)`` class scores as the explainers see them; see :mod:`.services`."""
    from .services import SERVICES

    return SERVICES.class_scores(model, images, score, batch_size)


__all__ = ["BACKEND", "class_scores", "declare_layout"]
