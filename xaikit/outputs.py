"""Which part of what a model returns is the class scores: the ``output=`` rule, written once.

Many classifiers return more than one tensor: Hugging Face models an object whose
``.logits`` are the scores, torchvision's GoogLeNet and Inception v3 a namedtuple with
auxiliary logits in train mode, a detection-style model a dict, a Keras model several
outputs. ``output=`` says which one is the class scores:

- an ``int``: an index into a tuple or list (or a Keras model's outputs);
- a ``str``: a key of a dict (a Hugging Face ``ModelOutput`` is one) or an attribute
  name (``"logits"``), or the name of a Keras model's output;
- ``None``: the model's one tensor; for a structure, its ``logits`` (Hugging Face,
  ``GoogLeNetOutputs``, ``InceptionOutputs``), else an error listing what the model
  returned and how to pick one.

:func:`select_output` is the one function that applies the rule to a returned value;
every backend calls it (the PyTorch backend wraps a module with it, the Keras backend
picks a model output with it), and so can anything that applies a function to the
class scores after the selection. It imports no framework: the caller says what a
tensor is (``is_tensor``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import InputError, ModelError

__all__ = ["DEFAULT_KEYS", "check_output", "describe_returned", "select_output"]

#: What ``output=None`` picks in a structure, in order: the class scores of Hugging Face models and of
#: torchvision's ``GoogLeNetOutputs`` / ``InceptionOutputs``.
DEFAULT_KEYS: tuple[str, ...] = ("logits",)

OutputKey = int | str | None


def check_output(output: Any) -> OutputKey:
    """Validate an ``output=`` value: None, an index >= 0, or a non-empty key/attribute name."""
    if output is None or (isinstance(output, str) and output):
        return output
    if isinstance(output, int) and not isinstance(output, bool) and output >= 0:
        return int(output)
    raise InputError(f"output must be None, an index >= 0 (a tuple's or list's element, a Keras model's output) or a "
                     f"key / attribute name such as 'logits'; got {output!r} ({type(output).__name__}).")


def _fields(returned: Any) -> list[tuple[OutputKey, Any]]:
    """``(key, value)`` pairs of a structure: indices of a sequence, keys of a mapping, namedtuple / object fields."""
    if isinstance(returned, Mapping):
        return [(k, v) for k, v in returned.items()]
    if isinstance(returned, tuple) and hasattr(returned, "_fields"):  # a namedtuple: by name (and by index)
        return list(zip(returned._fields, returned))
    if isinstance(returned, Sequence) and not isinstance(returned, (str, bytes)):
        return list(enumerate(returned))
    public = {k: v for k, v in vars(returned).items() if not k.startswith("_")} if hasattr(returned, "__dict__") else {}
    return list(public.items())


def describe_returned(returned: Any, is_tensor: Callable[[Any], bool],
                      shape_of: Callable[[Any], Sequence[int]] | None = None) -> str:
    """What a model returned, in words: ``a tuple of 2: [0] tensor (N, 10), [1] tensor (N, 64)``."""
    def one(value: Any) -> str:
        if is_tensor(value):
            shape = tuple(shape_of(value)) if shape_of else None
            return "tensor" + ("" if shape is None else " (N, " + ", ".join(map(str, shape[1:])) + ")")
        if value is None:
            return "None"
        return type(value).__name__

    if is_tensor(returned):
        return one(returned)
    fields = _fields(returned)
    kind = type(returned).__name__
    if not fields:
        return f"a {kind}"
    shown = ", ".join(f"[{k!r}] {one(v)}" for k, v in fields[:12])
    more = f", ... ({len(fields) - 12} more)" if len(fields) > 12 else ""
    return f"a {kind} of {len(fields)}: {shown}{more}"


def _pick(returned: Any, output: int | str) -> tuple[bool, Any]:
    if isinstance(output, int):
        if isinstance(returned, Mapping) and not hasattr(returned, "to_tuple"):
            return (True, returned[output]) if output in returned else (False, None)
        try:
            return True, returned[output]  # tuples, lists, namedtuples, Hugging Face ModelOutput (its to_tuple())
        except (IndexError, KeyError, TypeError):
            return False, None
    if isinstance(returned, Mapping) and output in returned:
        return True, returned[output]
    if isinstance(returned, tuple) and hasattr(returned, "_fields"):
        return (True, getattr(returned, output)) if output in returned._fields else (False, None)
    if not isinstance(returned, Mapping) and hasattr(returned, output) and not callable(getattr(returned, output)):
        return True, getattr(returned, output)
    return False, None


def select_output(returned: Any, output: OutputKey, *, is_tensor: Callable[[Any], bool],
                  shape_of: Callable[[Any], Sequence[int]] | None = None, model: str = "the model",
                  default_index: bool = False) -> tuple[Any, OutputKey]:
    """The class-score tensor in ``returned`` and the key that picked it (None: ``returned`` is it).

    Parameters
    ----------
    returned
        What the model's forward returned.
    output : None, int or str
        The selection (:func:`check_output`); ``None`` applies the defaults.
    is_tensor : callable
        Whether a value is a tensor of the framework.
    shape_of : callable, optional
        A tensor's shape, for the error message.
    model : str
        The model's name, for messages.
    default_index : bool
        Whether ``output=None`` takes a plain tuple's first element (torchvision's aux
        tuples when scripted: ``(logits, aux_logits)``).

    Raises
    ------
    ModelError
        ``output=None`` and no default applies, or the selected value is not a tensor;
        the message lists what the model returned.
    InputError
        ``output`` names nothing in what the model returned (the message lists it).
    """
    output = check_output(output)
    if output is None:
        if is_tensor(returned):
            return returned, None
        for key in DEFAULT_KEYS:
            found, value = _pick(returned, key)
            if found and is_tensor(value):
                return value, key
        if default_index and isinstance(returned, (tuple, list)) and returned and is_tensor(returned[0]):
            return returned[0], 0
        raise ModelError(f"{model} returns {describe_returned(returned, is_tensor, shape_of)}; xaikit explains "
                         "one (N, K) tensor of class scores: say which with output= (an index for a tuple or list, "
                         "a key for a dict, an attribute name such as 'logits'; command line: --model-output).")
    if is_tensor(returned):
        raise InputError(f"output={output!r} selects nothing: {model} returns "
                         f"{describe_returned(returned, is_tensor, shape_of)}, the class scores; leave output=None.")
    found, value = _pick(returned, output)
    if not found:
        raise InputError(f"output={output!r} selects nothing: {model} returns "
                         f"{describe_returned(returned, is_tensor, shape_of)}.")
    if not is_tensor(value):
        raise ModelError(f"output={output!r} selects a {type(value).__name__}, not a tensor of class scores: "
                         f"{model} returns {describe_returned(returned, is_tensor, shape_of)}.")
    return value, output
