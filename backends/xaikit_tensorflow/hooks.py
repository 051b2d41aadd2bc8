"""The hooks of one forward pass on a shared Keras model: what it records, what it patches, and for whom.

A pass wraps ``layer.call`` (and ``layer.activation``) *while a function is being
traced*: the wrappers record the wanted layers' outputs and the final layer's logit
(:class:`Capture`), give ReLUs a modified backward pass (guided backpropagation,
deconvnet) or the layers DeepLift's or LRP's rules, and are removed right after, so the
user's model is left as it was and the compiled graph has them baked in
(:func:`forward_hooks`).

**Threads.** The wrappers are process-global state on the user's layers: tracing is
serialised by :data:`TRACE_LOCK`, and so is everything that reads that state (building
a view); a wrapper acts only in the thread that installed it (:func:`owner_only`), so
another thread calling the same model meanwhile gets the model's usual outputs, and
reads the model's own functions through any wrapper (:func:`unwrapped`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from .layer_kinds import is_container
from .propagation import patch_layers

__all__ = ["TRACE_LOCK", "Capture", "forward_hooks", "modified_relu", "owner_only", "patch_relus", "relu_layers",
           "unwrapped"]

# Wrapping layer.call (and layer.activation) is process-global state on the user's layers:
# tracing is serialised, and so is everything that reads that state (building a view),
# so no thread ever sees another thread's wrappers.
TRACE_LOCK = threading.RLock()


@dataclass
class Capture:
    """Tensors recorded while tracing one forward pass."""

    wanted: frozenset[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    logits: Any = None
    calls: dict[str, int] = field(default_factory=dict)


class _Missing:
    pass


_MISSING = _Missing()


@contextlib.contextmanager
def forward_hooks(layers: dict[str, Any], final_layer: Any, final_mode: str, capture: Capture,
                  relu_rule: str | None = None, propagation: Any = None) -> Iterator[Capture]:
    """Record the wanted layers' outputs (and the final layer's logit) during one forward pass.

    ``layers`` are the model's layers by name (:func:`.layer_kinds.index_layers`); ``final_layer``
    and ``final_mode`` say how the logit is read (``"input"``: the input of a Softmax or
    Activation layer, ``"swap"``: the argument of the final layer's activation, ``"none"``).

    Only the thread that installs the hooks records anything: another thread calling
    the same model meanwhile (the user's ``predict``, another library) goes through the
    wrappers unchanged and gets exactly the model's usual outputs. The logit of a layer
    with a built-in activation is read by wrapping ``layer.activation`` in a recorder
    that returns the activation's usual result, so that layer's output never changes.

    ``relu_rule`` (``"guided"`` or ``"deconvnet"``) replaces the backward pass of every
    ReLU -- a ``relu`` activation of any layer, an ``Activation("relu")`` or a plain
    ``ReLU`` layer -- in the owner thread only; forward values are unchanged.
    ``propagation`` (a :class:`.propagation.PropagationRule`) gives the layers DeepLift's
    or LRP's backward passes the same way.
    """
    patched: list[tuple[Any, str, Any]] = []  # (object, attribute, previous instance value)
    owner = threading.get_ident()

    def patch(obj: Any, attribute: str, value: Any) -> None:
        if not any(o is obj and a == attribute for o, a, _ in patched):
            patched.append((obj, attribute, obj.__dict__.get(attribute, _MISSING)))
        setattr(obj, attribute, value)

    def wrap_capture(name: str, layer: Any) -> None:
        original = layer.call

        def call(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            if threading.get_ident() == owner:
                capture.outputs[name] = out
                capture.calls[name] = capture.calls.get(name, 0) + 1
            return out

        patch(layer, "call", call)

    layer = final_layer
    with TRACE_LOCK:
        try:
            if layer is not None and final_mode == "input":  # Softmax / Activation layer: its input
                original = layer.call

                def final_call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
                    if threading.get_ident() == owner:
                        capture.logits = inputs
                    return original(inputs, *args, **kwargs)

                patch(layer, "call", final_call)
            elif layer is not None and final_mode == "swap":  # Dense(..., activation=softmax) etc.
                activation = layer.activation

                def recorder(z: Any) -> Any:
                    if threading.get_ident() == owner:
                        capture.logits = z
                    return activation(z) if activation is not None else z

                recorder.__wrapped__ = activation  # type: ignore[attr-defined]

                patch(layer, "activation", recorder)
            if relu_rule is not None:
                patch_relus(layers, relu_rule, owner, patch)
            if propagation is not None:
                patch_layers(layers, propagation, final_layer, final_mode, is_container,
                             lambda new, original: owner_only(new, original, owner), patch)
            for name in capture.wanted:  # after the final layer: its capture records the activated output
                wrap_capture(name, layers[name])
            yield capture
        finally:
            for obj, attribute, previous in reversed(patched):
                if previous is _MISSING:
                    obj.__dict__.pop(attribute, None)
                else:
                    obj.__dict__[attribute] = previous


def relu_layers(layers: dict[str, Any]) -> list[Any]:
    """The layers whose ReLU a modified backward rule reaches (a ``relu`` activation, a plain ``ReLU`` layer)."""
    found = []
    for layer in layers.values():
        if is_container(layer):
            continue
        activation = unwrapped(layer.__dict__.get("activation", getattr(layer, "activation", None)))
        if (activation is not None and getattr(activation, "__name__", "") == "relu") or (
                type(layer).__name__ == "ReLU" and not getattr(layer, "negative_slope", 0)
                and getattr(layer, "max_value", None) is None and not getattr(layer, "threshold", 0)):
            found.append(layer)
    return found


def patch_relus(layers: dict[str, Any], rule: str, owner: int, patch: Callable[[Any, str, Any], None]) -> None:
    """Give every ReLU of the model the backward pass of ``rule`` (in the owner thread)."""
    relu = modified_relu(rule)
    for layer in layers.values():
        if is_container(layer):
            continue
        activation = unwrapped(layer.__dict__.get("activation", getattr(layer, "activation", None)))
        if activation is not None and getattr(activation, "__name__", "") == "relu":
            patch(layer, "activation", owner_only(relu, activation, owner))
        elif type(layer).__name__ == "ReLU" and not getattr(layer, "negative_slope", 0) \
                and getattr(layer, "max_value", None) is None and not getattr(layer, "threshold", 0):
            patch(layer, "call", owner_only(relu, layer.call, owner))


def modified_relu(rule: str) -> Callable[[Any], Any]:
    """ReLU whose backward pass follows ``rule``: ``guided`` (positive gradients at positive inputs) or
    ``deconvnet`` (positive gradients, whatever the input)."""

    @tf.custom_gradient
    def relu(z: Any) -> Any:
        def grad(dy: Any) -> Any:
            positive = tf.cast(dy > 0, dy.dtype)
            return dy * positive * tf.cast(z > 0, dy.dtype) if rule == "guided" else dy * positive
        return tf.nn.relu(z), grad

    return relu


def owner_only(replacement: Callable[[Any], Any], original: Callable[..., Any], owner: int) -> Callable[..., Any]:
    """``replacement`` in the thread that installed it, ``original`` in any other."""

    def call(z: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == owner:
            return replacement(z)
        return original(z, *args, **kwargs)

    call.__wrapped__ = original  # type: ignore[attr-defined]
    return call


def unwrapped(function: Any) -> Any:
    """``function`` as the model defines it: another thread's pass may have wrapped it for the time of its call."""
    while callable(function) and getattr(function, "__wrapped__", None) is not None:
        function = function.__wrapped__
    return function
