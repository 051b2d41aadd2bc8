"""Images for display and heat-map overlays (the seeds' ``cv2.applyColorMap`` + weighted sum, done right).

Two explicit steps, never a guess:

1. :func:`to_display_rgb` turns the images the model saw into float RGB in [0, 1]. The
   user says how: ``image_range=(low, high)``, or ``undo=`` the preprocessing scheme
   (``"scale255"``, ``"caffe"``, ``"torch"``, ``"tf"``, ``"none"``, a ``keras.applications``
   family such as ``"vgg16"``, or a function); the inverses come from
   :mod:`xaikit.preprocessing`, the one home of preprocessing schemes.
   ``image_range="auto"`` only accepts the unambiguous cases (uint8; floats within
   [0, 1]; floats within [0, 255]) and raises for anything else.
2. :func:`overlay` normalises each map on its own (:func:`xaikit.normalize_maps`),
   colours it with a matplotlib colormap and blends it over the image.

Nothing is resized or transposed here: maps must already be at the image's ``(H, W)``
(xaikit attributions are); ``resize=True`` upsamples lower-resolution maps explicitly
with :func:`xaikit.imaging.resize_maps`, which keeps non-square images the right way up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._display import NORMALIZE_MODES, normalize_maps
from ..errors import InputError
from ..kernels import images_channels_last
from ..preprocessing import CAFFE_MEAN_BGR, SCHEMES, TORCH_MEAN, TORCH_STD, get_scheme
from ..validation import as_numpy

__all__ = [
    "overlay",
    "to_display_rgb",
    "to_display_gray",
    "colorize",
    "get_colormap",
    "check_maps",
    "UNDO_SCHEMES",
    "CAFFE_MEAN_BGR",
    "TORCH_MEAN",
    "TORCH_STD",
]

#: ``name -> (description, display range after undoing)``; the schemes themselves (forward
#: transform and inverse) live in :mod:`xaikit.preprocessing`, the one home of preprocessing.
#: ``undo=`` also accepts a ``keras.applications`` family name (``"vgg16"``, ``"xception"``).
UNDO_SCHEMES: dict[str, tuple[str, tuple[float, float]]] = {
    name: (scheme.description, (0.0, 255.0)) for name, scheme in SCHEMES.items()
}

#: Values may exceed the scheme's display range by this fraction of it (resampling
#: overshoot, JPEG noise) before the undo is declared wrong.
_RANGE_TOLERANCE = 0.02

Undo = str | Callable[[np.ndarray], Any] | None


def _undo_hint() -> str:
    return ", ".join(repr(k) for k in UNDO_SCHEMES)


def _check_images_4d(arr: np.ndarray, name: str = "images") -> None:
    if arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[0] > 0:
        return
    if arr.ndim == 4 and arr.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {arr.shape}); pass at least one image.")
    hint = ""
    if arr.ndim == 3 and arr.shape[-1] in (1, 3):
        hint = f" For a single image pass {name}[None] (adds the batch axis)."
    elif arr.ndim == 3:
        hint = f" For a batch of grayscale images pass {name}[..., None] (adds the channel axis)."
    elif arr.ndim == 2:
        hint = f" For a single grayscale image pass {name}[None, ..., None]."
    elif arr.ndim == 4 and arr.shape[1] in (1, 3):
        hint = f" The array looks channels-first; pass {name}.transpose(0, 2, 3, 1)."
    elif arr.ndim == 4 and arr.shape[-1] == 4:
        hint = f" Drop the alpha channel: {name}[..., :3]."
    raise InputError(f"{name} must have shape (N, H, W, 1 or 3) for display; got {arr.shape}.{hint}")


def _auto_range(arr: np.ndarray) -> tuple[float, float]:
    """The display range of the unambiguous cases; raise for anything else."""
    if arr.dtype == np.uint8:
        return 0.0, 255.0
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"images of dtype {arr.dtype} cannot be displayed; pass uint8 pixels or floats.")
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError("images contain NaN or Inf; clean them (np.nan_to_num) before display.")
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0 and hi <= 1:
        return 0.0, 1.0
    if lo >= 0 and hi <= 255:
        return 0.0, 255.0
    raise InputError(
        f"cannot tell how to display images with values in [{lo:.4g}, {hi:.4g}] (preprocessed?). "
        f"Say how to undo the preprocessing with undo= one of {_undo_hint()} (e.g. undo='caffe' for "
        "keras vgg16/resnet50 preprocess_input, undo='tf' for [-1, 1]), or pass image_range=(low, high) "
        "for the values that map to black and white, or pass the original, un-preprocessed images.")


def _apply_undo(arr: np.ndarray, undo: str) -> tuple[np.ndarray, tuple[float, float]]:
    try:
        scheme = get_scheme(undo)
    except InputError:
        raise InputError(f"undo must be one of {_undo_hint()} (or a keras.applications family such as 'vgg16'), "
                         f"a function, or None; got {undo!r}.") from None
    if scheme.rgb_only and arr.shape[-1] != 3:
        raise InputError(f"undo={undo!r} needs RGB images (3 channels); got {arr.shape[-1]} channel(s). "
                         "For grayscale models pass image_range=(low, high) instead.")
    x = scheme.inverse(arr)
    low, high = 0.0, 255.0  # every inverse returns pixels
    lo, hi = float(x.min()), float(x.max())
    tol = _RANGE_TOLERANCE * (high - low)
    if lo < low - tol or hi > high + tol:
        raise InputError(
            f"after undo={undo!r} ({scheme.description}) the images span [{lo:.4g}, {hi:.4g}] in pixels, outside "
            f"[{low:g}, {high:g}]: they were not preprocessed this way. Pick the scheme the model's "
            f"preprocess_input uses (one of {_undo_hint()}) or pass image_range=(low, high).")
    if scheme.base == "none" and hi <= 1.0:
        raise InputError(
            f"undo={undo!r} means raw pixels in [0, 255], but these images are within [{lo:.4g}, {hi:.4g}]; "
            "use undo='scale255' for pixels divided by 255.")
    return x, (low, high)


def to_display_rgb(images: Any, image_range: tuple[float, float] | str = "auto", *,
                   undo: Undo = None, layout: str | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Convert a batch of images to float RGB in [0, 1] for display.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` or ``(N, C, H, W)`` with C = 1 or 3 (grayscale is repeated to
        RGB). Integer or float pixels, or the preprocessed model input together with ``undo``.
    layout
        ``"NHWC"`` (Keras) or ``"NCHW"`` (PyTorch); ``None`` reads the shape, and raises
        when it does not tell (see :func:`xaikit.kernels.images_channels_last`).
    size
        ``(H, W)`` of the maps to be drawn over the images, which tells the layout apart.
    image_range
        ``(low, high)``: the values that map to black and white. ``"auto"`` accepts only
        the unambiguous cases: uint8 -> (0, 255); floats within [0, 1] -> (0, 1); numbers
        within [0, 255] otherwise -> (0, 255). Anything else (e.g. caffe-style
        mean-subtracted inputs) raises and asks for ``undo`` or ``image_range``.
    undo
        How the images were preprocessed, to undo it for display:

        - ``"none"``: raw pixels in [0, 255] (no preprocessing);
        - ``"scale255"``: ``x / 255``;
        - ``"caffe"``: RGB->BGR then minus ``CAFFE_MEAN_BGR`` (Keras ``vgg16``,
          ``vgg19``, ``resnet50`` ``preprocess_input``); the means are added back and
          the channels swapped back to RGB;
        - ``"torch"``: ``(x / 255 - TORCH_MEAN) / TORCH_STD``;
        - ``"tf"``: ``x / 127.5 - 1``;
        - a ``keras.applications`` family (``"vgg16"``, ``"xception"``, ...): the
          inverse of the scheme its ``preprocess_input`` computes (see
          :func:`xaikit.preprocessing.get_scheme`);
        - a function ``f(images) -> pixels`` (its output goes through ``image_range``);
        - ``None`` (default): use ``image_range``.

        A named scheme fixes the display range; values that fall outside it (by more
        than 2 %) raise, because the images were not preprocessed that way.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W, 3)`` in [0, 1].

    Raises
    ------
    InputError
        For a wrong shape, an ambiguous range (the message names ``undo`` and
        ``image_range``), an unknown scheme, or both ``undo`` and an explicit
        ``image_range``.
    """
    arr = images_channels_last(as_numpy(images), layout, size)
    _check_images_4d(arr)
    explicit_range = not (isinstance(image_range, str) and image_range == "auto")
    if isinstance(image_range, str) and image_range != "auto":
        raise InputError(f"image_range must be 'auto' or a (low, high) pair; got {image_range!r}. "
                         f"To undo a preprocessing scheme pass undo= one of {_undo_hint()}.")
    if isinstance(undo, str):
        if explicit_range:
            raise InputError("pass either undo= (which fixes the display range) or image_range=, not both.")
        arr, image_range = _apply_undo(arr, undo)
    elif callable(undo):
        arr = as_numpy(undo(arr))
        _check_images_4d(arr, name="the output of undo(images)")
    elif undo is not None:
        raise InputError(f"undo must be one of {_undo_hint()}, a function, or None; got {undo!r}.")
    if isinstance(image_range, str):
        image_range = _auto_range(arr)
    try:
        low, high = float(image_range[0]), float(image_range[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        raise InputError(f"image_range must be 'auto' or a (low, high) pair of numbers; got {image_range!r}.") from None
    if not high > low:
        raise InputError(f"image_range must have high > low; got {image_range}.")
    out = np.clip((arr.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return out


def to_display_gray(images: Any, image_range: tuple[float, float] | str = "auto", *,
                    undo: Undo = None) -> np.ndarray:
    """Luminance of :func:`to_display_rgb` (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), ``(N, H, W)`` in [0, 1]."""
    rgb = to_display_rgb(images, image_range, undo=undo)
    return (rgb @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def get_colormap(colormap: Any) -> Any:
    """A matplotlib colormap from a name (or a Colormap, returned as is); unknown names raise with examples."""
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if isinstance(colormap, Colormap):
        return colormap
    try:
        return colormaps[colormap]
    except (KeyError, TypeError):
        raise InputError(f"unknown colormap {colormap!r}; use a matplotlib name such as 'jet', 'turbo', "
                         "'inferno', 'magma', 'viridis' (see matplotlib.colormaps)") from None


def colorize(maps01: np.ndarray, colormap: Any = "jet") -> np.ndarray:
    """Map values in [0, 1] ``(N, H, W)`` to float RGB ``(N, H, W, 3)`` with a matplotlib colormap."""
    cmap = get_colormap(colormap)
    return cmap(np.clip(np.asarray(maps01, dtype=np.float32), 0, 1))[..., :3].astype(np.float32)


def check_maps(maps: Any, size: tuple[int, int, int], *, resize: bool) -> np.ndarray:
    """``maps`` as float32 ``(N, H, W)`` matching ``size`` (upsampled where ``resize``), or an error naming the fix."""
    maps = as_numpy(maps)
    if maps.ndim == 2 and size[0] == 1:
        raise InputError(f"maps must have shape (N, H, W); got {maps.shape}. For a single map pass maps[None].")
    if maps.ndim != 3:
        raise InputError(f"maps must have shape (N, H, W) = {size}; got {maps.shape}. Attributions from xaikit "
                         "(Explanation.attributions) already have this shape.")
    if maps.shape[0] != size[0]:
        raise InputError(f"there are {size[0]} images but {maps.shape[0]} maps; pass one map per image.")
    maps = maps.astype(np.float32, copy=False)
    if maps.shape[1:] != size[1:]:
        if not resize:
            raise InputError(
                f"maps are {maps.shape[1]} x {maps.shape[2]} but the images are {size[1]} x {size[2]} "
                "(height x width). Pass resize=True to upsample the maps bilinearly, or resize them first with "
                f"xaikit.imaging.resize_maps(maps, ({size[1]}, {size[2]})). Explanation.attributions are "
                "already at input resolution; layer_attributions are not.")
        from ..imaging import resize_maps

        maps = resize_maps(maps, (size[1], size[2]))
    if not np.isfinite(maps).all():
        raise InputError("maps contain NaN or Inf; clean them (np.nan_to_num) before display.")
    return maps


def overlay(images: Any, maps: Any, *, colormap: Any = "jet", alpha: float = 0.4, normalize: str = "auto",
            image_range: tuple[float, float] | str = "auto", percentile: float = 99.5, undo: Undo = None,
            blend: str = "constant", resize: bool = False, layout: str | None = None) -> np.ndarray:
    """Blend heat maps over images.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` or ``(N, C, H, W)`` images (C = 1 or 3), see :func:`to_display_rgb`.
    maps
        ``(N, H, W)`` attribution maps at the images' resolution, e.g.
        ``Explanation.attributions``.
    layout
        The images' layout; ``None`` reads it from the shapes (the maps' size tells
        which axes are spatial) and raises when they do not tell.
    colormap
        A matplotlib colormap name (``"jet"`` as the seeds' ``cv2.COLORMAP_JET``,
        ``"turbo"``, ``"inferno"``, ...) or Colormap.
    alpha
        Weight of the heat map: ``out = (1 - alpha) * image + alpha * heat``.
    normalize
        How each map is scaled to [0, 1] before colouring, independently per image; see
        :func:`xaikit.normalize_maps`. ``"signed"`` is not allowed here (use
        :func:`xaikit.viz.signed_rgb` for diverging maps).
    image_range, undo
        How to display the images; see :func:`to_display_rgb`.
    percentile
        Scale percentile of the ``abs``/``positive`` normalisations.
    blend
        ``"constant"``: the same ``alpha`` everywhere (the classic Grad-CAM picture).
        ``"value"``: per-pixel weight ``alpha * m`` with ``m`` the normalised map, so
        unimportant regions show the plain image (better for sparse gradient maps).
    resize
        If True, maps of another size than the images are upsampled bilinearly
        (:func:`xaikit.imaging.resize_maps`); if False (default) a size mismatch raises.

    Returns
    -------
    numpy.ndarray
        uint8 RGB ``(N, H, W, 3)``, same orientation as the images.
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1]; got {alpha}")
    if normalize == "signed":
        raise InputError("normalize='signed' gives values in [-1, 1], which a sequential colormap overlay cannot "
                         "show; use 'abs' or 'positive' here, or xaikit.viz.signed_rgb for a diverging view")
    if normalize not in NORMALIZE_MODES:
        raise InputError(f"normalize must be one of {NORMALIZE_MODES[:-1]}; got {normalize!r}")
    if blend not in ("constant", "value"):
        raise InputError(f"blend must be 'constant' or 'value'; got {blend!r}")
    size = None if resize else tuple(np.shape(maps)[1:3])
    rgb = to_display_rgb(images, image_range, undo=undo, layout=layout, size=size)
    maps = check_maps(maps, rgb.shape[:3], resize=resize)
    norm = normalize_maps(maps, normalize, percentile=percentile)
    heat = colorize(norm, colormap)
    weight = alpha if blend == "constant" else alpha * norm[..., None]
    out = (1.0 - weight) * rgb + weight * heat
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
