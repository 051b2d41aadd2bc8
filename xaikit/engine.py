"""The engine: what a native backend computes for one model; the methods are the core's.

A native backend (TensorFlow, PyTorch, a black-box callable) implements :class:`Engine`
for its framework: a few primitives -- scores, gradients at the input or at a layer, the
model above a layer, perturbed scores -- computed in the framework, compiled and
batched as it likes. Every method (:mod:`xaikit.methods`) is written once on these
primitives, so a method means the same thing on every framework and a new framework
gets every method its primitives allow (the capabilities its
:class:`~xaikit.registry.BackendSpec` declares, matched against each method's ``needs`` in
the catalogue without importing the framework).

Conventions of every primitive (the conformance suite checks them):

- arrays in and out are NumPy; images ``x`` are float32 in the model's layout
  (:attr:`ModelSpec.layout`); **layer tensors cross the boundary channels-last**
  ``(N, h, w, C)`` whatever the framework, so the core's CAM and reduction code has one
  layout;
- targets ``t`` are int32; ``t < 0`` means "the predicted class" (resolved inside the
  pass by :func:`xaikit.spec.predicted_classes`' rule), so single-pass methods need no
  extra forward pass;
- ``score`` is one of ``"logit"``, ``"probability"``, ``"output"``; class scores of a
  single-unit binary model are two columns (``[-z, z]`` or ``[1 - p, p]``);
- or ``score`` is a **score function** (:mod:`xaikit.targets`): the "class scores" are
  then one column, the function applied to the model's raw output (after any output
  selection) in the framework, checked by :func:`xaikit.targets.check_score_values`,
  and every target ``t`` is 0;
- one call handles one chunk: the core streams rows (:func:`xaikit.kernels.stream_rows`),
  so ``batch_size`` bounds memory on every engine;
- a primitive may be called from several threads at once and returns what a sequential
  call would.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from .kernels import occluded_images
from .spec import ModelSpec

__all__ = ["Engine"]


class Engine(abc.ABC):
    """Framework primitives for one model. Backends subclass it; see the module docstring.

    What an engine computes (:data:`xaikit.catalogue.CAPABILITIES`: ``scores`` always,
    ``gradients``, ``layers``, ``head``, ``guided`` (modified ReLU backward passes),
    ``attention``, ``propagation`` (DeepLift's and LRP's backward passes)) is declared once,
    in its backend's :attr:`~xaikit.registry.BackendSpec.capabilities`, so methods are
    offered without importing the framework.

    Attributes
    ----------
    framework : str
        Name of the framework, recorded in results.
    """

    framework: ClassVar[str] = ""
    #: Results kept by :meth:`memo` (the most recent first out).
    memo_entries: ClassVar[int] = 4

    @property
    def _memo_state(self) -> tuple[OrderedDict[Any, tuple[str, Any]], threading.Lock, dict[str, int]]:
        state = self.__dict__.get("_xaikit_memo")
        if state is None:
            fresh = (OrderedDict(), threading.Lock(), {"hits": 0, "misses": 0})
            state = self.__dict__.setdefault("_xaikit_memo", fresh)
        return state

    @property
    def memo_stats(self) -> dict[str, int]:
        """Hits and misses of :meth:`memo` (for tests and the speed suite)."""
        return self._memo_state[2]

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A hash of the model's weights (their bytes, or the framework's version counters).

        Any change to any weight -- training, ``set_weights``, a permutation of filters, the
        randomisation sanity check -- changes it; :meth:`memo` and the bench's cell keys
        rely on it.
        """

    def memo(self, key: Any, compute: Callable[[], Any], max_bytes: int = 256 << 20) -> Any:
        """``compute()``, reused while the model's weights are unchanged (:meth:`fingerprint`).

        For quantities derived from the weights and a fixed input, such as the scores or
        layer activations of an explainer's background. The last :attr:`memo_entries`
        keys are kept; results larger than ``max_bytes`` are not kept.
        """
        entries, lock, stats = self._memo_state
        stamp = self.fingerprint()
        with lock:
            entry = entries.get(key)
            if entry is not None and entry[0] == stamp:
                stats["hits"] += 1
                entries.move_to_end(key)
                return entry[1]
        value = compute()
        size = sum(getattr(v, "nbytes", 0) for v in (value if isinstance(value, tuple) else (value,)))
        with lock:
            stats["misses"] += 1
            entries.pop(key, None)
            if size <= max_bytes:
                entries[key] = (stamp, value)
                while len(entries) > self.memo_entries:
                    entries.popitem(last=False)
        return value

    # ----------------------------------------------------------------- describing
    @property
    @abc.abstractmethod
    def layout(self) -> str:
        """``"NHWC"`` or ``"NCHW"``: how the model takes a batch."""

    def layout_of(self, image_shape: tuple[int | None, ...]) -> str:
        """The layout of a batch of images of one image's ``image_shape``: :attr:`layout`.

        An engine whose layout is read from the images (a black box without a declared
        one) overrides it.
        """
        return self.layout

    @abc.abstractmethod
    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        """The model's :class:`ModelSpec` for images of one image's ``image_shape`` (model layout).

        Raises :class:`~xaikit.InputError` naming the fix when the model cannot take such
        images (wrong channel count or size). ``None``: what is known without running the
        model (``input_shape`` may hold ``None``, ``n_outputs`` 0 when unknown, no layer
        shapes).
        """

    def versions(self) -> dict[str, str]:
        """Library versions recorded in results."""
        return {}

    def layer_name(self, layer: Any) -> Any:
        """The name of a layer given as the framework's object (a ``torch.nn.Module``); names pass through.

        Methods take ``layer=`` as a name or, where the framework has layer objects
        users hold, as the object itself; the name is what is checked and recorded.
        """
        return layer

    def thread_context(self) -> Callable[[], contextlib.AbstractContextManager[Any]] | None:
        """A factory of the context worker threads run primitives in (a device scope), or None."""
        return None

    # ----------------------------------------------------------------- scores
    @abc.abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's outputs ``(B, K)`` float32 for one chunk."""

    @abc.abstractmethod
    def target_scores(self, x: np.ndarray, t: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(selected (B,), outputs (B, K), targets used (B,))`` for one chunk."""

    @abc.abstractmethod
    def class_scores(self, x: np.ndarray, score: str) -> np.ndarray:
        """``(B, n_classes)`` scores of one chunk (binary: two columns)."""

    def occlusion_scores(self, x: np.ndarray, seg: np.ndarray, windows: np.ndarray, baseline: np.ndarray,
                         t: np.ndarray, score: str) -> np.ndarray:
        """Scores ``(R,)`` of row ``i``: image ``x[seg[i]]`` with ``windows[i]`` set to ``baseline``, class ``t[i]``.

        ``windows`` is ``(R, 4)`` int32 ``(top, left, bottom, right)`` in pixels; ``baseline``
        one image. The default builds the chunk's occluded images in NumPy at once
        (:func:`xaikit.kernels.occluded_images`); engines may build them on the device.
        """
        rows = occluded_images(x, seg, windows, baseline, 1 if self.layout_of(tuple(x.shape[1:])) == "NCHW" else -1)
        scores = self.class_scores(rows, score)
        return np.take_along_axis(scores, t.astype(np.int64)[:, None], axis=1)[:, 0]

    def masked_scores(self, x: np.ndarray, seg: np.ndarray, masks: np.ndarray, fill: np.ndarray, t: np.ndarray,
                      score: str) -> np.ndarray:
        """Scores ``(R,)`` of row ``i``: ``x[seg[i]] * m_i + fill * (1 - m_i)``, class ``t[i]``.

        ``masks`` is ``(R, H, W)`` float32 (usually in [0, 1]; broadcast over channels) at
        the images' resolution; ``fill`` one image in the model's layout (zeros: the
        masked image itself, as RISE and Score-CAM use it). The default builds the rows in
        NumPy; engines build them on the device.
        """
        axis = 3 if self.layout_of(tuple(x.shape[1:])) == "NHWC" else 1
        m = np.expand_dims(masks.astype(np.float32), axis)
        rows = x[seg] * m + fill[None] * (1.0 - m)
        scores = self.class_scores(rows.astype(np.float32), score)
        return np.take_along_axis(scores, t.astype(np.int64)[:, None], axis=1)[:, 0]

    # ----------------------------------------------------------------- gradients
    def input_gradients(self, x: np.ndarray, t: np.ndarray, score: str, *, rule: str = "plain"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(d score / d x, outputs, targets used, selected score)`` for one chunk.

        ``rule``: ``"plain"`` (the gradient); with the ``guided`` capability also
        ``"guided"`` (every ReLU passes back only positive gradients at positive inputs:
        Springenberg et al.'s guided backpropagation) and ``"deconvnet"`` (every ReLU passes
        back the ReLU of the gradient whatever its input: Zeiler & Fergus' deconvnet). The
        forward pass and the outputs are unchanged; the user's model is left as it was.
        """
        raise NotImplementedError(f"{type(self).__name__} computes no gradients")

    def propagation_gradients(self, x: np.ndarray, t: np.ndarray, score: str, rule: str, *,
                              reference: np.ndarray | None = None, epsilon: float = 1e-9, gamma: float = 0.0
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``(modified gradient at x, outputs, targets used, S_t(x), S_t(reference) or None)`` for one chunk.

        Capability ``propagation``. ``rule="rescale"`` (DeepLift, :class:`xaikit.methods.DeepLift`):
        ``reference`` holds one reference per image (same shape as ``x``); the model runs on
        the images and the references in one batch, and every elementwise nonlinearity
        passes back :math:`(f(z) - f(z_0)) / (z - z_0)` (its gradient where
        :math:`|z - z_0| < 10^{-10}`), max pooling Captum's rule, linear layers their
        gradients; the targets of the references are those of their images.
        ``rule="lrp"`` (:class:`xaikit.methods.LRP`): every convolution, dense, pooling and
        batch-norm layer passes back :math:`J'^T (g \\odot z / (z' + \\epsilon\\,
        \\mathrm{sign}(z')))`, convolution and dense layers with weights
        :math:`W + \\gamma W^+` in :math:`z', J'`. Layers a rule cannot go through raise
        :class:`~xaikit.ModelError` naming them.
        """
        raise NotImplementedError(f"{type(self).__name__} has no modified backward passes")

    def path_gradient_sums(self, x: np.ndarray, seg: np.ndarray, r: np.ndarray, e: np.ndarray, u: np.ndarray,
                           w: np.ndarray, t: np.ndarray, score: str, *, layer: str | None = None,
                           times_delta: bool = False, second_moment: bool = False) -> np.ndarray:
        """Gradient sums along paths, per image: ``(k, S, *shape)`` float32 (``(2, k, S, *shape)`` with
        ``second_moment``: the sums of ``w g`` and of ``w g**2``, for VarGrad and SquareGrad).

        Row ``i`` is the point ``p_i = r_i + u_i (x[seg_i] + e_i - r_i)``; its gradients
        of the ``k`` target scores ``t[i]`` (``t`` is ``(R, k)``), times ``w_i`` (and times
        ``x[seg_i] + e_i - r_i`` when ``times_delta``), are summed per image ``seg_i``.
        ``r`` and ``e`` may have one row, broadcast to all. With ``layer``, ``x`` holds that
        layer's activations (channels-last) and the points go through the model above
        it. SmoothGrad: ``r = 0, u = 1, e =`` noise; integrated gradients: ``r =``
        baseline, ``u = alpha``, ``w =`` quadrature weight; expected gradients: ``r =``
        references, ``u ~ U(0, 1)``, ``e =`` smoothing noise, ``times_delta``.
        """
        raise NotImplementedError(f"{type(self).__name__} computes no gradients")

    # ----------------------------------------------------------------- layers
    def layer_gradients(self, x: np.ndarray, t: np.ndarray, score: str, layer: str
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(activations, d score / d activations, outputs, targets used)``; layer tensors channels-last."""
        raise NotImplementedError(f"{type(self).__name__} has no access to layers")

    def layer_outputs(self, x: np.ndarray, layers: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``({layer: output in the model's layout}, outputs)`` for one chunk (activation extraction)."""
        raise NotImplementedError(f"{type(self).__name__} has no access to layers")

    def probe(self, x: np.ndarray, score: str, layer: str | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(outputs, class scores, activations of layer channels-last or None)`` in one forward pass."""
        if layer is None:
            return self.predict(x), self.class_scores(x, score), None
        raise NotImplementedError(f"{type(self).__name__} has no access to layers")

    def pass_loop(self, plan: Any, x: np.ndarray, t: np.ndarray, iters: int, *, serial: bool = False) -> None:
        """Run ``iters`` passes of ``plan.kind`` on batch ``x`` (targets ``t`` ``(B, k)``) and wait for them.

        The floor of a method (:mod:`xaikit.bench.floor`): the passes it cannot avoid,
        with no Python between them where the framework allows (a compiled loop). The
        input is nudged by ``1e-7 * i`` at iteration ``i`` so that no pass is hoisted out
        of the loop; ``serial`` chains each pass on the previous one's result.
        ``plan.kind``: ``forward``, ``forward_backward_input``, ``forward_backward_layer``
        (to ``plan.layer``), ``head_forward_backward`` (``x`` holds ``plan.layer``'s
        activations, channels-last; ``plan.k`` backward passes per forward pass).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot time passes")

    def attention(self, x: np.ndarray, t: np.ndarray, score: str, *, grad: bool
                  ) -> tuple[list[np.ndarray], list[np.ndarray] | None, np.ndarray, np.ndarray]:
        """``(attention weights per block, their gradients or None, outputs, targets used)`` for one chunk.

        Capability ``attention``: each block's softmaxed attention weights ``(B, heads,
        T, T)`` (rows attend to columns) in model order, and with ``grad`` the target
        score's gradients with respect to them. Models without readable attention raise
        :class:`~xaikit.ModelError` naming what is supported.
        """
        raise NotImplementedError(f"{type(self).__name__} reads no attention weights")

    def head_scores(self, features: np.ndarray, t: np.ndarray, score: str, layer: str) -> np.ndarray:
        """Scores ``(B,)`` of classes ``t`` computed from ``layer``'s activations ``features`` (channels-last)
        through the model above the layer (capability ``head``; Ablation-CAM).

        ``t`` must be explicit (no ``-1``): the predicted class of a modified activation is
        not what an explanation asks for.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot run part of a model")

    def check_head(self, layer: str) -> None:
        """Raise :class:`~xaikit.LayerError` if the model above ``layer`` cannot be run on its activations."""
        raise NotImplementedError(f"{type(self).__name__} cannot run part of a model")
