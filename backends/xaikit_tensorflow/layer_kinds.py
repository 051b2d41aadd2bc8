"""The kind of a Keras layer and of a Keras model as xaikit names them (conv, pool, dense, ...; sequential, functional,
subclassed), and a model's layers by name.

These read classes and structure only (no pass runs): what the model view reports for
every layer (:meth:`xaikit_tensorflow._keras.KerasModelView.describe`) and how it finds
the layers of nested models. ``xaikit_torch.layer_kinds`` is the PyTorch counterpart.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["activation_name", "index_layers", "is_container", "layer_kind", "model_kind"]

_CONV_TYPES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
               "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
_POOL_TYPES = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
               "AveragePooling3D")
_KNOWN_ACTIVATIONS = ("softmax", "sigmoid", "linear")
_KINDS = {
    "activation": ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "ThresholdedReLU"),
    "norm": ("BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"),
    "global_pool": ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D"),
    "dense": ("Dense", "EinsumDense"),
    "flatten": ("Flatten",),
    "dropout": ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                "AlphaDropout", "GaussianNoise"),
    "reshape": ("Reshape", "Permute", "Cropping2D", "ZeroPadding2D", "UpSampling2D"),
}


def layer_kind(layer: Any) -> str:
    """The :class:`xaikit.spec.LayerInfo` kind of a Keras layer."""
    if isinstance(layer, keras.Model):
        return "container"
    name = type(layer).__name__
    if name in _CONV_TYPES:
        return "conv"
    if name in _POOL_TYPES:
        return "pool"
    for kind, names in _KINDS.items():
        if name in names:
            return kind
    return "other"


def activation_name(fn: Any) -> str:
    """The name of an activation function xaikit knows (softmax, sigmoid, linear), else ``"other"``."""
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name if name in _KNOWN_ACTIVATIONS else "other"


def is_container(layer: Any) -> bool:
    """Whether ``layer`` is a model nested in the model (it has layers of its own)."""
    return isinstance(layer, keras.Model)


def model_kind(model: Any) -> str:
    """``"sequential"``, ``"functional"`` (a graph of layers) or ``"subclassed"``."""
    if isinstance(model, keras.Sequential):
        return "sequential"
    try:
        from keras.src.models.functional import Functional
    except ImportError:  # pragma: no cover - private path moved
        graph = hasattr(model, "_run_through_graph") and getattr(model, "outputs", None)
        return "functional" if graph else "subclassed"
    return "functional" if isinstance(model, Functional) else "subclassed"


def index_layers(model: Any) -> dict[str, Any]:
    """Every layer of ``model`` but its inputs, nested models' layers included, by name.

    A layer's plain name when it is unique in the model (the usual case), else its path
    through the nested models (``"block/conv"``).
    """
    found: list[tuple[str, Any]] = []

    def walk(container: Any, prefix: str) -> None:
        for layer in container.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            found.append((prefix + layer.name, layer))
            if is_container(layer):
                walk(layer, prefix + layer.name + "/")

    walk(model, "")
    # Plain names when unique (the usual case); nested paths stay available too.
    counts: dict[str, int] = {}
    for path, _ in found:
        counts[path.rsplit("/", 1)[-1]] = counts.get(path.rsplit("/", 1)[-1], 0) + 1
    index: dict[str, Any] = {}
    for path, layer in found:
        short = path.rsplit("/", 1)[-1]
        index[short if counts[short] == 1 else path] = layer
    return index
