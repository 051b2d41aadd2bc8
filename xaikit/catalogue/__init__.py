"""The method catalogue: the one place that says what each method is.

>>> from xaikit.catalogue import METHODS
>>> METHODS["smoothgrad"].param("noise").doc   # doctest: +ELLIPSIS
'Standard deviation of the Gaussian noise, ...'

Per method (:class:`MethodSchema`): its parameters (:class:`Param`: type, range, default,
meaning; shared names mean one thing everywhere), the paper, the cost in model passes
and the floor, whether it is signed, how its maps are best viewed, and what it needs
from a model (scores, gradients, layers). Validation, the docs, the bench, the viz and
the speed suite read it. Importing it imports NumPy only.
"""

from __future__ import annotations

from ..errors import UnknownNameError
from .entries import ENTRIES
from .params import KINDS, SHARED, Param, param_table, shared
from .schema import CAPABILITIES, PASS_KINDS, VIEWS, FloorPlan, MethodSchema

__all__ = [
    "ATTENTION_METHODS",
    "ATTRIBUTION_METHODS",
    "CAPABILITIES",
    "COMMON_PARAMS",
    "FloorPlan",
    "KINDS",
    "METHODS",
    "MethodSchema",
    "PASS_KINDS",
    "Param",
    "SHARED",
    "VIEWS",
    "get_method",
    "param_table",
    "shared",
]

#: Every method by id, in catalogue order.
METHODS: dict[str, MethodSchema] = {m.id: m for m in ENTRIES}

#: Methods that return attributions (all but ``activations``).
ATTRIBUTION_METHODS: tuple[str, ...] = tuple(m for m, s in METHODS.items() if s.kind == "attribution")

#: Methods that read a transformer's attention weights (capability ``attention``): they apply only to models
#: exposing them, so suites over CNNs leave them out.
ATTENTION_METHODS: tuple[str, ...] = tuple(m for m in ATTRIBUTION_METHODS if "attention" in METHODS[m].needs)

#: Parameters every attribution method takes, before its own.
COMMON_PARAMS: tuple[Param, ...] = shared("batch_size", "score", "output")


def get_method(method: str) -> MethodSchema:
    """The schema of ``method``; an unknown id raises with the list of methods."""
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown method {method!r}; methods: {', '.join(METHODS)}") from None
