"""One :class:`~._keras.KerasModelView` per Keras model, cached while the model's structure stays the same.

Views are cached weakly, so a model that goes away takes its view and compiled functions
with it. A view is rebuilt when the model's structure changed since it was made
(:func:`structure_fingerprint`); weights may change freely (compiled functions read them live).
"""

from __future__ import annotations

import weakref
from typing import Any

import keras

from xaikit.call_context import once_per_call

from ._keras import KerasModelView
from .declared_layouts import declared_layout
from .hooks import TRACE_LOCK, unwrapped

__all__ = ["model_view", "structure_fingerprint"]

_VIEWS: weakref.WeakKeyDictionary[Any, KerasModelView] = weakref.WeakKeyDictionary()


def structure_fingerprint(model: Any) -> tuple[Any, ...]:
    """What a view depends on: the layers (recursively) and their activations, by identity.

    Adding, removing or replacing a layer, or setting a layer's ``activation`` (the usual
    "remove the softmax" trick), changes it, so a cached view (and its compiled functions)
    is rebuilt instead of silently running the old graph.
    """
    out: list[Any] = [model.built, declared_layout(model)]

    def walk(container: Any) -> None:
        for layer in getattr(container, "layers", ()):
            out.append((id(layer), id(unwrapped(layer.__dict__.get("activation")))))
            if isinstance(layer, keras.Model):
                walk(layer)

    walk(model)
    return tuple(out)


def model_view(model: Any) -> KerasModelView:
    """Return the (cached) view of ``model``; raise :class:`ModelError` if unsupported.

    The view is rebuilt when the model's structure changed since it was made (see
    :func:`structure_fingerprint`); weights may change freely (compiled functions read them live).
    Within one ``explain`` call the structure is checked once (:func:`xaikit.call_context.once_per_call`),
    once the model is built (a subclassed model built by the call's first pass gets its new view).
    """
    if isinstance(model, keras.Model) and not model.built:
        return _find_view(model)
    return once_per_call("keras_view", model, lambda: _find_view(model))


def _find_view(model: Any) -> KerasModelView:
    with TRACE_LOCK:
        try:
            view = _VIEWS.get(model)
        except TypeError:
            view = None
        fingerprint = structure_fingerprint(model) if isinstance(model, keras.Model) else None
        if view is None or view.fingerprint != fingerprint:
            view = KerasModelView(model)
            view.fingerprint = fingerprint
            _VIEWS[model] = view
        return view
