"""Image layouts: channels last (Keras, NHWC) and channels first (PyTorch, NCHW)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["LAYOUTS", "to_layout", "channel_axis"]

LAYOUTS = ("NHWC", "NCHW")


def channel_axis(layout: str) -> int:
    """The channel axis of a batch: 3 (NHWC) or 1 (NCHW)."""
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {LAYOUTS}; got {layout!r}")
    return 3 if layout == "NHWC" else 1


def to_layout(images: np.ndarray, source: str, target: str) -> np.ndarray:
    """A batch ``(N, ...)`` moved from layout ``source`` to ``target`` (contiguous; a no-op when equal)."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise InputError(f"images must be a batch of 4 dimensions; got shape {images.shape}")
    src, dst = channel_axis(source), channel_axis(target)
    if src == dst:
        return images
    return np.ascontiguousarray(np.moveaxis(images, src, dst))
