"""Which layers to extract: the one grammar of :func:`xaikit.activations` and ``xaikit activations --layers``.

A selection is ``None``, a string or a sequence of strings; each string holds one or
more comma-separated items:

``NAME``
    A layer by name (``outer/inner`` reaches into a nested model when names repeat).
``first:N`` / ``last:N``
    The first / last ``N`` top-level layers, input layers excluded: the seeds'
    ``[layer.output for layer in model.layers[:8]]`` is ``"first:8"``.
``all``
    Every top-level layer.
``conv``, ``pool``, ``spatial``
    Every convolution, every (non-global) pooling layer, every layer with a spatial
    output (nested models' inner layers included).

``None`` means ``"conv, pool"``. Repeated layers are kept once; the result is in model
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InputError, LayerError
from .spec import ModelSpec

__all__ = ["select_layers", "KINDS"]

#: Selection keywords naming layers by kind (layers that run more than once per forward pass are ambiguous and left
#: out; "spatial" is every layer whose output holds a map a method can read: :attr:`xaikit.spec.LayerInfo.usable`).
KINDS = {
    "conv": lambda info: info.kind == "conv" and info.calls == 1,
    "pool": lambda info: info.kind == "pool" and info.calls == 1,
    "spatial": lambda info: info.usable,
}


def _items(selection: str | Sequence[str]) -> list[str]:
    values = [selection] if isinstance(selection, str) else list(selection)
    for value in values:
        if not isinstance(value, str):
            raise LayerError(f"layers holds {value!r} ({type(value).__name__}); give layer names, 'first:N', 'all' "
                             "or a kind ('conv', 'pool', 'spatial') as strings")
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _count(item: str) -> int:
    text = item.split(":", 1)[1].strip()
    count = int(text) if text.isdigit() else 0
    if count < 1:
        raise InputError(f"layers {item!r}: write first:N or last:N with N >= 1 (as model.layers[:N])")
    return count


def select_layers(selection: Any, spec: ModelSpec) -> list[str]:
    """The layer names a selection stands for, in model order.

    Parameters
    ----------
    selection : None, str or sequence of str
        See the module docstring.
    spec : ModelSpec
        The model's description (its layers, top-level layers and layer kinds).

    Raises
    ------
    InputError
        For an empty selection or a bad ``first:N``.
    LayerError
        For a name the model does not have (the message lists its layers), or a default
        selection that finds nothing.
    """
    layers = list(spec.layers)
    top = list(spec.top_layers or spec.layers)
    items = ["conv", "pool"] if selection is None else _items(selection)
    if not items:
        raise InputError("layers is empty; pass None for the default (convolution and pooling layers), layer names, "
                         "'first:N', 'all' or a kind ('conv', 'pool', 'spatial')")
    names: list[str] = []
    for item in items:
        lowered = item.lower()
        if lowered == "all":
            names.extend(top)
        elif lowered.startswith("first:"):
            names.extend(top[:_count(item)])
        elif lowered.startswith("last:"):
            names.extend(top[-_count(item):])
        elif lowered in KINDS and item not in layers:
            names.extend(info.name for info in spec.layer_info if KINDS[lowered](info))
        elif item in layers:
            names.append(item)
        else:
            raise LayerError(f"unknown layer {item!r}; the model's layers are: {', '.join(layers)} (or 'first:N', "
                             "'last:N', 'all', 'conv', 'pool', 'spatial')")
    if not names:
        raise LayerError(f"model {spec.name!r} has no {' or '.join(items)} layers to extract; name layers explicitly "
                         f"(layers=[...]) among: {', '.join(layers)}")
    order = {name: i for i, name in enumerate(layers)}
    return sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order)))
