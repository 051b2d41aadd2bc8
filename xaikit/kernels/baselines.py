"""Baselines (reference inputs) as arrays of the image's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["broadcast_baseline"]


def broadcast_baseline(baseline: Any, image_shape: tuple[int, ...], channel_axis: int = -1,
                       name: str = "baseline") -> np.ndarray:
    """A baseline as a float32 array of one image's shape.

    Parameters
    ----------
    baseline
        A number, one value per channel (shape ``(C,)``), or an image of shape ``image_shape``.
    image_shape
        One image's shape in the model's layout: ``(H, W, C)`` or ``(C, H, W)``.
    channel_axis
        The channel axis of ``image_shape`` (``-1`` channels last, ``0`` channels first).
    name
        Parameter name for messages.

    Raises
    ------
    InputError
        For text (``'black'`` is a pixel colour, which depends on the preprocessing), a
        wrong shape, or NaN/Inf/out-of-float32-range values.
    """
    shape = tuple(int(s) for s in image_shape)
    channels = shape[channel_axis]
    if isinstance(baseline, str) or (isinstance(baseline, np.ndarray) and baseline.dtype.kind in "USO"):
        raise InputError(f"{name}={baseline!r}: give a number, one value per channel or an image, in the model's input "
                         "space. A colour such as 'black' depends on the preprocessing (black is 0 for [0, 1] inputs, "
                         "-mean for caffe): compute it with the preprocessing, e.g. "
                         "xaikit.preprocessing.preprocess(np.zeros((1, 1, 1, 3)), 'caffe')[0, 0, 0]. "
                         "The CLI's --baseline black does this for you.")
    try:
        arr = np.asarray(baseline, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, a per-channel array of shape ({channels},) or an image of shape "
                         f"{shape}; got {type(baseline).__name__}") from None
    if not (arr.ndim == 0 or arr.shape == (channels,) or arr.shape == shape):
        raise InputError(f"{name} must be a number, a per-channel array of shape ({channels},), or an image of shape "
                         f"{shape}; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (arr.size and np.abs(arr).max() > np.finfo(np.float32).max):
        raise InputError(f"{name} contains NaN, Inf or values beyond float32's range")
    if arr.shape == (channels,) and len(shape) == 3:
        view = [1, 1, 1]
        view[channel_axis] = channels
        arr = arr.reshape(view)
    return np.ascontiguousarray(np.broadcast_to(arr, shape), dtype=np.float32)
