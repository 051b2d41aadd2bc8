"""What values a parameter takes, as small objects: check, describe, examples.

Each constraint knows the parameter's name (for messages) and has four jobs:

- ``check(value)``: the validated value, or an :class:`~xaikit.errors.InputError`
  naming the parameter, what it got and what it takes;
- ``describe()``: the accepted values in words (messages, docs, ``xaikit list``);
- ``valid_example()`` / ``invalid_example()``: one value it accepts and one it refuses
  (the catalogue's tests check both for every parameter of every method; the property
  tests draw from them).

:class:`Range` (numbers, integer or not, with an open or closed lower end),
:class:`Options` (one of named values), :class:`Flag`, :class:`Pair`, :class:`Seed`,
:class:`Text` and :class:`OutputRef` are checked here, without the model. Three need
the model or the images and are checked by the explainer (:mod:`xaikit.explainer`):
:class:`LayerRef`, :class:`Baseline` and :class:`Images`; their ``check`` passes the
value through (``context_free`` is False) and their invalid example is one every model
and every batch refuses.

None is not a constraint's business: whether a parameter may be None (and what it then
means) is the :class:`~xaikit.catalogue.Param`'s.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..outputs import check_output
from ..validation import MAX_INT, check_bool, check_choice, check_pair, check_positive_int, check_seed

__all__ = ["Baseline", "Constraint", "Flag", "Images", "LayerRef", "Options", "OutputRef", "Pair", "Range", "Seed",
           "Text"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Constraint:
    """The values one parameter takes (a base: subclasses define the four methods).

    Attributes
    ----------
    name : str
        The parameter's name, as messages show it.
    """

    name: str

    #: Whether :meth:`check` decides alone (False: the explainer checks the value with the model or the images).
    context_free = True

    def check(self, value: Any) -> Any:  # pragma: no cover - abstract
        """The validated value; raises :class:`~xaikit.errors.InputError` naming :attr:`name`."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        """The accepted values in words."""
        raise NotImplementedError

    def valid_example(self) -> Any:  # pragma: no cover - abstract
        """A value :meth:`check` accepts."""
        raise NotImplementedError

    def invalid_example(self) -> Any:  # pragma: no cover - abstract
        """A value refused (by :meth:`check`, or by the explainer for a constraint needing the model)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Range(Constraint):
    """A number in ``[low, high]`` (``low_open``: ``low`` itself excluded); ``integer``: an integer.

    A float is finite and within float32's range (the model computes in float32).
    """

    low: float | None = None
    high: float | None = None
    integer: bool = False
    low_open: bool = False

    def bounds_text(self) -> str:
        """``>= 0 and <= 1``, ``> 0``, or empty."""
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        return " and ".join(parts)

    def check(self, value: Any) -> Any:
        if self.integer:
            minimum = int(self.low) if self.low is not None else -MAX_INT
            maximum = int(self.high) if self.high is not None else MAX_INT
            return check_positive_int(self.name, value, minimum=minimum, maximum=maximum)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InputError(f"{self.name} must be a number {self.bounds_text()}; got {value!r} "
                             f"({type(value).__name__}).".replace("  ", " "))
        out = float(value)
        if not np.isfinite(out) or abs(out) > _FLOAT32_MAX:
            raise InputError(f"{self.name} must be a finite number (within float32's range, as the model computes "
                             f"in float32); got {value!r}.")
        if (self.low is not None and (out < self.low or (self.low_open and out == self.low))) or (
                self.high is not None and out > self.high):
            raise InputError(f"{self.name} must be a finite number {self.bounds_text()}; got {out:g}.")
        return out

    def describe(self) -> str:
        return f"{'an integer' if self.integer else 'a number'} {self.bounds_text()}".strip()

    def valid_example(self) -> Any:
        if self.low is None:
            value = 0.0 if self.high is None else min(0.0, self.high)
        elif not self.low_open:
            value = self.low
        else:  # inside the open end: halfway to high, or 1 above low
            value = self.low + (min(1.0, (self.high - self.low) / 2) if self.high is not None else 1.0)
        return int(np.ceil(value)) if self.integer else float(value)

    def invalid_example(self) -> Any:
        if self.low is not None:  # the lower end itself where it is open, else just below it
            return (int(self.low) - 1 if self.integer else self.low if self.low_open else self.low - 1.0)
        if self.high is not None:
            return int(self.high) + 1 if self.integer else self.high + 1.0
        return 0.5 if self.integer else float("nan")


@dataclass(frozen=True)
class Options(Constraint):
    """One of named values (text)."""

    choices: tuple[Any, ...] = ()

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise InputError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}; got {value!r} "
                             f"({type(value).__name__}).")
        return check_choice(self.name, value, self.choices)

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))

    def valid_example(self) -> Any:
        return self.choices[0]

    def invalid_example(self) -> Any:
        return "-".join(["not", *map(str, self.choices)])  # not one of them (text, the type they have)


@dataclass(frozen=True)
class Flag(Constraint):
    """True or False (NumPy bools too; not text, not 0 / 1)."""

    def check(self, value: Any) -> bool:
        return check_bool(self.name, value)

    def describe(self) -> str:
        return "True or False"

    def valid_example(self) -> bool:
        return True

    def invalid_example(self) -> Any:
        return "False"  # text: true under bool(...), so refused


@dataclass(frozen=True)
class Pair(Constraint):
    """An integer >= 1, or a (height, width) pair of them; checked as a ``[h, w]`` list."""

    def check(self, value: Any) -> list[int]:
        return list(check_pair(self.name, value))

    def describe(self) -> str:
        return "an int or an (height, width) pair of ints"

    def valid_example(self) -> tuple[int, int]:
        return (2, 3)

    def invalid_example(self) -> Any:
        return (2, 0)


@dataclass(frozen=True)
class Seed(Constraint):
    """An integer in ``[0, 2**32)`` (None: a seed is drawn and recorded, :func:`~xaikit.validation.check_seed`)."""

    def check(self, value: Any) -> int:
        return check_seed(value)

    def describe(self) -> str:
        return "an integer >= 0"

    def valid_example(self) -> int:
        return 0

    def invalid_example(self) -> int:
        return -1


@dataclass(frozen=True)
class Text(Constraint):
    """A string (what it means is checked where it is used, e.g. a layer layout against the layer's shape)."""

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"{self.name} must be a string; got {value!r} ({type(value).__name__}).")
        return value

    def describe(self) -> str:
        return "a string"

    def valid_example(self) -> str:
        return "text"

    def invalid_example(self) -> int:
        return 3


@dataclass(frozen=True)
class OutputRef(Constraint):
    """Which model output holds the scores: an index >= 0 or a key / attribute name."""

    def check(self, value: Any) -> Any:
        return check_output(value)

    def describe(self) -> str:
        return "an index or a key / attribute name such as 'logits'"

    def valid_example(self) -> Any:
        return "logits"

    def invalid_example(self) -> Any:
        return -1


@dataclass(frozen=True)
class LayerRef(Constraint):
    """A layer of the model (``several``: names or a selection such as ``'first:8'``), checked with the model."""

    several: bool = False
    context_free = False

    def check(self, value: Any) -> Any:
        return value  # checked with the model's description by the explainer

    def describe(self) -> str:
        return "layer names or a selection such as 'first:8'" if self.several else "a layer name"

    def valid_example(self) -> Any:
        return None  # the method's default layer (a name depends on the model)

    def invalid_example(self) -> Any:
        return "<no such layer>"


@dataclass(frozen=True)
class Baseline(Constraint):
    """A reference input (a number, a per-channel array, an image, ...), checked against the images."""

    context_free = False

    def check(self, value: Any) -> Any:
        return value  # resolved against the images by the explainer (xaikit.kernels.baselines.resolve_baseline)

    def describe(self) -> str:
        return "a number, a per-channel array or an image"

    def valid_example(self) -> float:
        return 0.0

    def invalid_example(self) -> str:
        return "black"  # a colour: depends on the preprocessing, refused with how to compute it


@dataclass(frozen=True)
class Images(Constraint):
    """A batch of images in the model's layout, checked against the images explained."""

    context_free = False

    def check(self, value: Any) -> Any:
        return value  # checked against the explained images' shape by the explainer

    def describe(self) -> str:
        return "a batch of images"

    def valid_example(self) -> np.ndarray:
        return np.zeros((1, 2, 2, 1), np.float32)  # for 2 x 2 one-channel images

    def invalid_example(self) -> str:
        return "images"
