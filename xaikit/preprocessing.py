"""Preprocessing schemes: one home for what the model sees and how to undo it for display.

A scheme maps *pixels* (RGB or grayscale values in [0, 255], channels last, as
:func:`xaikit.io.load_images` returns them) to the model input, and back:

=============  ============================================================  ==========================
name           forward (pixels -> model input)                              Keras families using it
=============  ============================================================  ==========================
``none``       ``x`` unchanged (float32)                                    efficientnet(_v2), convnext,
                                                                            mobilenet_v3 (they rescale
                                                                            inside the model)
``scale255``   ``x / 255``, pixels in [0, 1]                                the seeds' ``img /= 255.``,
                                                                            xaikit's zoo models
``caffe``      RGB -> BGR, minus ``[103.939, 116.779, 123.68]`` (BGR)       vgg16, vgg19, resnet
``torch``      ``(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]`` densenet, torchvision
``tf``         ``x / 127.5 - 1``, values in [-1, 1]                         mobilenet(_v2), xception,
                                                                            inception_v3, resnet_v2, ...
=============  ============================================================  ==========================

A Keras application family can also be named (``"vgg16"``, ``"xception"``, ...): its own
``keras.applications.<family>.preprocess_input`` is the forward transform (imported on
first use, on a copy: Keras modifies float arrays in place), and the inverse is that of
the built-in scheme the function is found to compute (checked numerically once, so a
Keras change cannot make the display silently wrong).

>>> from xaikit.preprocessing import get_scheme
>>> caffe = get_scheme("caffe")
>>> x = caffe.forward(pixels)           # (N, H, W, 3) model input       # doctest: +SKIP
>>> caffe.inverse(x)                     # back to pixels in [0, 255]     # doctest: +SKIP

The inverse is what :func:`xaikit.viz.overlay` (``undo="caffe"``) and every other
picture use to show the original image under a map.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, UnknownNameError

__all__ = [
    "CAFFE_MEAN_BGR",
    "TORCH_MEAN",
    "TORCH_STD",
    "SCHEMES",
    "identify",
    "Scheme",
    "get_scheme",
    "preprocess",
    "unpreprocess",
    "scheme_names",
    "PIXEL_KEYWORDS",
    "pixel_input",
    "pixel_range_width",
    "INPUT_VALUE_KEYS",
    "is_input_value",
    "resolve_input_values",
]

#: Per-channel means subtracted by Keras ``preprocess_input`` in "caffe" mode (VGG16,
#: VGG19, ResNet50 v1), in BGR order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: ImageNet mean and standard deviation of the "torch" mode (inputs first scaled to [0, 1]).
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

@dataclass(frozen=True)
class Scheme:
    """A preprocessing scheme: forward transform and its inverse.

    Attributes
    ----------
    name : str
        The name passed as ``--preprocess`` / ``undo=``.
    description : str
        One line saying what ``forward`` computes.
    forward : callable
        ``pixels (N, H, W, C) in [0, 255] -> model input``, float32, never in place.
    inverse : callable
        ``model input -> pixels`` in [0, 255], float32 (the exact inverse of ``forward``).
    rgb_only : bool
        True when the scheme needs 3 channels in RGB order (``caffe``, ``torch``).
    base : str
        The built-in scheme it computes (itself for built-ins; for a Keras family,
        the scheme its ``preprocess_input`` was found to match).
    """

    name: str
    description: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    rgb_only: bool = False
    base: str = ""

    def __call__(self, pixels: Any) -> np.ndarray:
        return self.forward(pixels)


def _float(x: Any) -> np.ndarray:
    """A float32 copy (never a view: callers may modify it, and Keras does)."""
    arr = np.array(x, dtype=np.float32, copy=True)
    if arr.ndim < 1:
        raise InputError(f"images must be an array (N, H, W, C); got a scalar {x!r}")
    return arr


def _check_rgb(x: np.ndarray, name: str) -> None:
    if x.shape[-1] != 3:
        raise InputError(f"preprocessing {name!r} needs RGB images (3 channels, last axis); got shape {x.shape}. "
                         "Grayscale models use 'scale255', 'tf' or 'none'.")


def _caffe_forward(x: Any) -> np.ndarray:
    x = _float(x)
    _check_rgb(x, "caffe")
    return x[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, np.float32)


def _caffe_inverse(x: Any) -> np.ndarray:
    x = _float(x)
    _check_rgb(x, "caffe")
    return (x + np.asarray(CAFFE_MEAN_BGR, np.float32))[..., ::-1].copy()


def _torch_forward(x: Any) -> np.ndarray:
    x = _float(x)
    _check_rgb(x, "torch")
    return (x / 255.0 - np.asarray(TORCH_MEAN, np.float32)) / np.asarray(TORCH_STD, np.float32)


def _torch_inverse(x: Any) -> np.ndarray:
    x = _float(x)
    _check_rgb(x, "torch")
    return (x * np.asarray(TORCH_STD, np.float32) + np.asarray(TORCH_MEAN, np.float32)) * 255.0


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("none", "no preprocessing: raw pixels in [0, 255] (Keras EfficientNet, ConvNeXt, MobileNetV3)",
               _float, _float, base="none"),
        Scheme("scale255", "x / 255: pixels in [0, 1] (the seeds' `img_tensor /= 255.`, xaikit's zoo models)",
               lambda x: _float(x) / 255.0, lambda x: _float(x) * 255.0, base="scale255"),
        Scheme("caffe", "RGB->BGR, then minus the ImageNet means [103.939, 116.779, 123.68] "
                        "(keras vgg16/vgg19/resnet50 preprocess_input)",
               _caffe_forward, _caffe_inverse, rgb_only=True, base="caffe"),
        Scheme("torch", "x / 255, minus mean [0.485, 0.456, 0.406], divided by std [0.229, 0.224, 0.225] "
                        "(keras densenet, torchvision)",
               _torch_forward, _torch_inverse, rgb_only=True, base="torch"),
        Scheme("tf", "x / 127.5 - 1: values in [-1, 1] (keras mobilenet, xception, inception_v3, resnet_v2)",
               lambda x: _float(x) / 127.5 - 1.0, lambda x: (_float(x) + 1.0) * 127.5, base="tf"),
    ]
}
"""The built-in schemes by name."""


def scheme_names() -> list[str]:
    """Built-in scheme names followed by those the installed backends add (Keras families), for help texts."""
    from .registry import backend_preprocessing_names

    return [*SCHEMES, *backend_preprocessing_names()]


def _hint() -> str:
    from .registry import backend_preprocessing_names

    extra = backend_preprocessing_names()
    return f"built-in schemes: {', '.join(SCHEMES)}" + (f"; from the backends: {', '.join(extra)}" if extra else "")


def identify(forward: Callable[[Any], np.ndarray]) -> str | None:
    """The built-in scheme a preprocessing function computes (probed with random pixels), or None."""
    probe = np.random.default_rng(0).uniform(0.0, 255.0, (1, 4, 5, 3)).astype(np.float32)
    out = forward(probe.copy())
    return next((name for name, s in SCHEMES.items()
                 if out.shape == probe.shape and np.allclose(out, s.forward(probe), rtol=1e-5, atol=1e-3)), None)


def get_scheme(name: str | Scheme) -> Scheme:
    """The scheme called ``name``: a built-in one or a ``keras.applications`` family.

    Raises
    ------
    UnknownNameError
        For a name that is neither (the message lists both kinds).
    MissingDependencyError
        For a Keras family when Keras is not installed.
    """
    if isinstance(name, Scheme):
        return name
    if not isinstance(name, str):
        raise InputError(f"a preprocessing scheme is named by a string; got {name!r}. {_hint()}")
    key = name.strip().lower()
    if key in SCHEMES:
        return SCHEMES[key]
    from .registry import backend_preprocessing

    scheme = backend_preprocessing(key)  # a backend's own (a keras.applications family): only then is it imported
    if scheme is not None:
        return scheme
    close = difflib.get_close_matches(key, scheme_names(), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise UnknownNameError(f"unknown preprocessing {name!r}.{hint} {_hint()}; another Keras module is named "
                           "in full: 'keras.applications.<module>'")


#: Named constant pixels (RGB or grey values in [0, 255], before preprocessing).
PIXEL_KEYWORDS = {"black": 0.0, "grey": 127.5, "gray": 127.5, "white": 255.0}


def pixel_input(scheme: str | Scheme, pixel: str | float, channels: int = 3) -> float | np.ndarray:
    """The model input of a constant pixel: what ``scheme`` makes of it.

    Values that depend on the input range (an occlusion fill, an integration baseline)
    are best given as pixels: ``"grey"`` is 0.5 for ``scale255``, 0.0 for ``tf`` and about
    ``[23.6, 10.7, 3.8]`` for ``caffe``.

    Parameters
    ----------
    scheme
        The preprocessing (a name or a :class:`Scheme`).
    pixel
        ``"black"``, ``"grey"``/``"gray"``, ``"white"`` or a pixel value in [0, 255]
        (the same for every channel).
    channels
        Channels of the model input (1 or 3).

    Returns
    -------
    float or numpy.ndarray
        One float when every channel gets the same value, else a float32 ``(channels,)``.
    """
    if isinstance(pixel, str):
        if pixel.strip().lower() not in PIXEL_KEYWORDS:
            raise InputError(f"a pixel is {', '.join(PIXEL_KEYWORDS)} or a value in [0, 255]; got {pixel!r}")
        value = PIXEL_KEYWORDS[pixel.strip().lower()]
    elif isinstance(pixel, (int, float, np.integer, np.floating)) and not isinstance(pixel, (bool, np.bool_)) \
            and 0.0 <= float(pixel) <= 255.0:
        value = float(pixel)
    else:
        raise InputError(f"a pixel is {', '.join(PIXEL_KEYWORDS)} or a value in [0, 255]; got {pixel!r}")
    values = get_scheme(scheme).forward(np.full((1, 1, 1, channels), value, np.float32))[0, 0, 0]
    return float(values[0]) if np.all(values == values[0]) else values.astype(np.float32)


def pixel_range_width(scheme: str | Scheme, channels: int = 3) -> float:
    """How wide the model-input range of pixels [0, 255] is: ``|forward(255) - forward(0)|``.

    Averaged over channels (``torch`` scales each channel by its own std). 1 for
    ``scale255``, 2 for ``tf``, 255 for ``none`` and ``caffe``: the factor turning a
    fraction of the range into an absolute value in model-input units.
    """
    s = get_scheme(scheme)
    ends = s.forward(np.stack([np.zeros((1, 1, channels), np.float32), np.full((1, 1, channels), 255.0, np.float32)]))
    return float(np.mean(np.abs(ends[1, 0, 0] - ends[0, 0, 0])))


#: The keys of a parameter value given in pixels or as a fraction of the pixel range (``{"pixel": "grey"}``,
#: ``{"range_fraction": 0.15}``), resolved into the model's input units by :func:`resolve_input_values`.
INPUT_VALUE_KEYS = ("pixel", "range_fraction")


def is_input_value(value: Any) -> bool:
    """Whether ``value`` is ``{"pixel": p}`` or ``{"range_fraction": f}`` (a value in pixels, not input units)."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in INPUT_VALUE_KEYS


def resolve_input_values(params: Mapping[str, Any], scheme: str | Scheme | None,
                         channels: int | None = 3) -> dict[str, Any]:
    """Replace ``{"pixel": p}`` / ``{"range_fraction": f}`` values by values in the model's input units.

    ``{"pixel": "grey"}`` becomes what ``scheme`` makes of a grey pixel (0.5 for
    ``scale255``, 0.0 for ``tf``, per-channel for ``caffe``: :func:`pixel_input`);
    ``{"range_fraction": f}`` becomes ``f`` times the width of the input range of pixels
    [0, 255] (1 for ``scale255``, 2 for ``tf``, 255 for ``caffe``:
    :func:`pixel_range_width`). Other values are kept. The bench's suites and
    :func:`xaikit.explain` (``preprocess=``) read parameters through this one function.

    Raises
    ------
    InputError
        A value in pixels was given without ``scheme`` (nothing says what a pixel is in
        the model's input units), or its number is out of range.
    """
    out = dict(params)
    for key, value in params.items():
        if not is_input_value(value):
            continue
        (kind, v), = value.items()
        if scheme is None:
            raise InputError(f"{key}={dict(value)!r} is given in pixels: say how the images were preprocessed, "
                             f"preprocess= one of {', '.join(SCHEMES)} (or a keras.applications family), so that "
                             "xaikit can turn it into the model's input units; or give the value in input units")
        if kind == "pixel":
            out[key] = pixel_input(scheme, v, channels or 3)
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v >= 0:
                raise InputError(f"{key}={{'range_fraction': {v!r}}}: the fraction must be a number >= 0")
            out[key] = float(v) * pixel_range_width(scheme, channels or 3)
    return out


def preprocess(pixels: Any, scheme: str | Scheme) -> np.ndarray:
    """Apply ``scheme``'s forward transform to pixels in [0, 255]; float32, a new array."""
    return get_scheme(scheme).forward(pixels)


def unpreprocess(x: Any, scheme: str | Scheme) -> np.ndarray:
    """Undo ``scheme``: model input -> float32 pixels in [0, 255] (for display)."""
    return get_scheme(scheme).inverse(x)
