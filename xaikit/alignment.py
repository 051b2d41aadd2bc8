"""Align what several libraries compute for one method on the catalogue's definition of it.

Each library runs a method with its own defaults: Captum's SmoothGrad takes the absolute
value of gradients under absolute noise of 1.0, tf-explain's Grad-CAM differentiates the
probability with guided gradients and no ReLU, and so on. Compared as they come, the
maps disagree for reasons that are not implementation errors. :func:`align_params` says,
for one (method, backend) pair, which of the library's own parameters express the
shared meaning -- the method as the catalogue defines it (:mod:`xaikit.catalogue`):
the score explained, signed or absolute values, noise as a fraction of each image's
range, the baseline, the final ReLU, the layer -- and what the library cannot express.

The rule is generic, so that a new adapter is aligned without code here:

1. *Shared names* (one name, one meaning): every parameter the pair's class takes under
   a catalogue name (``score``, ``relu``, ``channel_reduce``, ``n_samples``, ``noise``,
   ``baseline``, ``layer``, ...) is set to the definition's value: the catalogue default
   (the score and the layer resolved for the model as the native backends resolve them),
   or the value the caller gave. A value the class refuses (a choice it does not offer)
   is a limit: the library keeps its own.
2. *Library-only parameters* that the definition fixes (Captum's ``abs``, tf-explain's
   ``guided``) are declared by the adapter class in ``aligned_params``; what no parameter
   can express, in ``align_limits``.
3. A method parameter of the definition the class does not take is a limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .binding import get_method_class
from .catalogue import COMMON_PARAMS, get_method
from .errors import XaikitError
from .registry import services_for
from .spec import default_cam_layer, resolve_score
from .validation import as_numpy

__all__ = ["Alignment", "align_params", "definition_params", "alignment_table"]

#: Parameters that do not change what a method computes (only how it is run), never aligned.
RUN_ONLY = frozenset({"batch_size", "seed"})


@dataclass(frozen=True)
class Alignment:
    """What a (method, backend) pair is given to compute the method as the catalogue defines it.

    Attributes
    ----------
    method, backend : str
    params : dict
        The parameters set on the pair (name -> value), where they differ from the
        library's defaults.
    limits : tuple of str
        What the library cannot express of the definition (each a sentence); empty when
        the aligned pair computes the definition.
    """

    method: str
    backend: str
    params: dict[str, Any] = field(default_factory=dict)
    limits: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        """True when the library expresses the whole definition (no limits)."""
        return not self.limits


def definition_params(model: Any, images: Any, method: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The definition's parameter values for ``model``: the catalogue defaults, ``score`` and
    ``layer`` resolved for the model as the native backends resolve them, overridden by ``given``."""
    schema = get_method(method)
    given = dict(given or {})
    values = {p.name: p.default for p in (*COMMON_PARAMS, *schema.params)}
    spec = services_for(model).describe(model, None if images is None else as_numpy(images))
    values["score"] = resolve_score(given.get("score"), spec)
    if "layer" in values and values["layer"] is None and schema.layer == "auto" and given.get("layer") is None:
        values["layer"] = default_cam_layer(spec, method)
    values.update({k: v for k, v in given.items() if k != "score"})
    return {k: v for k, v in values.items() if k not in RUN_ONLY}


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b))) if a is not None and b is not None else a is b
    except (TypeError, ValueError):
        return False


def _checked_default(p: Any) -> Any:
    if p.kind in ("layer", "baseline", "images", "seed"):
        return p.default
    try:
        return p.check(p.default)
    except XaikitError:
        return p.default


def align_params(model: Any, images: Any, method: str, backend: str,
                 given: Mapping[str, Any] | None = None) -> Alignment:
    """The parameters that make ``backend`` compute ``method`` as the catalogue defines it.

    Parameters
    ----------
    model
        The model (its output activation and layers resolve the score and the layer).
    images : array-like or None
        The images (a model that takes any size needs them to be described).
    method, backend : str
        The pair.
    given : mapping, optional
        Parameters the caller set for every pair (``noise=0.2``, ``score="probability"``):
        they are part of the definition the pairs are aligned on.

    Returns
    -------
    Alignment
    """
    cls = get_method_class(method, backend)
    table = cls.param_table()
    schema = get_method(method)
    own = {p.name for p in schema.params}
    definition = definition_params(model, images, method, given)
    params: dict[str, Any] = {}
    limits = list(getattr(cls, "align_limits", ()))
    for name, value in definition.items():
        p = table.get(name)
        if p is None:
            option_off = value is False and schema.param(name).default is False  # e.g. eigen_smooth: nothing to say
            if name in own and value is not None and not option_off:
                limits.append(f"{backend} has no {name!r} parameter (the definition's {name}={value!r})")
            continue
        try:
            checked = p.check(value) if p.kind not in ("layer", "baseline", "images") else value
        except XaikitError:
            limits.append(f"{backend} cannot take {name}={value!r} (it takes {p.describe_type()}); it runs "
                          f"{name}={p.default!r}")
            continue
        if not _same(checked, _checked_default(p)) or (given and name in given):
            params[name] = value
    for name, value in getattr(cls, "aligned_params", {}).items():
        if name in table:
            params[name] = value
    return Alignment(method, backend, params, tuple(limits))


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and len(value) > 4):
        return f"array{np.shape(value)}"
    return repr(value)


def alignment_table(alignments: Mapping[str, Alignment]) -> str:
    """Markdown: per pair, the parameters set to align it on the definition and what it cannot express."""
    lines = ["| pair | set to align on the definition | cannot express |", "|---|---|---|"]
    for label, a in alignments.items():
        set_ = ", ".join(f"{k}={_short(v)}" for k, v in a.params.items()) or "(its defaults are the definition)"
        limits = "; ".join(a.limits) or "-"
        lines.append(f"| {label} | {set_.replace('|', '/')} | {limits.replace('|', '/')} |")
    return "\n".join(lines)
