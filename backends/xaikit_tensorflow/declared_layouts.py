"""The layouts users state per Keras model (:func:`declare_layout`), read by the model view and its fingerprint."""

from __future__ import annotations

import weakref
from typing import Any

from xaikit.errors import InputError

from .hooks import TRACE_LOCK

__all__ = ["declare_layout", "declared_layout"]

#: Layouts stated with :func:`declare_layout`, per model object.
_DECLARED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def declare_layout(model: Any, layout: str | None) -> None:
    """State how ``model`` takes a batch: ``"NHWC"``, ``"NCHW"``, or None (read from its input shape).

    Without it, a model whose declared input shape says channels first (``(3, 224, 224)``:
    the first axis has 1, 3 or 4 entries and the last does not, the callable backend's
    rule) takes ``(N, C, H, W)`` batches, and any other one Keras' convention,
    ``(N, H, W, C)``.
    """
    from xaikit.kernels import LAYOUTS

    if layout is not None and layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or None (read from the model's "
                         f"input shape); got {layout!r}")
    with TRACE_LOCK:
        if layout is None:
            _DECLARED.pop(model, None)
        else:
            _DECLARED[model] = layout


def declared_layout(model: Any) -> str | None:
    """The layout stated for ``model`` with :func:`declare_layout`, or None."""
    return _DECLARED.get(model)
