"""Which layers to extract: the one grammar of :func:`xaikit.activations` and ``xaikit activations --layers``.

A selection is a string or a sequence of strings; each string holds one or more
comma-separated items:

``NAME``
    A layer by name (``outer/inner`` reaches into a nested model when names repeat).
``first:N``
    The first ``N`` top-level layers, input layers excluded: the seeds'
    ``[layer.output for layer in model.layers[:8]]`` is ``"first:8"``.
``all``
    Every top-level layer.

Repeated layers are kept once; the result is in model order.

>>> select_layers("first:2, dense", ("conv", "pool", "flat", "dense"), ("conv", "pool", "flat", "dense"))
['conv', 'pool', 'dense']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InputError, LayerError

__all__ = ["select_layers"]


def _items(selection: str | Sequence[str]) -> list[str]:
    values = [selection] if isinstance(selection, str) else list(selection)
    for value in values:
        if not isinstance(value, str):
            raise LayerError(f"layers holds {value!r} ({type(value).__name__}); give layer names, 'first:N' or 'all' "
                             "as strings")
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _first(item: str, top_level: Sequence[str]) -> list[str]:
    text = item.split(":", 1)[1].strip()
    count = int(text) if text.isdigit() else 0
    if count < 1:
        raise InputError(f"layers {item!r}: write first:N with N >= 1 (the first N layers, as model.layers[:N])")
    return list(top_level[:count])


def select_layers(selection: Any, layers: Sequence[str], top_level: Sequence[str] | None = None) -> list[str]:
    """The layer names a selection stands for, in model order.

    Parameters
    ----------
    selection : str or sequence of str
        Names, ``first:N`` and ``all`` (module docstring), comma-separated or as items.
    layers
        Every layer name the backend can reach, in model order (``ModelSpec.layers``).
    top_level
        The top-level layers, input layers excluded (``model.layers``); default
        ``layers``.

    Raises
    ------
    InputError
        For an empty selection or a bad ``first:N``.
    LayerError
        For a name the model does not have (the message lists its layers).
    """
    top = list(layers if top_level is None else top_level)
    items = _items(selection)
    if not items:
        raise InputError("layers is empty; pass None for the default (convolution and pooling layers), layer names, "
                         "'first:N' or 'all'")
    names: list[str] = []
    for item in items:
        if item.lower() == "all":
            names.extend(top)
        elif item.lower().startswith("first:"):
            names.extend(_first(item, top))
        elif item in layers:
            names.append(item)
        else:
            raise LayerError(f"unknown layer {item!r}; the model's layers are: {', '.join(layers)} (or 'first:N', "
                             "'all')")
    order = {name: i for i, name in enumerate(layers)}
    return sorted(dict.fromkeys(names), key=order.__getitem__)
