"""Which feature maps an activation grid draws: channels last, the spatial layers, one image of the batch.

The grids draw maps channels last ``(N, h, w, C)`` (:func:`channels_last` converts
PyTorch's ``(N, C, h, w)``); only spatial layers (convolution, pooling) have such maps,
and every bad choice of layer or image is refused with what to pass instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..kernels import to_layout
from ..validation import as_numpy

__all__ = ["channels_last", "check_image_index", "spatial_activation_layers"]


def channels_last(activations: Mapping[str, Any], layout: str | None = None) -> Mapping[str, Any]:
    """The activations with spatial maps channels last ``(N, h, w, C)``, as the grids draw them.

    ``layout`` says how the maps are laid out; ``None`` takes the layout an
    :class:`~xaikit.Activations` records (PyTorch's are ``"NCHW"``). A plain mapping without
    ``layout`` is read channels last (Keras' layout): pass ``layout="NCHW"`` for PyTorch maps.
    """
    layout = layout or getattr(activations, "layout", None) or "NHWC"
    if layout == "NHWC":
        return activations
    return {name: (to_layout(as_numpy(v), layout, "NHWC") if np.ndim(v) == 4 else v) for name, v in activations.items()}


def spatial_activation_layers(activations: Mapping[str, Any], layers: Any) -> list[str]:
    """The layers to draw: ``layers`` (a name or names) checked to have spatial ``(N, h, w, C)`` activations,
    or every such layer when ``layers`` is None."""
    names = list(activations.keys())
    if layers is None:
        chosen = [n for n in names if np.ndim(activations[n]) == 4]
        if not chosen:
            shapes = {n: np.shape(activations[n]) for n in names}
            raise InputError(f"none of the layers has spatial (N, h, w, C) activations: {shapes}; "
                             "activation grids need convolution or pooling layers.")
        return chosen
    if isinstance(layers, str):
        layers = [layers]
    chosen = list(layers)
    for n in chosen:
        if n not in activations:
            raise InputError(f"no activations for layer {n!r}; available: {names}")
        if np.ndim(activations[n]) != 4:
            raise InputError(f"layer {n!r} has activations of shape {np.shape(activations[n])}, not (N, h, w, C): "
                             "activation grids need a spatial layer (convolution, pooling). "
                             f"Spatial layers here: {[m for m in names if np.ndim(activations[m]) == 4]}")
    if not chosen:
        raise InputError("layers is empty; pass a layer name, a list of names, or None for every spatial layer.")
    return chosen


def check_image_index(index: Any, n: int, layer: str) -> int:
    """``index`` as a row of ``n`` images (negative: from the end), or an error naming the valid range."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise InputError(f"image_index must be an int; got {index!r}")
    if not -n <= index < n:
        raise InputError(f"image_index={index} is out of range: layer {layer!r} has activations for {n} image(s) "
                         f"(valid: 0..{n - 1}).")
    return int(index) % n
