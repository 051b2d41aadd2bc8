"""Image layouts: channels last (Keras, NHWC) and channels first (PyTorch, NCHW)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["CHANNEL_SIZES", "LAYOUTS", "to_layout", "channel_axis", "images_channels_last", "layout_from_shape"]

LAYOUTS = ("NHWC", "NCHW")
#: Channel counts that identify the channel axis of an image (grey, colour, colour + alpha).
CHANNEL_SIZES = (1, 3, 4)


def layout_from_shape(image_shape: tuple[int | None, ...]) -> str | None:
    """``"NHWC"`` or ``"NCHW"`` when one image's shape decides it, else None (ambiguous).

    The rule of every backend that reads the layout from a shape: the channel axis is the
    first (``(C, H, W)``) or the last (``(H, W, C)``) axis, recognised only when exactly
    one of them has 1, 3 or 4 entries.
    """
    shape = tuple(image_shape)
    if len(shape) != 3:
        return None
    first, last = shape[0] in CHANNEL_SIZES, shape[2] in CHANNEL_SIZES
    if first == last:
        return None
    return "NCHW" if first else "NHWC"


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


def images_channels_last(images: np.ndarray, layout: str | None, size: tuple[int, int] | None = None,
                         name: str = "images") -> np.ndarray:
    """A batch of images channels last, as the pictures draw them.

    ``layout`` ``"NHWC"`` or ``"NCHW"`` says how ``images`` are laid out. ``None`` infers it,
    but only when the shape leaves one reading: with ``size`` (the ``(H, W)`` of the maps
    drawn over the images) the layout whose spatial axes match it; without, the layout
    whose channel axis holds 1 or 3 values (grey, RGB) while the other does not. Anything else is
    an :class:`~xaikit.InputError` asking for ``layout=``, never a guess.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        return images  # the callers report their own shape errors
    if layout is None:
        fits = [] if size is None else [lay for lay, hw in (("NHWC", images.shape[1:3]), ("NCHW", images.shape[2:4]))
                                        if tuple(hw) == tuple(size)]
        if not fits:  # no size, or maps of another size (the caller resizes or says so): the channels tell
            fits = [lay for lay, c in (("NHWC", images.shape[3]), ("NCHW", images.shape[1])) if c in (1, 3)]
        if len(fits) != 1:
            raise InputError(f"cannot tell whether {name} of shape {images.shape} are channels last (NHWC) or first "
                             "(NCHW); pass layout='NHWC' (Keras) or layout='NCHW' (PyTorch)")
        layout = fits[0]
    return to_layout(images, layout, "NHWC")
