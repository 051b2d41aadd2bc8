"""``output=`` for Keras models with several outputs: the same layers, one output.

A Functional model's outputs are symbolic tensors; :func:`with_output` picks one with
the core's rule (:func:`xaikit.outputs.select_output`: an index into the outputs, the
key of a dict of outputs, or the name of the layer producing an output) and builds
``keras.Model(model.inputs, that_output)``: the same layer objects and names, so every
layer name users know still works. One such model per (model, selection), kept while
the model lives.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import keras

from xaikit.errors import InputError, ModelError
from xaikit.outputs import check_output, describe_returned, select_output

from .layer_kinds import model_kind

__all__ = ["with_output"]

_MODELS: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()
_SELECTED: weakref.WeakSet[Any] = weakref.WeakSet()  # the models built here
_LOCK = threading.Lock()


def _is_symbolic(value: Any) -> bool:
    return isinstance(value, keras.KerasTensor)


def _layer_name(tensor: Any) -> str:
    return tensor._keras_history.operation.name


def with_output(model: Any, output: int | str | None) -> Any:
    """``model`` itself (one output, or ``output=None``), or a Functional model over the chosen output."""
    output = check_output(output)
    if output is None or model in _SELECTED:
        return model
    if model_kind(model) != "functional":
        raise ModelError(f"output={output!r} needs a Functional Keras model (its outputs are known without running "
                         f"it); {model.name!r} is {model_kind(model)}. Build a model returning the class scores.")
    with _LOCK:
        per_model = _MODELS.setdefault(model, {})
        if output in per_model:
            return per_model[output]
    returned = model.output
    if isinstance(output, str) and isinstance(returned, (list, tuple)):  # outputs named by their layer
        names = [_layer_name(t) for t in returned]
        if output not in names:
            raise InputError(f"output={output!r} selects nothing: model {model.name!r} has outputs "
                             f"{describe_returned(returned, _is_symbolic, lambda t: t.shape)} from layers "
                             f"{', '.join(map(repr, names))}.")
        tensor = returned[names.index(output)]
    else:
        tensor, _ = select_output(returned, output, is_tensor=_is_symbolic, shape_of=lambda t: t.shape,
                                  model=f"model {model.name!r}")
    selected = keras.Model(model.inputs, tensor, name=model.name)
    selected.selected_output = output
    with _LOCK:
        _SELECTED.add(selected)
        return _MODELS.setdefault(model, {}).setdefault(output, selected)
