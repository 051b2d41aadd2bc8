"""Method parameters as data: type, range, default and meaning, validated in one place.

Every parameter of every method is a :class:`Param`. The catalogue declares each shared
parameter once (:data:`SHARED`), so ``noise`` or ``steps`` means the same thing for every
method and backend that takes it; a backend whose library means something else declares
its own parameter under another name (tf-explain's absolute ``noise_std`` is not the
native ``noise``, a fraction of the image's range).

A parameter's values are a small object, its :attr:`Param.constraint`
(:mod:`xaikit.catalogue.constraints`: a range, options, a layer, a baseline, ...), made from
the declaration's kind, bounds and choices; it checks a value, describes the values in
words and gives a valid and an invalid example (for the tests). The :class:`Param` adds
what None means and where to look for other values.

Validation of context-free parameters happens here (:meth:`Param.check`); parameters that
need the model or the images (a layer, a baseline, a background) are checked by the
explainer template with the model's description (:mod:`xaikit.explainer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InputError
from ..validation import check_seed
from .constraints import Baseline, Constraint, Flag, Images, LayerRef, Options, OutputRef, Pair, Range, Seed, Text

__all__ = ["Param", "KINDS", "SHARED", "constraint_of", "shared", "param_table"]

#: What a parameter holds. ``layer``, ``baseline`` and ``images`` are checked against the
#: model and the images by the explainer; the others by :meth:`Param.check`.
KINDS = ("int", "float", "bool", "choice", "pair", "seed", "score", "layer", "layers", "baseline", "images", "str",
         "output")


@dataclass(frozen=True)
class Param:
    """One parameter of a method.

    Attributes
    ----------
    name : str
        The keyword, as passed to :func:`xaikit.explain`.
    kind : str
        One of :data:`KINDS`.
    default : Any
        The value used when the parameter is not given.
    doc : str
        What the parameter means (one sentence, shown in the docs and ``xaikit list``).
    low, high : float or None
        Inclusive bounds of numbers (``low_open``: ``low`` itself is excluded).
    choices : tuple
        The allowed values of a ``choice``.
    nullable : str or None
        If set, ``None`` is allowed and this says what it means.
    required : str or None
        If set, the parameter must be given; the message says what to pass.
    hint : str
        Appended to the message of a refused value (where else to find other values).
    constraint : Constraint
        What the values are, made from ``kind``, the bounds and the choices
        (:mod:`xaikit.catalogue.constraints`): it checks, describes itself and gives a valid
        and an invalid example.
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    nullable: str | None = None
    required: str | None = None
    hint: str = ""
    constraint: Constraint = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:  # pragma: no cover - a catalogue bug
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r}")
        object.__setattr__(self, "constraint", constraint_of(self))

    def with_default(self, default: Any, doc: str | None = None) -> Param:
        """The same parameter with another default (a backend whose library defaults differently)."""
        return replace(self, default=default, doc=self.doc if doc is None else doc)

    # ------------------------------------------------------------------ checks
    def check(self, value: Any) -> Any:
        """The validated value of a context-free parameter (``None`` passes where allowed).

        The value is checked by :attr:`constraint` (layers, baselines and images pass
        through: the explainer checks them with the model).

        Raises
        ------
        InputError
            Naming the parameter, what it got and what it takes (and :attr:`hint`).
        """
        if not self.hint:
            return self._check(value)
        try:
            return self._check(value)
        except InputError as exc:
            raise InputError(f"{exc} {self.hint}") from None

    def _check(self, value: Any) -> Any:
        if value is None:
            if self.kind == "seed":  # None: a seed is drawn, and recorded in the result
                return check_seed(None)
            if self.nullable is not None:
                return None
            if self.required is not None:
                raise InputError(self.required)
            raise InputError(f"{self.name} cannot be None; it takes {self.describe_type()}.")
        return self.constraint.check(value)

    def describe_type(self) -> str:
        """The accepted values in words (for messages and docs)."""
        text = self.constraint.describe()
        return f"{text}, or None ({self.nullable})" if self.nullable else text


def constraint_of(p: Param) -> Constraint:
    """The constraint a parameter's declaration (kind, bounds, choices) stands for."""
    kind, name = p.kind, p.name
    if kind in ("int", "float"):
        return Range(name, p.low, p.high, integer=kind == "int", low_open=p.low_open)
    if kind in ("choice", "score"):
        return Options(name, p.choices)
    if kind in ("layer", "layers"):
        return LayerRef(name, several=kind == "layers")
    return _BY_KIND[kind](name)


_BY_KIND: dict[str, type[Constraint]] = {"bool": Flag, "pair": Pair, "seed": Seed, "output": OutputRef, "str": Text,
                                         "baseline": Baseline, "images": Images}


def _p(name: str, kind: str, default: Any, doc: str, **kw: Any) -> Param:
    return Param(name, kind, default, doc, **kw)


#: The parameters shared by several methods: one name, one meaning.
SHARED: dict[str, Param] = {p.name: p for p in [
    _p("batch_size", "int", 32, "Largest number of images (or samples, patches, steps) sent to the model at once; "
       "bounds peak memory.", low=1),
    _p("score", "score", None, "What is explained: the pre-activation 'logit', the 'probability' after "
       "softmax/sigmoid, or the raw 'output'.", choices=("logit", "probability", "output"),
       nullable="the logit when the model's last activation is known, else the raw output"),
    _p("output", "output", None, "Which of the model's outputs holds the class scores, for models returning "
       "several: an index (tuple, list, a Keras model's outputs), a key (dict) or an attribute name ('logits').",
       nullable="the one output; Hugging Face's and torchvision's aux outputs: 'logits'"),
    _p("layer", "layer", None, "The layer whose output is used.", nullable="the method's default layer"),
    _p("layer_layout", "str", None, "How the layer's output holds its map: 'channels_first' (C, h, w), "
       "'channels_last' (h, w, C), or 'tokens:K' ((T, C) tokens whose first K -- class, distillation, register "
       "tokens -- are dropped and the rest is the grid of patches).",
       nullable="decided from the model's structure and the shapes seen (an error asks for it where they allow "
       "two readings)"),
    _p("relu", "bool", True, "Apply the final ReLU of the definition; False keeps negative evidence."),
    _p("eigen_smooth", "bool", False, "pytorch-grad-cam's eigen_smooth: the map is each image's weighted activations "
       "projected on their first principal component (sign: agreeing with the channel sum) instead of their "
       "channel sum."),
    _p("aug_smooth", "bool", False, "pytorch-grad-cam's aug_smooth: the mean of the maps of the image flipped "
       "horizontally or not and multiplied by 0.9, 1.0 and 1.1 (6 passes), each map min-max scaled (as the library) "
       "and flipped back."),
    _p("channel_reduce", "choice", "sum", "How per-channel values become one map: 'sum' (keeps the sign and "
       "completeness), 'abs_sum' (tf-explain's), 'max_abs' (Simonyan et al.'s saliency).",
       choices=("sum", "abs_sum", "max_abs")),
    _p("seed", "seed", None, "Seed of the random draws (streams keyed by the seed and each image's content, so a "
       "result does not depend on the batch).", nullable="a seed is drawn and recorded"),
    _p("n_samples", "int", 50, "Number of random samples per image.", low=1),
    _p("noise", "float", 0.15, "Standard deviation of the Gaussian noise, as a fraction of each image's value range "
       "(max - min).", low=0.0),
    _p("steps", "int", 50, "Number of points on the path from the baseline to the image.", low=1),
    _p("integration", "choice", "trapezoid", "Quadrature rule along the path.",
       choices=("trapezoid", "left", "right", "midpoint")),
    _p("baseline", "baseline", 0.0, "Reference input in the model's input space: a number, one value per channel, "
       "an image, or {'mean': references} (a reference set's mean image); integrated gradients also takes one per "
       "image: 'blur' / {'blur': sigma} (each image Gaussian-blurred, sigma 5 pixels by default) or an (N, ...) "
       "array."),
    _p("patch_size", "pair", 8, "Size of the occluding patch (an int or (height, width))."),
    _p("stride", "pair", None, "Step between patches.", nullable="the patch size (non-overlapping patches)"),
    _p("background", "images", None, "Reference images in the model's input space (SHAP's `data`), e.g. 50-100 "
       "training images.", required="this method needs background=...: a batch of reference images in the model's "
       "input space, e.g. 50-100 training images (SHAP calls it `data`)."),
    _p("local_smoothing", "float", 0.0, "Standard deviation of Gaussian noise added to the explained input "
       "(SHAP's local_smoothing), in absolute units of the input or layer.", low=0.0),
    _p("completeness", "bool", True, "Report each image's completeness gap in extras['completeness_gap'] "
       "(costs a forward pass over the background or baseline)."),
    _p("grid_size", "int", 7, "Cells per side of the coarse grid the masks are drawn on.", low=1),
    _p("segmentation", "choice", "slic", "How images are cut into segments: 'slic' superpixels (scikit-image, on the "
       "image scaled to [0, 1]) or a regular 'grid'.", choices=("slic", "grid")),
    _p("n_segments", "int", 50, "Approximate number of segments per image (SLIC's target, or the cells of the grid).",
       low=1),
    _p("compactness", "float", 1.0, "SLIC's weight of closeness in space against closeness in colour (higher: "
       "squarer segments; below about 0.3 noisy images may merge into a few segments); not used by the grid.",
       low=0.0, low_open=True),
    _p("layers", "layers", None, "Layers to extract: names, or a selection such as 'first:8', 'last:4', 'conv', "
       "'pool'.", nullable="every convolution and pooling layer"),
]}


def shared(*names: str, **defaults: Any) -> tuple[Param, ...]:
    """Shared parameters by name, with method-specific defaults where given."""
    out = []
    for name in names:
        p = SHARED[name]
        out.append(p.with_default(defaults.pop(name)) if name in defaults else p)
    if defaults:  # pragma: no cover - a catalogue bug
        raise ValueError(f"defaults for parameters not listed: {sorted(defaults)}")
    return tuple(out)


def param_table(base: Sequence[Param], changes: Mapping[str, Param | None] | None = None) -> dict[str, Param]:
    """``base`` as a name -> Param table, with a backend's ``changes`` applied.

    ``changes`` maps a name to a replacement :class:`Param` (another default, or a
    backend-only parameter) or to ``None`` (the backend does not take it).
    """
    table = {p.name: p for p in base}
    for name, p in (changes or {}).items():
        if p is None:
            table.pop(name, None)
        else:
            if p.name != name:  # pragma: no cover - a backend bug
                raise ValueError(f"parameter change {name!r} names a Param called {p.name!r}")
            table[name] = p
    return table
