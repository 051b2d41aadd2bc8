"""Image operations of the core; :func:`resize_maps` lives in :mod:`xaikit.kernels.upsample`."""

from .kernels.upsample import resize_maps

__all__ = ["resize_maps"]
