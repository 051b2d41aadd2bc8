"""What one ``explain`` call resolved, handed to a method's ``_attribute`` as one object.

The base class (:class:`xaikit.Explainer`) validates the images, describes the model,
resolves the targets and the parameters and looks the engine up once per call; a method
reads them here instead of describing the model again or stashing the description in
its parameters. The model's outputs are computed on first use (a method whose engine
pass gives them with its scores never runs the extra forward pass), and the rule "no
target given: explain the predicted class" is applied in one place,
:meth:`CallContext.targets_for`.

What a backend looks up about a model (its engine, its view of the module tree, whose
check walks the model) is found once per call too: :func:`call_scope` is entered around
every ``explain`` call, and :func:`once_per_call` returns, within it, the value first
found for that model.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .spec import ModelSpec, targets_or_predicted

__all__ = ["CallContext", "call_scope", "once_per_call"]

_T = TypeVar("_T")

#: What the call running in this thread (or task) looked up, ``{(kind, id(model)): (model, value)}``; None outside
#: a call. A context variable: each thread sees its own calls only (a worker thread looks up anew).
_PINS: contextvars.ContextVar[dict[tuple[str, int], tuple[Any, Any]] | None] = contextvars.ContextVar(
    "xaikit_call_pins", default=None)


@contextlib.contextmanager
def call_scope() -> Iterator[None]:
    """One call: inside, :func:`once_per_call` finds each value once (a call nested in it starts its own scope)."""
    token = _PINS.set({})
    try:
        yield
    finally:
        _PINS.reset(token)


def once_per_call(kind: str, model: Any, find: Callable[[], _T]) -> _T:
    """``find()``, called once per call for ``model`` and ``kind`` (every time outside a :func:`call_scope`).

    A backend's look-ups go through it (the native engine, the torch and Keras model
    views, whose structure checks walk the model), so one ``explain`` call walks the
    model once however many steps and helpers ask for the view.
    """
    pins = _PINS.get()
    if pins is None:
        return find()
    key = (kind, id(model))
    hit = pins.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    value = find()
    pins[key] = (model, value)
    return value


@dataclass(frozen=True)
class CallContext:
    """One call's inputs, resolved once by the base class.

    Attributes
    ----------
    images : numpy.ndarray
        The validated batch, in the model's layout.
    targets : numpy.ndarray or None
        ``(N,)`` classes to explain; None means each image's predicted class
        (:meth:`targets_for`). For a score function, None (the function is ``params["score"]``).
    params : dict
        The resolved parameters (:meth:`xaikit.Explainer._resolve_params`): what the result
        records, and resolved internals under ``_`` names (``_baseline``, ``_layout``...).
        A method may add diagnostics the result records (``prefix_tokens``).
    spec : ModelSpec
        The model's description for these images.
    engine : Engine or None
        The call's engine (:mod:`xaikit.engine`) for a method on the engine primitives, looked
        up once per call; None for an adapter of a library.
    predict : callable
        ``predict(images, batch_size) -> outputs``: the explainer's ``_predict``, run by :attr:`outputs`.
    """

    images: np.ndarray
    targets: np.ndarray | None
    params: dict[str, Any]
    spec: ModelSpec
    engine: Any = None
    predict: Callable[[np.ndarray, int], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of images."""
        return len(self.images)

    @property
    def layout(self) -> str:
        """``"NHWC"`` or ``"NCHW"``: how the model takes a batch."""
        return self.spec.layout

    @property
    def channel_axis(self) -> int:
        """The channel axis of a batch (3 for NHWC, 1 for NCHW)."""
        return self.spec.channel_axis

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images."""
        shape = self.images.shape
        return (shape[1], shape[2]) if self.spec.layout == "NHWC" else (shape[2], shape[3])

    @functools.cached_property
    def outputs(self) -> np.ndarray:
        """The model's outputs ``(N, K)`` for the images, computed once (in chunks of ``batch_size``)."""
        if self.predict is None:
            raise RuntimeError("this call context has no predict function")
        return self.predict(self.images, self.params["batch_size"])

    def targets_for(self, outputs: np.ndarray) -> np.ndarray:
        """The classes explained: :attr:`targets`, or each image's predicted class in ``outputs`` when None.

        The one place where a method or an adapter applies the rule
        (:func:`xaikit.spec.targets_or_predicted`).
        """
        return targets_or_predicted(self.targets, outputs, self.spec)

    def outputs_and_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`outputs` and the classes explained (:meth:`targets_for` of them)."""
        outputs = self.outputs
        return outputs, self.targets_for(outputs)

    def graph_targets(self) -> np.ndarray:
        """int32 targets for the engine primitives, ``-1`` meaning "the predicted class" (the engine applies the
        rule in the same pass)."""
        return np.full(self.n, -1, np.int32) if self.targets is None else self.targets.astype(np.int32)

    def with_targets(self, targets: np.ndarray | None) -> CallContext:
        """This context for other targets (one rank of ``explain_ranked``); its outputs are computed anew."""
        return dataclasses.replace(self, targets=targets)
