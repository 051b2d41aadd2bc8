"""xaikit: explain image classifiers, compare methods and libraries on the same footing.

``import xaikit`` imports no deep-learning framework: backends are plugins loaded on
first use (see :mod:`xaikit.registry`).

>>> import xaikit as xk
>>> exp = xk.explain(model, images, method="gradcam")       # doctest: +SKIP
>>> exp.attributions.shape, exp.targets                     # doctest: +SKIP
>>> acts = xk.activations(model, images)                    # doctest: +SKIP
>>> xk.list_methods(); xk.list_backends()                   # doctest: +SKIP
>>> check = xk.sanity_check(model, images)                  # doctest: +SKIP
"""

from __future__ import annotations

from . import methods  # noqa: F401 - the methods declared with their classes join the catalogue
from ._api import activations, explain, get_explainer, get_extractor
from .catalogue import METHODS
from .compare import Comparison, compare
from .errors import (
    DegenerateMapWarning,
    InputError,
    LayerError,
    MissingDependencyError,
    ModelError,
    UnknownNameError,
    XaikitError,
)
from .explainer import ActivationExtractor, Attribution, Explainer, ModelSpec
from .explanation import Activations, Explanation, RankedExplanations, normalize_maps
from .invariance import input_invariance_check
from .registry import list_backends, list_methods
from .sanity import SanityCheck, sanity_check
from .version import __version__

__all__ = [
    "ActivationExtractor",
    "Activations",
    "Attribution",
    "Comparison",
    "DegenerateMapWarning",
    "Explainer",
    "Explanation",
    "RankedExplanations",
    "InputError",
    "LayerError",
    "METHODS",
    "MissingDependencyError",
    "ModelError",
    "ModelSpec",
    "SanityCheck",
    "UnknownNameError",
    "XaikitError",
    "activations",
    "compare",
    "explain",
    "get_explainer",
    "get_extractor",
    "input_invariance_check",
    "list_backends",
    "list_methods",
    "normalize_maps",
    "sanity_check",
    "__version__",
]
