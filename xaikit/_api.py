"""Functional shortcuts: ``xaikit.explain``, ``xaikit.activations``, ``xaikit.get_explainer``."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .binding import get_method_class
from .catalogue import METHODS
from .errors import InputError, XaikitError
from .explainer import ActivationExtractor, Explainer
from .explanation import Activations, Explanation
from .preprocessing import get_scheme, is_input_value, resolve_input_values
from .registry import backend_for_model, check_backend_takes, services_for

__all__ = ["explain", "activations", "get_explainer", "get_extractor", "input_values", "with_preprocessing"]


def input_values(model: Any, params: Mapping[str, Any], preprocess: str | None) -> dict[str, Any]:
    """``params`` with values given in pixels (``{"pixel": "grey"}``, ``{"range_fraction": 0.15}``) turned into
    the model's input units for the preprocessing ``preprocess``
    (:func:`xaikit.preprocessing.resolve_input_values`, the bench's rule)."""
    if not any(is_input_value(v) for v in params.values()):
        return dict(params)
    channels = None
    with contextlib.suppress(XaikitError):  # a model that cannot be described without images: RGB
        channels = services_for(model).describe(model, None).channels
    return resolve_input_values(params, preprocess, channels or 3)


def with_preprocessing(exp: Explanation, preprocess: str | None) -> Explanation:
    """``exp`` recording how its images were preprocessed (``info["preprocess"]``), which its pictures undo."""
    if preprocess is None:
        return exp
    return replace(exp, info={**exp.info, "preprocess": get_scheme(preprocess).name})


def _resolve_backend(model: Any, method: str, backend: str) -> str:
    if backend == "auto":
        return backend_for_model(model, method)
    check_backend_takes(model, backend)
    return backend


def get_explainer(model: Any, method: str, *, backend: str = "auto", preprocess: str | None = None,
                  **params: Any) -> Explainer:
    """Build the explainer for ``method`` in ``backend`` (``"auto"``: the model's native one).

    Parameters
    ----------
    model
        The model to explain.
    method : str
        A method id from :func:`xaikit.list_methods` (not ``"activations"``: use
        :func:`get_extractor`).
    backend : str
        A backend id from :func:`xaikit.list_backends`, or ``"auto"``.
    preprocess : str, optional
        How the images are preprocessed (``"scale255"``, ``"caffe"``, ``"tf"``, a
        keras.applications family...). Needed only for values given in pixels:
        ``baseline={"pixel": "grey"}`` or ``noise_std={"range_fraction": 0.15}`` (15 % of
        the input range of pixels), as in the bench's suites.
    **params
        The method's parameters (``layer``, ``batch_size``, ``seed``, ...); an unknown
        name raises with the list of valid ones.
    """
    if method == "activations":
        raise InputError("method 'activations' returns feature maps, not attributions: use "
                         "xaikit.activations(model, images, layers=...) or xaikit.get_extractor(model)")
    name = _resolve_backend(model, method, backend)
    cls = get_method_class(method, name)
    cls.check_param_names(params)  # before the values are converted
    return cls(model, **input_values(model, params, preprocess))


def get_extractor(model: Any, *, backend: str = "auto", **params: Any) -> ActivationExtractor:
    """Build the activation extractor of ``backend`` for ``model``."""
    name = _resolve_backend(model, "activations", backend)
    return get_method_class("activations", name)(model, **params)


def explain(model: Any, images: Any, method: str = "gradcam", *, targets: Any = None, backend: str = "auto",
            preprocess: str | None = None, progress: bool | None = None, **params: Any) -> Explanation:
    """Explain ``images`` with one method; see :class:`xaikit.Explainer` and the method pages.

    ``preprocess`` (optional) names how the images were preprocessed: values given in
    pixels (``baseline={"pixel": "grey"}``, ``noise_std={"range_fraction": 0.15}``) are
    turned into input units with it, and the result records it, so that
    :meth:`~xaikit.Explanation.plot` shows the images as they were. ``progress``: a bar
    naming the method and backend while a long call runs (None: when the session is
    interactive; see :meth:`xaikit.Explainer.explain`).

    Examples
    --------
    >>> exp = xaikit.explain(model, images, method="gradcam", layer="conv2d_3")  # doctest: +SKIP
    >>> exp.attributions.shape  # (N, H, W) float32  # doctest: +SKIP
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    explainer = get_explainer(model, method, backend=backend, preprocess=preprocess, **params)
    return with_preprocessing(explainer.explain(images, targets, progress=progress), preprocess)


def activations(model: Any, images: Any, layers: str | list[str] | None = None, *, backend: str = "auto",
                batch_size: int = 32) -> Activations:
    """Feature maps of ``layers`` (default: every convolution and pooling layer)."""
    return get_extractor(model, backend=backend, layers=layers, batch_size=batch_size).extract(images)
