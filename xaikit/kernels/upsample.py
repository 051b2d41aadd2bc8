"""Upsampling of attribution maps from layer to input resolution (the reference every backend uses).

OpenCV is imported lazily so that ``import xaikit`` stays light.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["resize_maps"]

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area")


def resize_maps(maps: np.ndarray, size: tuple[int, int], *, interpolation: str = "bilinear") -> np.ndarray:
    """Resize a batch of 2-D maps to ``size = (height, width)``.

    Parameters
    ----------
    maps
        Array of shape ``(N, h, w)``.
    size
        Target ``(height, width)``. (OpenCV's ``cv2.resize`` takes ``(width, height)``;
        this function takes the NumPy order and does the swap, so non-square images keep
        their orientation.)
    interpolation
        ``"bilinear"`` (default, as Grad-CAM implementations upsample), ``"nearest"``,
        ``"bicubic"`` or ``"area"``.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(N, height, width)``.
    """
    import cv2

    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise InputError(f"maps must have shape (N, h, w); got {maps.shape}")
    if interpolation not in _INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {_INTERPOLATIONS}; got {interpolation!r}")
    height, width = int(size[0]), int(size[1])
    if maps.shape[1:] == (height, width):
        return maps.astype(np.float32, copy=True)
    flag = {
        "bilinear": cv2.INTER_LINEAR,
        "nearest": cv2.INTER_NEAREST,
        "bicubic": cv2.INTER_CUBIC,
        "area": cv2.INTER_AREA,
    }[interpolation]
    out = np.empty((maps.shape[0], height, width), dtype=np.float32)
    for i, m in enumerate(maps.astype(np.float32, copy=False)):
        out[i] = cv2.resize(m, (width, height), interpolation=flag)
    return out
