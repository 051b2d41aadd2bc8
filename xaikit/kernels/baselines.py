"""Baselines (reference inputs) as arrays of the image's shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_BLUR_SIGMA", "broadcast_baseline", "gaussian_blur", "resolve_baseline"]


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


#: ``baseline="blur"``: the standard deviation, in pixels, of the Gaussian blur (as the metrics' "blur" substrate).
DEFAULT_BLUR_SIGMA = 5.0


def gaussian_blur(images: np.ndarray, sigma: float, size: int = 0) -> np.ndarray:
    """Each image of a channels-last batch ``(N, H, W, C)`` blurred channel by channel (float32).

    A ``size`` x ``size`` Gaussian kernel of standard deviation ``sigma`` (``size=0``:
    OpenCV's choice for float images, ``2 * round(4 * sigma) + 1``), OpenCV's reflect-101
    border. Each image is blurred alone, so the result does not depend on the batch.
    """
    import cv2

    x = np.asarray(images, np.float32)
    n, h, w, c = x.shape
    out = np.empty_like(x)
    for i in range(n):
        out[i] = cv2.GaussianBlur(x[i], (size, size), sigmaX=sigma, sigmaY=sigma).reshape(h, w, c)  # drops C=1
    return out


def _blur_sigma(value: Any, name: str) -> float:
    sigma = value.get("blur") if isinstance(value, dict) else DEFAULT_BLUR_SIGMA
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)) \
            or not np.isfinite(sigma) or sigma <= 0:
        raise InputError(f"{name}={{'blur': sigma}} takes the blur's standard deviation in pixels, a number > 0; "
                         f"got {sigma!r}.")
    return float(sigma)


def _is_form(value: Any, key: str) -> bool:
    return (isinstance(value, str) and value == key) or (isinstance(value, dict) and set(value) == {key})


def resolve_baseline(baseline: Any, images: np.ndarray, channel_axis: int = -1, name: str = "baseline"
                     ) -> tuple[np.ndarray, Any]:
    """A baseline (reference input) as an array, and how a result records it.

    Parameters
    ----------
    baseline
        What :func:`broadcast_baseline` takes (a number, one value per channel, one image),
        or a reference made from images:

        - ``"blur"`` or ``{"blur": sigma}``: each image blurred channel by channel with a
          Gaussian of standard deviation ``sigma`` pixels (default
          :data:`DEFAULT_BLUR_SIGMA`), :func:`gaussian_blur`;
        - ``{"mean": references}``: the mean image of a reference set ``(M, *image shape)``
          (a dataset's mean image), in the model's layout;
        - an array ``(N, *image shape)``: one baseline per image (``N`` images explained).
    images
        The batch being explained, in the model's layout ``(N, H, W, C)`` or ``(N, C, H, W)``.
    channel_axis
        ``-1`` channels last, ``0`` channels first (of one image).

    Returns
    -------
    (array, record)
        float32 of one image's shape (shared) or ``(N, *image shape)`` (one per image); the
        record says what was given: the number, ``{"blur": sigma}``, or the array given (a
        reference set under ``{"mean": ...}``), which the result records by shape and
        checksum (:func:`xaikit.explanation.describe_array`), never by value.
    """
    shape = tuple(int(s) for s in images.shape[1:])
    n = len(images)
    if _is_form(baseline, "blur"):
        sigma = _blur_sigma(baseline, name)
        nhwc = images if channel_axis == -1 else np.moveaxis(images, 1, -1)
        blurred = gaussian_blur(nhwc, sigma)
        out = blurred if channel_axis == -1 else np.moveaxis(blurred, -1, 1)
        return np.ascontiguousarray(out, dtype=np.float32), {"blur": sigma}
    if isinstance(baseline, str) and baseline == "mean":
        raise InputError(f"{name}='mean' needs the reference set it is the mean of: {name}={{'mean': references}} "
                         f"with references of shape (M, {', '.join(map(str, shape))}) in the model's layout.")
    if isinstance(baseline, dict) and set(baseline) == {"mean"}:
        refs = np.asarray(baseline["mean"])
        if refs.ndim != len(shape) + 1 or tuple(refs.shape[1:]) != shape or len(refs) == 0 \
                or not np.issubdtype(refs.dtype, np.number):
            raise InputError(f"{name}={{'mean': references}} takes a numeric reference set of shape (M, "
                             f"{', '.join(map(str, shape))}) (the images' shape, in the model's layout); got "
                             f"{getattr(refs, 'dtype', '?')} {refs.shape}.")
        mean = refs.mean(axis=0, dtype=np.float64)
        return broadcast_baseline(mean, shape, channel_axis, name), {"mean": refs}
    if isinstance(baseline, dict):
        raise InputError(f"{name} as a dict is {{'blur': sigma}} or {{'mean': references}}; got keys "
                         f"{sorted(map(str, baseline))}.")
    if isinstance(baseline, np.ndarray) and baseline.ndim == len(shape) + 1:
        if tuple(baseline.shape) != (n, *shape) and tuple(baseline.shape) != (1, *shape):
            raise InputError(f"{name} of {baseline.ndim} dimensions is one baseline per image: shape "
                             f"{(n, *shape)} for these {n} image(s); got {baseline.shape}.")
        per_image = np.stack([broadcast_baseline(b, shape, channel_axis, name) for b in baseline])
        record = np.asarray(baseline, np.float32)
        return (per_image[0], record) if len(per_image) == 1 and n != 1 else (per_image, record)
    base = broadcast_baseline(baseline, shape, channel_axis, name)
    return base, (np.asarray(baseline, np.float32) if np.ndim(baseline) else float(baseline))
