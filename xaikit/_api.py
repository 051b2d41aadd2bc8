"""Functional shortcuts: ``xaikit.explain``, ``xaikit.activations``, ``xaikit.get_explainer``."""

from __future__ import annotations

from typing import Any

from .binding import get_method_class
from .catalogue import METHODS
from .errors import InputError
from .explainer import ActivationExtractor, Explainer
from .explanation import Activations, Explanation
from .registry import backend_for_model, check_backend_takes

__all__ = ["explain", "activations", "get_explainer", "get_extractor"]


def _resolve_backend(model: Any, method: str, backend: str) -> str:
    if backend == "auto":
        return backend_for_model(model, method)
    check_backend_takes(model, backend)
    return backend


def get_explainer(model: Any, method: str, *, backend: str = "auto", **params: Any) -> Explainer:
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
    **params
        The method's parameters (``layer``, ``batch_size``, ``seed``, ...); an unknown
        name raises with the list of valid ones.
    """
    if method == "activations":
        raise InputError("method 'activations' returns feature maps, not attributions: use "
                         "xaikit.activations(model, images, layers=...) or xaikit.get_extractor(model)")
    name = _resolve_backend(model, method, backend)
    cls = get_method_class(method, name)
    valid = cls.param_names()
    unknown = [p for p in params if p not in valid]
    if unknown:
        raise InputError(f"{method!r} ({name}) has no parameter(s) {', '.join(map(repr, unknown))}; "
                         f"its parameters are: {', '.join(valid)}")
    return cls(model, **params)


def get_extractor(model: Any, *, backend: str = "auto", **params: Any) -> ActivationExtractor:
    """Build the activation extractor of ``backend`` for ``model``."""
    name = _resolve_backend(model, "activations", backend)
    cls = get_method_class("activations", name)
    valid = cls.param_names()
    unknown = [p for p in params if p not in valid]
    if unknown:
        raise InputError(f"activations ({name}) has no parameter(s) {', '.join(map(repr, unknown))}; "
                         f"its parameters are: {', '.join(valid)}")
    return cls(model, **params)


def explain(model: Any, images: Any, method: str = "gradcam", *, targets: Any = None, backend: str = "auto",
            **params: Any) -> Explanation:
    """Explain ``images`` with one method; see :class:`xaikit.Explainer` and the method pages.

    Examples
    --------
    >>> exp = xaikit.explain(model, images, method="gradcam", layer="conv2d_3")  # doctest: +SKIP
    >>> exp.attributions.shape  # (N, H, W) float32  # doctest: +SKIP
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    return get_explainer(model, method, backend=backend, **params).explain(images, targets)


def activations(model: Any, images: Any, layers: str | list[str] | None = None, *, backend: str = "auto",
                batch_size: int = 32) -> Activations:
    """Feature maps of ``layers`` (default: every convolution and pooling layer)."""
    return get_extractor(model, backend=backend, layers=layers, batch_size=batch_size).extract(images)
