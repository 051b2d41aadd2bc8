"""Targets: what an explanation explains, as one score per image.

A target is a class index (an int, one per image, or ``None`` for each image's predicted
class) or a **score function** ``score(outputs) -> (N,)``: any callable that takes the
model's raw output for a batch -- in the model's framework: a ``torch.Tensor`` for a
PyTorch model, a TensorFlow tensor for a Keras model, a NumPy array for a black box --
and returns one differentiable score per image. Every method explains that score as it
explains a class score (Grad-CAM differentiates it, occlusion watches it drop), on every
native backend and through the adapters whose library takes one (Captum's forward
function, pytorch-grad-cam's targets). The result records the function
(:func:`describe_target`) instead of a class.

The ready-made targets below are framework-neutral: each works on NumPy, PyTorch and
TensorFlow outputs alike (it dispatches on the output's type; no framework is imported
by this module -- a tensor's framework is loaded already when one reaches it). They
are what pytorch-grad-cam's and Captum's users write by hand:

- :class:`ClassScore` -- a class's score, what an int target means;
- :class:`Region` -- the sum of a class's scores over a mask of a segmentation output
  (pytorch-grad-cam's ``SemanticSegmentationTarget``);
- :class:`EmbeddingSimilarity` -- the cosine similarity of an embedding output to a
  vector (pytorch-grad-cam's ``SimilarityToConceptTarget``);
- :class:`Regression` -- one output of a regression head;
- :class:`MultiLabel` -- the sum of several outputs of a multi-label head.

:func:`resolve_targets` is the core's one rule for what ``targets=`` means; every
method and adapter goes through it (:meth:`xaikit.Explainer.explain`) and through
:meth:`xaikit.call_context.CallContext.targets_for` for "the predicted class when none was
given".
"""

from __future__ import annotations

import abc
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .array_ops import TensorFlowOps, array_ops, static_shape
from .errors import InputError
from .validation import check_targets

__all__ = [
    "ClassScore",
    "EmbeddingSimilarity",
    "MultiLabel",
    "Regression",
    "Region",
    "ResolvedTargets",
    "Target",
    "check_score_values",
    "describe_target",
    "is_score_function",
    "not_differentiable_error",
    "resolve_targets",
]

ScoreFunction = Callable[[Any], Any]


def _array_key(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:16]


def _array_repr(values: np.ndarray) -> str:
    if values.size <= 8:
        return repr(values.tolist())
    return f"<{values.dtype} array {tuple(values.shape)}, sum {float(values.sum()):.6g}, sha256 {_array_key(values)}>"


# ----------------------------------------------------------------- ready-made targets
class Target(abc.ABC):
    """A ready-made score function: ``target(outputs) -> (N,)`` on NumPy, PyTorch or TensorFlow outputs.

    Subclasses implement :meth:`score` with the operations they are given; equality and
    hashing go by the class and the parameters (a mask or vector by its bytes), so an
    equal target reuses the compiled functions of a TensorFlow model.
    """

    def __call__(self, outputs: Any) -> Any:
        return self.score(outputs, array_ops(outputs))

    @abc.abstractmethod
    def score(self, outputs: Any, ops: Any) -> Any:
        """``(N,)`` scores of a batch of raw outputs, computed with ``ops`` (the outputs' framework)."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters, as given (arrays as NumPy)."""

    def _key(self) -> tuple[Any, ...]:
        def hashable(v: Any) -> Any:
            return _array_key(v) if isinstance(v, np.ndarray) else tuple(v) if isinstance(v, list) else v

        return (type(self), *((k, hashable(v)) for k, v in self.params().items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_array_repr(v) if isinstance(v, np.ndarray) else repr(v)}"
                         for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def _index(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name} must be a non-negative int; got {value!r}.")
    return int(value)


class ClassScore(Target):
    """The score of class ``k``: ``outputs[:, k]``. What an int target means.

    Given as ``targets=``, it *is* the int ``k``: ``score=`` (logit or probability) and
    the binary-model rule apply as for a class index. Called directly, it returns the raw
    output's column ``k``.

    Parameters
    ----------
    k : int
        The class.
    """

    def __init__(self, k: int) -> None:
        self.k = _index("k", k)

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def score(self, outputs: Any, ops: Any) -> Any:
        return outputs[:, self.k]


class Regression(Target):
    """The ``i``-th output of a regression head: ``outputs[:, i]``.

    Parameters
    ----------
    i : int, default 0
        The output to explain (a head with one output: 0).
    """

    def __init__(self, i: int = 0) -> None:
        self.i = _index("i", i)

    def params(self) -> dict[str, Any]:
        return {"i": self.i}

    def score(self, outputs: Any, ops: Any) -> Any:
        return outputs[:, self.i]


class MultiLabel(Target):
    """The sum of several outputs of a multi-label head: ``sum_j outputs[:, labels[j]]``.

    Explain what makes an image show *all* these labels at once. Sum logits (a head
    without its final sigmoid), as the scores of independent labels add there; a head
    ending in a sigmoid gives its probabilities, which then are what is summed.

    Parameters
    ----------
    labels : sequence of int
        The labels (at least one, no repeats).
    """

    def __init__(self, labels: Sequence[int]) -> None:
        if isinstance(labels, (int, np.integer)):
            labels = [int(labels)]
        self.labels = tuple(_index("labels[]", v) for v in labels)
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise InputError(f"labels must be at least one label, without repeats; got {list(labels)!r}.")

    def params(self) -> dict[str, Any]:
        return {"labels": list(self.labels)}

    def score(self, outputs: Any, ops: Any) -> Any:
        return ops.sum(ops.columns(outputs, self.labels), (1,))


class Region(Target):
    """The sum of class ``k``'s scores over a mask of a segmentation output (Vinogradova et al., 2020).

    Per image, :math:`\\sum_{ij} m_{ij} S_{k,ij}` with :math:`S` the model's per-pixel
    class scores, as pytorch-grad-cam's ``SemanticSegmentationTarget``.

    Parameters
    ----------
    k : int
        The class.
    mask : array-like, (H, W)
        Boolean (or weights) at the output's resolution.
    class_axis : {None, 1, -1}
        The class axis of the ``(N, K, H, W)`` / ``(N, H, W, K)`` output. ``None``: read
        from the mask's shape, or, when both fit (a square output with K == H), 1 for
        PyTorch and -1 for TensorFlow.

    References
    ----------
    Vinogradova, Dibrov & Myers, "Towards Interpretable Semantic Segmentation via
    Gradient-weighted Class Activation Mapping", AAAI 2020.
    """

    def __init__(self, k: int, mask: Any, class_axis: int | None = None) -> None:
        self.k = _index("k", k)
        m = np.asarray(mask)
        if m.ndim != 2 or not (m.dtype == bool or np.issubdtype(m.dtype, np.number)):
            raise InputError(f"mask must be a 2-D boolean (or numeric) array (H, W) at the output's resolution; got "
                             f"{m.dtype} {m.shape}.")
        if class_axis not in (None, 1, -1):
            raise InputError(f"class_axis must be None, 1 or -1; got {class_axis!r}.")
        self.mask = m.astype(np.float32)
        self.class_axis = class_axis

    def params(self) -> dict[str, Any]:
        return {"k": self.k, "mask": self.mask, "class_axis": self.class_axis}

    def _axis(self, shape: tuple[int | None, ...] | None, ops: Any) -> int:
        if self.class_axis is not None:
            return self.class_axis
        if shape is None or len(shape) != 4:
            raise InputError(f"Region needs a segmentation output (N, K, H, W) or (N, H, W, K); the model returned "
                             f"shape {shape}.")
        first, last = tuple(shape[2:]) == self.mask.shape, tuple(shape[1:3]) == self.mask.shape
        if first and last:
            return -1 if isinstance(ops, TensorFlowOps) else 1
        if first or last:
            return 1 if first else -1
        raise InputError(f"Region's mask is {self.mask.shape[0]}x{self.mask.shape[1]} but the model's output has "
                         f"shape {shape}: give a mask at the output's resolution.")

    def score(self, outputs: Any, ops: Any) -> Any:
        class_map = outputs[:, self.k] if self._axis(static_shape(outputs), ops) == 1 else outputs[..., self.k]
        return ops.sum(class_map * ops.constant(self.mask, class_map), (1, 2))


class EmbeddingSimilarity(Target):
    """Cosine similarity of an embedding output ``(N, D)`` to ``vector`` ``(D,)``.

    Explain what makes an image's embedding close to a concept's (pytorch-grad-cam's
    ``SimilarityToConceptTarget``; Fel et al.'s and Zhou et al.'s concept vectors).

    Parameters
    ----------
    vector : array-like, (D,)
        The concept embedding (nonzero).

    References
    ----------
    Zhou, Sun, Bau & Torralba, "Interpretable Basis Decomposition for Visual
    Explanation", ECCV 2018.
    """

    def __init__(self, vector: Any) -> None:
        v = np.asarray(vector, dtype=np.float64)
        if v.ndim != 1 or not np.isfinite(v).all() or not np.any(v):
            raise InputError(f"vector must be a finite, nonzero 1-D array (D,); got shape {v.shape}.")
        self.vector = (v / np.linalg.norm(v)).astype(np.float32)

    def params(self) -> dict[str, Any]:
        return {"vector": self.vector}

    def score(self, outputs: Any, ops: Any) -> Any:
        shape = static_shape(outputs)
        if shape is None or len(shape) != 2 or (shape[1] is not None and shape[1] != self.vector.shape[0]):
            raise InputError(f"EmbeddingSimilarity compares (N, {self.vector.shape[0]}) embeddings; the model "
                             f"returned shape {shape}.")
        dot = ops.sum(outputs * ops.constant(self.vector, outputs), (1,))
        return dot / (ops.sqrt(ops.sum(outputs * outputs, (1,))) + 1e-12)


# ----------------------------------------------------------------- resolution
def is_score_function(targets: Any) -> bool:
    """Whether ``targets`` is a score function (a callable other than a :class:`ClassScore`)."""
    return callable(targets) and not isinstance(targets, ClassScore)


def describe_target(fn: ScoreFunction) -> str:
    """How a result records a score function: its qualified name and a repr of its parameters.

    A :class:`Target` is its repr (``Region(k=3, mask=<float32 array (64, 64), ...>)``);
    a ``functools.partial`` its function and arguments; a function its
    ``module.qualname``; another callable object its class and its attributes.
    """
    if isinstance(fn, Target):
        return repr(fn)
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in fn.keywords.items()]
        return f"partial({describe_target(fn.func)}, {', '.join(args)})"
    name = getattr(fn, "__qualname__", None)
    if name is not None:
        return f"{getattr(fn, '__module__', None) or '?'}.{name}"
    attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(fn).items()) if not k.startswith("_")) \
        if hasattr(fn, "__dict__") else ""
    return f"{type(fn).__module__}.{type(fn).__qualname__}({attrs})"


@dataclass(frozen=True)
class ResolvedTargets:
    """What ``targets=`` resolved to: class indices (``function`` None) or a score function.

    Attributes
    ----------
    classes : numpy.ndarray or None
        int64 ``(N,)`` explicit classes; ``None``: each image's predicted class. With a
        score function, zeros: the score is the function's single column.
    function : callable or None
        The score function.
    """

    classes: np.ndarray | None
    function: ScoreFunction | None = None

    @property
    def description(self) -> str | None:
        """:func:`describe_target` of the function (None for classes)."""
        return None if self.function is None else describe_target(self.function)


def resolve_targets(targets: Any, n_images: int, spec: Any, *, score: Any = None,
                    who: str = "this method", refusal: str = "") -> ResolvedTargets:
    """The core's one rule for ``targets=``.

    Parameters
    ----------
    targets
        ``None`` (each image's predicted class), an int or a sequence of ints (classes),
        a :class:`ClassScore` (its class), or a score function.
    n_images : int
    spec : ModelSpec
        The model's description: class indices need a classifier's ``(N, K)`` output.
    score
        The ``score=`` parameter as the user gave it: with a score function it must be
        ``None`` (the function says what is explained).
    who : str
        The method, for messages.
    refusal : str
        Why this method cannot take a score function (empty: it can).
    """
    if isinstance(targets, ClassScore):
        targets = targets.k
    if is_score_function(targets):
        if refusal:
            raise InputError(f"{who} cannot explain a score function: {refusal}")
        if score is not None:
            raise InputError(f"score={score!r} chooses a class score (logit or probability); a score function says "
                             "itself what is explained, from the model's raw output. Leave score=None, or compute "
                             "the probability inside the function.")
        return ResolvedTargets(np.zeros(n_images, np.int64), targets)
    if not spec.classifier:
        shape = "(N, " + ", ".join(map(str, spec.output_shape or ())) + ")"
        raise InputError(f"model {spec.name!r} returns {shape}, not (N, K) class scores, so a class index means "
                         "nothing: pass targets= a score function of the raw output, e.g. "
                         "xaikit.targets.Region(k, mask) for a segmentation model (see docs/targets.md).")
    if targets is None:
        return ResolvedTargets(None)
    return ResolvedTargets(check_targets(targets, n_images, spec.n_classes))


def check_score_values(fn: ScoreFunction, value: Any, n_rows: int | None) -> None:
    """Raise :class:`~xaikit.InputError` naming what a score function returned, unless it is ``(n_rows,)`` floats.

    ``value`` is what ``fn`` returned for ``n_rows`` outputs (NumPy, PyTorch or
    TensorFlow; a graph tensor's unknown batch size is not checked).
    """
    shape = static_shape(value)
    name = describe_target(fn)
    if shape is None:
        raise InputError(f"the score function {name} returned {type(value).__qualname__} {value!r:.60}, not an array "
                         f"of one score per image (N,) in the model's framework.")
    if len(shape) != 1 or (n_rows is not None and shape[0] is not None and shape[0] != n_rows):
        shown = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        if len(shape) == 0:
            hint = "a single number: return one score per image, do not reduce over the batch axis"
        elif len(shape) > 1:
            hint = "more than one value per image: reduce every axis but the first (e.g. sum over them)"
        else:
            hint = "a length that is not the number of images: keep the batch axis first"
        rows = "N" if n_rows is None else str(n_rows)
        raise InputError(f"the score function {name} returned shape {shown} for {rows} image(s): {hint}. It must "
                         f"return ({rows},).")
    dtype = str(getattr(value, "dtype", ""))
    if "float" not in dtype:
        raise InputError(f"the score function {name} returned {dtype} values of shape ({shape[0]},): scores must be "
                         "floats that depend differentiably on the output (not argmax, rounding or a comparison).")


def not_differentiable_error(fn: ScoreFunction, what: str) -> InputError:
    """The error for a score function whose result does not depend differentiably on the output."""
    return InputError(f"the score function {describe_target(fn)} returned {what}, which has no gradient with "
                      "respect to the model's output: gradient methods cannot explain it. Compute it with the "
                      "framework's differentiable operations on the output (no .detach(), .numpy(), argmax or "
                      "NumPy calls inside), or use a method that needs no gradient (occlusion, rise, ...).")
