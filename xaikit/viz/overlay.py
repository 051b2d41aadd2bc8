"""Heat-map overlays (the seeds' ``cv2.applyColorMap`` + weighted sum, done right)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..explanation import normalize_maps
from ..validation import as_numpy

__all__ = ["overlay", "to_display_rgb", "colorize"]


def to_display_rgb(images: Any, image_range: tuple[float, float] | str = "auto") -> np.ndarray:
    """Convert a batch of images to float RGB in [0, 1] for display.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` with C = 1 or 3 (grayscale is repeated to RGB).
    image_range
        ``(low, high)``: the values that map to black and white. ``"auto"`` accepts only
        the unambiguous cases: uint8 -> (0, 255); floats within [0, 1] -> (0, 1); floats
        within [0, 255] -> (0, 255). Anything else (e.g. caffe-style mean-subtracted
        inputs) raises and asks for the range or for the un-preprocessed images.
    """
    arr = as_numpy(images)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise InputError(f"images must be (N, H, W, 1 or 3) for display; got {arr.shape}")
    if isinstance(image_range, str):
        if image_range != "auto":
            raise InputError(f"image_range must be 'auto' or a (low, high) pair; got {image_range!r}")
        lo, hi = float(arr.min()), float(arr.max())
        if arr.dtype == np.uint8:
            image_range = (0.0, 255.0)
        elif lo >= 0 and hi <= 1:
            image_range = (0.0, 1.0)
        elif lo >= 0 and hi <= 255:
            image_range = (0.0, 255.0)
        else:
            raise InputError(
                f"cannot tell how to display images with values in [{lo:.3g}, {hi:.3g}] (preprocessed?). "
                "Pass the original, un-preprocessed images, or image_range=(low, high) for the values that "
                "should map to black and white.")
    low, high = float(image_range[0]), float(image_range[1])
    if not high > low:
        raise InputError(f"image_range must have high > low; got {image_range}")
    out = np.clip((arr.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out


def colorize(maps01: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map values in [0, 1] ``(N, H, W)`` to float RGB ``(N, H, W, 3)`` with a matplotlib colormap."""
    from matplotlib import colormaps

    try:
        cmap = colormaps[colormap]
    except KeyError:
        raise InputError(f"unknown colormap {colormap!r}; use a matplotlib name such as 'jet', 'viridis', "
                         "'inferno', 'magma', 'turbo'") from None
    return cmap(np.clip(maps01, 0, 1))[..., :3].astype(np.float32)


def overlay(images: Any, maps: Any, *, colormap: str = "jet", alpha: float = 0.4, normalize: str = "auto",
            image_range: tuple[float, float] | str = "auto", percentile: float = 99.5) -> np.ndarray:
    """Blend heat maps over images.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` images (C = 1 or 3), see :func:`to_display_rgb`.
    maps
        ``(N, H, W)`` attribution maps at the images' resolution.
    colormap
        A matplotlib colormap name.
    alpha
        Weight of the heat map: ``out = (1 - alpha) * image + alpha * heat``.
    normalize
        How maps are scaled to [0, 1] before colouring; see
        :func:`xaikit.normalize_maps`. ``"signed"`` is not allowed here (use the
        signed-map view for diverging maps).

    Returns
    -------
    numpy.ndarray
        uint8 RGB ``(N, H, W, 3)``.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha must be in [0, 1]; got {alpha}")
    if normalize == "signed":
        raise InputError("normalize='signed' gives values in [-1, 1], which a sequential colormap overlay cannot "
                         "show; use 'abs' or 'positive' here, or xaikit.viz.signed_map for a diverging view")
    rgb = to_display_rgb(images, image_range)
    maps = np.asarray(as_numpy(maps), dtype=np.float32)
    if maps.ndim != 3 or maps.shape != rgb.shape[:3]:
        raise InputError(f"maps must have shape (N, H, W) = {rgb.shape[:3]} to match the images; got {maps.shape}. "
                         "Attributions from xaikit are already at input resolution.")
    heat = colorize(normalize_maps(maps, normalize, percentile=percentile), colormap)
    out = (1.0 - alpha) * rgb + alpha * heat
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
