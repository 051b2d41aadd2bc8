"""A black-box model: ``f(images) -> (N, K)`` class scores, NumPy in and out.

:class:`BlackBox` states what xaikit cannot see in a function: how it takes a batch
(``layout``), what its outputs are (``output``), the image shape it takes and whether
its behaviour is pinned (``version``). A bare callable is wrapped with the defaults:
layout inferred from the images when unambiguous, outputs of unknown activation, never
reused results.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from xaikit.errors import InputError, ModelError
from xaikit.kernels import CHANNEL_SIZES, layout_from_shape
from xaikit.spec import LAYOUTS
from xaikit.validation import as_numpy, check_images

__all__ = ["OUTPUTS", "BlackBox", "as_black_box", "callable_id", "check_scores", "infer_layout"]

#: What a black box's outputs are: ``output`` (unknown), ``probability`` (softmax/sigmoid), ``logit`` (linear).
OUTPUTS = ("output", "probability", "logit")
#: Black boxes not declared thread-safe are called one at a time (in the whole process:
#: the same function may sit in several wrappers).
_SERIAL = threading.Lock()


def infer_layout(image_shape: tuple[int | None, ...], who: str) -> str:
    """``"NHWC"`` or ``"NCHW"`` for one image's shape, when exactly one end is a channel count.

    The channel axis is the first (``(C, H, W)``) or the last (``(H, W, C)``) axis; it is
    recognised only when exactly one of them has 1, 3 or 4 entries. Anything else is
    ambiguous and raises :class:`~xaikit.InputError` asking for the layout: a guess would
    silently explain the wrong axes.
    """
    shape = tuple(image_shape)
    if len(shape) != 3:
        raise InputError(f"{who} takes images (N, H, W, C) or (N, C, H, W); got images of shape (N, "
                         f"{', '.join(map(str, shape))})")
    layout = layout_from_shape(shape)
    if layout is not None:
        return layout
    first = shape[0] in CHANNEL_SIZES
    shown = "(N, " + ", ".join("?" if s is None else str(s) for s in shape) + ")"
    raise InputError(f"cannot tell whether images of shape {shown} are channels-first or channels-last for {who}: "
                     f"{'both' if first else 'neither'} of axis 1 and axis 3 {'have' if first else 'has'} 1, 3 or 4 "
                     "entries. State the layout: xaikit_callable.BlackBox(f, layout='NHWC') or layout='NCHW' "
                     "(OnnxModel(path, layout=...) for an ONNX file).")


def callable_id(fn: Any) -> str:
    """A stable id of a callable: its qualified name and a hash of its code (not of its state)."""
    target = getattr(fn, "__func__", fn)  # a bound method: its function
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object: its class and its __call__
        cls = type(fn)
        code = getattr(cls.__call__, "__code__", None)
        name = f"{cls.__module__}.{cls.__qualname__}"
    else:
        name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    digest = hashlib.blake2b(code.co_code + repr(code.co_consts).encode(), digest_size=8).hexdigest() if code else ""
    return f"{name}#{digest}" if digest else name


def check_scores(out: Any, n: int, who: str) -> np.ndarray:
    """``out`` as float32 ``(n, K)`` scores, or a :class:`~xaikit.ModelError` naming ``who`` and the fix."""
    try:
        arr = as_numpy(out)
    except Exception as exc:  # noqa: BLE001 - whatever the object raises, the user needs to know what f returned
        raise ModelError(f"{who} returned a {type(out).__name__} that NumPy cannot read ({type(exc).__name__}: "
                         f"{exc}); return a NumPy array of (N, K) class scores") from None
    if arr.dtype.kind not in "fiu":
        raise ModelError(f"{who} returned {arr.dtype} values; return a NumPy array of (N, K) class scores (numbers)")
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
        hint = " (one score per image: return scores[:, None])" if arr.shape == (n,) else ""
        raise ModelError(f"{who} returned an array of shape {arr.shape} for {n} image(s); a model returns (N, K) "
                         f"class scores, one row per image{hint}")
    scores = arr.astype(np.float32, copy=False)
    finite = np.isfinite(scores)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise ModelError(f"{who} returned NaN or Inf (in float32) for {len(rows)} of {n} image(s) (first: row "
                         f"{int(rows[0])}); check the images' range and the function")
    return scores


class BlackBox:
    """A black-box image classifier ``fn(images) -> (N, K)`` class scores, NumPy in and out.

    Parameters
    ----------
    fn : callable
        Called with float32 batches ``(B, H, W, C)`` or ``(B, C, H, W)`` (``layout``), each
        a private copy it may change;
        returns ``(B, K)`` scores (a NumPy array; tensors with ``.numpy()`` are read too).
        Scores are used as float32. A single column is one class, or a binary model's
        positive class when ``output`` is ``"probability"`` (sigmoid) or ``"logit"``.
    layout : {"NHWC", "NCHW"} or None
        How ``fn`` takes a batch. ``None``: inferred from ``input_shape`` or else from each
        batch of images, only when exactly one of axis 1 and axis 3 has 1, 3 or 4 entries
        (otherwise an :class:`~xaikit.InputError` asks for it).
    output : {"output", "probability", "logit"}
        What ``fn`` returns. ``"output"``: unknown, explained as it is (``score="output"``).
        ``"probability"``: softmax probabilities (sigmoid for one column); ``score=
        "probability"`` is then available, but not ``"logit"``, which cannot be recovered
        from a black box's probabilities. ``"logit"``: pre-activation logits (linear),
        the default score.
    input_shape : tuple or None
        One image's shape in ``layout`` order, ``None`` for a free size; images of any
        other shape are refused before ``fn`` is called.
    name : str or None
        Name in messages and results (default: ``fn``'s qualified name).
    version : str or None
        A string that changes whenever ``fn``'s behaviour does (a weights hash, a model
        version). With it, results derived from the model are reused while it stays the
        same (:meth:`xaikit.engine.Engine.memo`, the bench's cells); without it nothing
        is reused, because a function's state (closures, globals, a model it calls) is
        invisible to xaikit.
    thread_safe : bool, default False
        Whether ``fn`` may run in several threads at once. If not, xaikit calls black
        boxes one at a time (host work still overlaps).

    Examples
    --------
    >>> box = BlackBox(lambda x: x.mean(axis=(2, 3)), layout="NCHW")  # doctest: +SKIP
    >>> xaikit.explain(box, images, method="occlusion")                # doctest: +SKIP
    """

    #: Recorded as :attr:`xaikit.ModelSpec.framework`.
    framework = "callable"
    #: Width K of the outputs when the model declares it (an ONNX graph), else None.
    static_outputs: int | None = None

    def __init__(self, fn: Callable[[np.ndarray], Any], *, layout: str | None = None, output: str = "output",
                 input_shape: tuple[int | None, ...] | None = None, name: str | None = None,
                 version: str | None = None, thread_safe: bool = False) -> None:
        if isinstance(fn, BlackBox):
            raise ModelError(f"{fn!r} is already a BlackBox; wrap the function itself")
        if not callable(fn):
            raise ModelError(f"BlackBox takes a callable f(images) -> (N, K) scores; got a {type(fn).__name__}")
        if layout is not None and layout not in LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or None (inferred); "
                             f"got {layout!r}")
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {', '.join(map(repr, OUTPUTS))}; got {output!r}")
        if version is not None and not isinstance(version, str):
            raise InputError(f"version must be a string (a weights hash, a model version); got {version!r}")
        self.fn = fn
        self.name = name or callable_id(fn).split("#")[0]
        self.input_shape = None if input_shape is None else _check_input_shape(input_shape, self.name)
        if layout is None and self.input_shape is not None:
            layout = infer_layout(self.input_shape, self.name)
        self.layout = layout
        self.output = output
        self.version = version
        self.thread_safe = bool(thread_safe)
        self._outputs: dict[tuple[int, ...], int] = {}  # number of outputs per image shape (probed once)
        self._lock = threading.Lock()
        self._engine: Any = None  # set by xaikit_callable.engine.engine_for

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, layout={self.layout!r}, output={self.output!r})"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The checked outputs ``(N, K)`` float32 of a batch."""
        return self.evaluate(np.asarray(images, np.float32))[0]

    # ----------------------------------------------------------------- what the engine asks
    def evaluate(self, x: np.ndarray, logits: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """``(outputs, logits or None)`` of one batch, in one call of the model.

        ``logits`` asks for the pre-activation logits too; ``None`` when they cannot be
        had (see :attr:`no_logit`).
        """
        outputs = self._call(x)
        return outputs, (outputs if logits and self.output == "logit" else None)

    def _call(self, x: np.ndarray) -> np.ndarray:
        """The checked scores of ``fn`` on a private copy of ``x``.

        ``fn`` may write into its argument (``images -= 0.5``): the copy keeps the caller's
        array, and the rows a method reuses for its next calls, as they were, so the maps do
        not depend on it. One copy of each batch, beside a call of the model.
        """
        guard = contextlib.nullcontext() if self.thread_safe else _SERIAL
        try:
            with guard:
                out = self.fn(np.array(x, np.float32, copy=True))
        except Exception as exc:  # named and chained: the user's function failed
            raise ModelError(f"{self.name} raised {type(exc).__name__} on a float32 batch of shape {x.shape}: "
                             f"{exc}") from exc
        scores = check_scores(out, len(x), self.name)
        if self.output == "probability" and ((scores < -1e-6) | (scores > 1 + 1e-6)).any():
            raise ModelError(f"{self.name} is declared to return probabilities (output='probability') but returned "
                             f"values in [{scores.min():.4g}, {scores.max():.4g}]; declare output='logit' or "
                             "'output'")
        return scores

    def output_activation(self, n_outputs: int) -> str:
        """The last activation as :class:`xaikit.ModelSpec` names it."""
        if self.output == "probability":
            return "softmax" if n_outputs > 1 else "sigmoid"
        return "linear" if self.output == "logit" else "unknown"

    @property
    def no_logit(self) -> str:
        """Why ``score="logit"`` is not available although the activation is known ("" if it is)."""
        if self.output != "probability":
            return ""
        return (f"{self.name} returns probabilities (output='probability') and a black box's logits cannot be "
                "recovered from them; use score='probability' (or 'output'), or wrap a function that returns the "
                "logits with output='logit'")

    def n_outputs(self, image_shape: tuple[int, ...]) -> int:
        """Width K of the outputs for images of ``image_shape``: the model is called once on a zero image."""
        shape = tuple(int(s) for s in image_shape)
        with self._lock:
            known = self._outputs.get(shape)
        if known is None:
            known = int(self.evaluate(np.zeros((1, *shape), np.float32))[0].shape[1])
            with self._lock:
                self._outputs[shape] = known
        return known

    def check_shape(self, image_shape: tuple[int, ...], layout: str) -> None:
        """Raise :class:`~xaikit.InputError` (naming the fix) if images of this shape are not what the model takes."""
        if self.input_shape is not None:
            check_images(np.zeros((1, *image_shape), np.float32), expected_shape=self.input_shape, layout=layout)

    def fingerprint(self) -> str:
        """The model's identity for reuse: stable only with ``version`` (see the class docstring)."""
        token = self.version if self.version is not None else "unpinned:" + uuid.uuid4().hex
        return hashlib.blake2b(f"{callable_id(self.fn)}|{token}".encode(), digest_size=16).hexdigest()

    def versions(self) -> dict[str, str]:
        """Library versions recorded in results (besides xaikit's and NumPy's)."""
        return {}

    def parameter_count(self) -> int:
        """Number of parameters (0: a function's are not visible)."""
        return 0


def _check_input_shape(shape: Any, who: str) -> tuple[int | None, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    ok = len(dims) == 3 and all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
                                for d in dims)
    if not ok:
        raise InputError(f"input_shape of {who} must be one image's shape, 3 positive ints or None in the layout's "
                         f"order ((H, W, C) or (C, H, W)); got {shape!r}")
    return tuple(None if d is None else int(d) for d in dims)


def as_black_box(model: Any) -> BlackBox:
    """``model`` if it is a :class:`BlackBox`, a callable wrapped with the defaults, else a :class:`ModelError`."""
    if isinstance(model, BlackBox):
        return model
    if callable(model):
        return BlackBox(model)
    hint = ""
    if isinstance(model, str) and model.lower().endswith(".onnx"):
        hint = "; load an ONNX file first: xaikit_callable.OnnxModel(path)"
    raise ModelError(f"the 'callable' backend explains functions f(images) -> (N, K) scores; got a "
                     f"{type(model).__module__}.{type(model).__qualname__}, which is not callable{hint}")
