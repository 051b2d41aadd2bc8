"""The method catalogue: the one place that says what each method is.

>>> from xaikit.catalogue import METHODS
>>> METHODS["smoothgrad"].param("noise").doc   # doctest: +ELLIPSIS
'Standard deviation of the Gaussian noise, ...'

Per method (:class:`MethodSchema`): its parameters (:class:`Param`: type, range, default,
meaning; shared names mean one thing everywhere), the paper, the cost in model passes
and the floor, whether it is signed, how its maps are best viewed, and what it needs
from a model (scores, gradients, layers). Validation, the docs, the bench, the viz and
the speed suite read it. Importing it imports NumPy only.

A method is declared once, where it is implemented: its class statement registers the
class with its schema (``class GradCAM(EngineExplainer, schema=MethodSchema("gradcam",
...))``, :func:`declare`); the schemas share floors, capability sets and parameter groups
(:mod:`xaikit.catalogue.parts`). :data:`ENTRIES` holds the schemas of activation
extraction and of the methods only an adapter computes. :data:`METHODS` and the id lists
below are live: they hold every method once :mod:`xaikit.methods` is imported, which
``import xaikit`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from ..errors import UnknownNameError
from .entries import CATALOGUE_ORDER, ENTRIES
from .params import KINDS, SHARED, Param, param_table, shared
from .schema import CAPABILITIES, PASS_KINDS, VIEWS, DocsEntry, ExampleImages, FloorPlan, MethodSchema

__all__ = [
    "ATTENTION_METHODS",
    "ATTRIBUTION_METHODS",
    "CAPABILITIES",
    "COMMON_PARAMS",
    "DocsEntry",
    "ENTRIES",
    "ExampleImages",
    "FloorPlan",
    "IMPLEMENTATIONS",
    "KINDS",
    "METHODS",
    "MethodIds",
    "MethodSchema",
    "PASS_KINDS",
    "Param",
    "SHARED",
    "VIEWS",
    "declare",
    "get_method",
    "param_table",
    "shared",
]

#: Every method by id, in catalogue order (:data:`~xaikit.catalogue.entries.CATALOGUE_ORDER`, then declaration order).
METHODS: dict[str, MethodSchema] = {m.id: m for m in ENTRIES}

#: method id -> the core class computing it on an engine (filled by :func:`declare`).
IMPLEMENTATIONS: dict[str, type] = {}

def declare(schema: MethodSchema | str, cls: type) -> str:
    """Register ``cls`` as the core's implementation of ``schema`` (a method declared with its class; its schema
    joins :data:`METHODS`) or of the :data:`ENTRIES` schema of that id; returns the method's id.

    Called by the class statement ``class EigenGradCAM(HiResCAM, schema=MethodSchema("eigengradcam", ...))``
    (:class:`xaikit.methods.EngineExplainer`).
    """
    method = schema if isinstance(schema, str) else schema.id
    if isinstance(schema, MethodSchema):
        if METHODS.get(method, schema) is not schema:
            raise ValueError(f"method {method!r} is declared twice")
        METHODS[method] = schema
        rank = {m: i for i, m in enumerate(CATALOGUE_ORDER)}
        ordered = sorted(METHODS.items(), key=lambda item: rank.get(item[0], len(rank)))  # stable: declaration order
        METHODS.clear()
        METHODS.update(ordered)
    elif method not in METHODS:
        raise UnknownNameError(f"schema={method!r}: no catalogue entry of that id; give the class its MethodSchema")
    if IMPLEMENTATIONS.get(method, cls) is not cls:
        raise ValueError(f"method {method!r} has two implementations: {IMPLEMENTATIONS[method]} and {cls}")
    IMPLEMENTATIONS[method] = cls
    return method


class MethodIds(Sequence[str]):
    """The ids of :data:`METHODS` whose schema passes a test, in catalogue order, read when used (a method
    declared after this list was made is in it)."""

    def __init__(self, test: Callable[[MethodSchema], bool]) -> None:
        self._test = test

    def _ids(self) -> tuple[str, ...]:
        return tuple(m for m, s in METHODS.items() if self._test(s))

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: Any) -> Any:
        return self._ids()[index]

    def __len__(self) -> int:
        return len(self._ids())

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __contains__(self, method: object) -> bool:
        return method in self._ids()

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (MethodIds, tuple, list)) else other)

    def __hash__(self) -> int:
        return hash(self._ids())

    def __repr__(self) -> str:
        return repr(self._ids())


#: Methods that return attributions (all but ``activations``).
ATTRIBUTION_METHODS: MethodIds = MethodIds(lambda s: s.kind == "attribution")

#: Methods that read a transformer's attention weights (capability ``attention``): they apply only to models
#: exposing them, so suites over CNNs leave them out.
ATTENTION_METHODS: MethodIds = MethodIds(lambda s: s.kind == "attribution" and "attention" in s.needs)

#: Parameters every attribution method takes, before its own.
COMMON_PARAMS: tuple[Param, ...] = shared("batch_size", "score", "output")


def get_method(method: str) -> MethodSchema:
    """The schema of ``method``; an unknown id raises with the list of methods."""
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown method {method!r}; methods: {', '.join(METHODS)}") from None
