"""What a method is: :class:`MethodSchema` (parameters, paper, cost, sign, needs) and its floor.

A schema is pure data plus two small functions of the effective parameters: the
method's unavoidable model passes (:meth:`MethodSchema.floor`) and the cheapest
parameters that compile the same functions (:meth:`MethodSchema.warmup_params`). The
bench, the speed suite, the docs, the viz and the validation read methods from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .params import Param

__all__ = ["MethodSchema", "DocsEntry", "FloorPlan", "FloorContext", "ExampleImages", "PASS_KINDS", "CAPABILITIES",
           "VIEWS"]

#: The kinds of pass a floor is made of (see :mod:`xaikit.bench.floor`).
PASS_KINDS = ("forward", "forward_backward_input", "forward_backward_layer", "head_forward_backward")

#: What an engine can compute; a method lists what it needs.
#: ``scores``: class scores of (perturbed) images; ``gradients``: input gradients;
#: ``layers``: a layer's activations and the gradient at them; ``head``: the model above a
#: layer run on given activations; ``guided``: input gradients through modified ReLU
#: backward passes (guided backpropagation, deconvnet); ``attention``: a transformer's attention
#: weights per block and the target score's gradient with respect to them; ``propagation``: input gradients through
#: the modified backward passes of DeepLift's rescale rule (with a reference batch) and LRP's epsilon / gamma rules.
CAPABILITIES = ("scores", "gradients", "layers", "head", "guided", "attention", "propagation")

#: How a method's maps are best looked at and scored: ``signed`` (red/blue around 0),
#: ``positive`` (non-negative by definition: a heat map), ``magnitude`` (the sign is mostly
#: noise: |map|).
VIEWS = ("signed", "positive", "magnitude")


@dataclass(frozen=True)
class FloorPlan:
    """The unavoidable passes of one explanation, per image.

    Attributes
    ----------
    kind : str
        One of :data:`PASS_KINDS`.
    passes : int
        Number of such passes per image.
    layer : str or None
        The layer of ``forward_backward_layer`` and ``head_forward_backward``.
    k : int
        Backward passes per forward pass (ranked outputs of expected gradients).
    score : str
        The score differentiated.
    description : str
        The floor in words, for the report.
    """

    kind: str
    passes: int
    layer: str | None = None
    k: int = 1
    score: str = "logit"
    description: str = ""


FloorFn = Callable[[Mapping[str, Any], "FloorContext"], FloorPlan]


@dataclass(frozen=True)
class FloorContext:
    """What a floor depends on besides the parameters."""

    layer: str | None
    score: str
    image_size: tuple[int, int]
    k: int = 1


@dataclass(frozen=True)
class ExampleImages:
    """In :attr:`MethodSchema.example_params`: the caller's background images (the first ``rows``; all if None)."""

    rows: int | None = None


@dataclass(frozen=True)
class DocsEntry:
    """How the docs list a method (in :attr:`MethodSchema.docs`): its navigation label and its row of the
    methods' index (``docs/methods/index.md``), both generated from the catalogue by ``docs/hooks.py``.

    Attributes
    ----------
    label : str
        Its title in the site's navigation (``"Grad-CAM"``).
    computes : str
        What it computes, in a few words (``"feature maps weighted by their mean gradient, ReLU"``).
    passes : str
        The model passes per image of the native implementation, in short (``"1 forward + 1 backward"``).
    paper : str
        The paper, in short (``"Selvaraju et al. 2017"``).
    """

    label: str
    computes: str
    passes: str
    paper: str


@dataclass(frozen=True)
class MethodSchema:
    """One method of the catalogue.

    Attributes
    ----------
    id : str
        The id passed as ``method=``.
    name : str
        Human-readable name.
    summary : str
        One-sentence definition.
    reference : str
        The paper(s) that define it.
    signed : bool
        Whether attributions can be negative by definition.
    cost : str
        The model passes per image, in words.
    params : tuple of Param
        The method's parameters besides ``batch_size`` and ``score`` (which every
        attribution method takes) with their defaults.
    kind : str
        ``"attribution"`` (returns an Explanation) or ``"activations"``.
    needs : frozenset of str
        The engine capabilities (:data:`CAPABILITIES`) it needs.
    layer : str
        ``"none"``, ``"optional"`` (works at the input or at a layer) or ``"auto"`` (a layer
        method: ``layer=None`` picks the default layer).
    view : str
        How the maps are best looked at and scored (:data:`VIEWS`).
    floor : callable
        ``(params, context) -> FloorPlan``.
    warmup : mapping
        Parameter values that compile the same functions with the least work.
    formula : str
        The definition as plain-text math (docs).
    core : bool
        Whether the core implements it on engine primitives (:mod:`xaikit.methods`), so
        that every native backend whose capabilities cover ``needs`` offers it. False for a
        method only a library's adapter computes (shap's ``partition_shap``).
    example_params : mapping
        Small but non-trivial settings on the test CNN (layers ``conv_a``, ``bn_relu``,
        ``pool_a``, ``conv_b``; images of a few pixels): what the contract tests of every
        framework run (:meth:`examples`). An :class:`ExampleImages` stands for the caller's
        background images.
    docs : DocsEntry or None
        Its navigation label and its row of the docs' methods index (every method of the catalogue has one; the
        docs build fails without).
    """

    id: str
    name: str
    summary: str
    reference: str
    signed: bool
    cost: str
    params: tuple[Param, ...] = ()
    kind: str = "attribution"
    needs: frozenset[str] = frozenset()
    layer: str = "none"
    view: str = "signed"
    floor_fn: FloorFn | None = field(default=None, repr=False, compare=False)
    warmup: Mapping[str, Any] = field(default_factory=dict)
    formula: str = ""
    core: bool = True
    example_params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    docs: DocsEntry | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(CAPABILITIES)
        if unknown or self.view not in VIEWS or self.layer not in ("none", "optional", "auto"):  # pragma: no cover
            raise ValueError(f"method {self.id!r}: bad schema ({unknown or self.view or self.layer})")

    @property
    def random(self) -> bool:
        """Whether the method draws random numbers (takes a ``seed``)."""
        return any(p.name == "seed" for p in self.params)

    def examples(self, background: Any = None) -> dict[str, Any]:
        """:attr:`example_params` with ``background`` (images) in place of each :class:`ExampleImages`."""
        return {name: (background if value.rows is None else background[:value.rows])
                if isinstance(value, ExampleImages) else value for name, value in self.example_params.items()}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def floor(self, params: Mapping[str, Any], *, layer: str | None, score: str, image_size: tuple[int, int],
              k: int = 1) -> FloorPlan:
        """The unavoidable passes of an explanation with effective ``params``."""
        if self.floor_fn is None:
            raise ValueError(f"no floor is defined for method {self.id!r}")
        return self.floor_fn(params, FloorContext(layer, score, image_size, k))

    def warmup_params(self, params: Mapping[str, Any], image_size: tuple[int, int]) -> dict[str, Any]:
        """``params`` changed to compile the same functions with the least work (a cheap warm-up call)."""
        out = dict(params)
        for name, value in self.warmup.items():
            if name not in out and name not in {p.name for p in self.params}:
                continue
            if value == "image":  # a patch as large as the image: one window
                out[name] = int(min(image_size))
            elif value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out
