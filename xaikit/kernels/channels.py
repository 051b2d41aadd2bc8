"""Reduction of per-channel attributions to one map per image."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["CHANNEL_REDUCTIONS", "reduce_channels"]

CHANNEL_REDUCTIONS = ("sum", "abs_sum", "max_abs")


def reduce_channels(values: np.ndarray, mode: str, axis: int = -1) -> np.ndarray:
    """Reduce per-channel attributions to maps ``(N, H, W)``.

    Parameters
    ----------
    values : numpy.ndarray
        ``(N, H, W, C)`` (``axis=-1``, channels last) or ``(N, C, H, W)`` (``axis=1``).
    mode : {"sum", "abs_sum", "max_abs"}
        ``"sum"`` keeps the sign and the completeness property (the map sums to the total
        attribution); ``"abs_sum"`` is tf-explain's grayscale reduction; ``"max_abs"`` is
        Simonyan et al.'s saliency (largest magnitude over channels).
    axis : int
        The channel axis.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)``.
    """
    if mode not in CHANNEL_REDUCTIONS:
        raise InputError(f"channel_reduce must be one of {', '.join(map(repr, CHANNEL_REDUCTIONS))}; got {mode!r}.")
    values = np.asarray(values)
    axis = axis % values.ndim
    # An explicit loop over the (few) channels: NumPy's reduction over a short last axis is
    # strided and several times slower than C element-wise passes.
    channels = [np.take(values, c, axis=axis) for c in range(values.shape[axis])]
    if mode != "sum":
        channels = [np.abs(c) for c in channels]
    out = np.array(channels[0], dtype=np.float32, copy=True)
    for c in channels[1:]:
        if mode == "max_abs":
            np.maximum(out, c, out=out)
        else:
            out += c
    return out
