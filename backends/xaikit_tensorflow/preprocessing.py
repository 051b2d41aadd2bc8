"""``keras.applications`` preprocessing families as xaikit schemes (what ``--preprocess vgg16`` means)."""

from __future__ import annotations

import functools
import importlib
from typing import Any

import numpy as np

from xaikit.errors import InputError, UnknownNameError
from xaikit.preprocessing import SCHEMES, Scheme, identify

__all__ = ["KERAS_FAMILIES", "family_scheme"]

#: Modules of ``keras.applications`` that have a ``preprocess_input`` (Keras 3.x), accepted by
#: their short name; any other module is named in full (``"keras.applications.<module>"``).
KERAS_FAMILIES = ("convnext", "densenet", "efficientnet", "efficientnet_v2", "inception_resnet_v2", "inception_v3",
                  "mobilenet", "mobilenet_v2", "mobilenet_v3", "nasnet", "resnet", "resnet50", "resnet_v2", "vgg16",
                  "vgg19", "xception")


@functools.cache
def family_scheme(name: str) -> Scheme | None:
    """The scheme of ``keras.applications.<family>.preprocess_input``, or None if ``name`` is not one."""
    explicit = name.startswith("keras.applications.")
    family = name.removeprefix("keras.applications.").removesuffix(".preprocess_input")
    if not (family in KERAS_FAMILIES or explicit):
        return None
    if not family.isidentifier():
        raise UnknownNameError(f"unknown preprocessing {name!r}")
    try:
        module = importlib.import_module(f"keras.applications.{family}")
    except ImportError:
        module = None
    fn = getattr(module, "preprocess_input", None)
    if fn is None:
        raise UnknownNameError(f"unknown preprocessing {name!r} (keras.applications.{family}.preprocess_input does "
                               "not exist)")

    def forward(x: Any) -> np.ndarray:
        arr = np.array(x, dtype=np.float32, copy=True)  # keras' preprocess_input modifies float arrays in place
        if arr.ndim != 4:
            raise InputError(f"images must be a batch (N, H, W, C); got shape {arr.shape}")
        return np.asarray(fn(arr), dtype=np.float32)

    base = identify(forward)
    if base is None:
        def inverse(x: Any) -> np.ndarray:
            raise InputError(f"keras.applications.{family}.preprocess_input matches none of the built-in schemes "
                             f"({', '.join(SCHEMES)}), so xaikit cannot undo it for display; pass the original "
                             "images to the picture functions instead.")
        return Scheme(family, f"keras.applications.{family}.preprocess_input (no known inverse)", forward, inverse,
                      base="")
    b = SCHEMES[base]
    return Scheme(family, f"keras.applications.{family}.preprocess_input (= {base}: {b.description})", forward,
                  b.inverse, rgb_only=b.rgb_only, base=base)
