"""The Keras graph xaikit hands to tf-explain.

tf-explain 0.3.1 was written for tf.keras 2. It reads ``model.inputs``,
``model.output``, ``model.get_layer(name).output`` and ``model.layers`` and builds
``keras.Model`` graphs from them. Under Keras 3 this breaks on models users have:

- a Sequential model built by calling it on data has no ``model.output``/``model.input``
  ("has never been called and thus has no defined output"), and its ``model.inputs``
  carry the batch size of that first call (``(1, H, W, C)``);
- a layer inside a nested model is not found by ``model.get_layer`` and its ``.output``
  lives in the nested model's graph, not the outer one;
- ``layer.output_shape`` no longer exists (Grad-CAM's layer auto-detection).

Instead of patching the library, xaikit *replays* the user's model on a fresh
``keras.Input``: every leaf layer is called on the symbolic tensors of a new graph
(Sequential: in order; Functional: through the model's own node graph; nested
Sequential/Functional models are entered, so their inner layers get tensors in the
new graph too). The result is :class:`TFExplainGraph`: a real Functional model
``graph.model`` (input -> the score being explained) for the functions that only call
``model(x)``/``model.predict``/``model.output``, plus the tf-explain-facing attributes
(``inputs``, ``output``, ``layers``, ``get_layer``) for the functions that build
sub-models from ``layer.output``. Weights are the user's own variables (the layers are
the same objects), so the graph follows the model if it is trained further.

What replaying does to the user's model: each replayed layer gets one more inbound
node, exactly what Keras itself does whenever a layer is called symbolically (as
``Sequential.build`` does). ``layer.output`` (node 0), saving and predictions are
unchanged. The one new layer object is the linear copy of the final layer that
provides the logit when ``score="logit"`` and the activation is fused into a Dense or
Conv layer; its weights are copied from the original before every explanation.

A subclassed model (neither Sequential nor Functional) is called as one opaque
operation: the methods that only differentiate the output work, but its inner layers
have no tensor in any Keras graph, so tf-explain's Grad-CAM and activation extraction
cannot reach them and raise :class:`xaikit.errors.ModelError`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from xaikit_tensorflow.adapters import KerasModelView, model_kind

from xaikit.errors import LayerError, ModelError

__all__ = ["TFExplainGraph", "tfexplain_graph", "GRAPH_SCORES"]

# What the graph's output is: the model's output ("output"; a probability when the
# model ends in softmax/sigmoid) or the pre-activation of the last layer ("logit").
GRAPH_SCORES = ("output", "logit")

_GRAPHS: weakref.WeakKeyDictionary[Any, dict[str, TFExplainGraph]] = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


@dataclass(frozen=True)
class LayerRef:
    """What tf-explain reads from a layer: its ``name`` and its ``output`` tensor (in the replayed graph)."""

    name: str
    output: Any


class TFExplainGraph:
    """A replayed, single-input, single-output Keras graph of a user's model.

    Attributes
    ----------
    model : keras.Model
        Functional model ``input -> scores`` ``(N, n_classes)``; for a single-sigmoid
        binary model the scores are ``[1 - p, p]`` (or ``[-z, z]`` for logits), so
        tf-explain's ``predictions[:, class_index]`` works for both classes.
    inputs : KerasTensor
        The input tensor. Deliberately *not* a one-element list: tf-explain's Grad-CAM
        builds ``Model([model.inputs], ...)``, which under Keras 3 becomes a nested
        ``[[input]]`` structure that warns on every call; ``[graph.inputs]`` is the flat
        ``[input]`` Keras 3 expects. ``Model(graph.inputs, ...)`` (ExtractActivations)
        works as well.
    output : KerasTensor
        The scores tensor (``model.output`` for tf-explain).
    layers : list of LayerRef
        Every layer of the user's model reached by the replay, in xaikit's naming (a
        nested layer keeps its plain name when unique), with its tensor in this graph.
    calls : dict
        How many times each layer was called (shared layers are ambiguous for Grad-CAM).
    opaque : dict
        Layer name -> name of the subclassed model that hides it (no tensor available).
    """

    def __init__(self, view: KerasModelView, score: str) -> None:
        if score not in GRAPH_SCORES:  # pragma: no cover - internal
            raise ValueError(score)
        self.score = score
        self.name = view.name
        self._copies: list[tuple[Any, Any]] = []  # (original final layer, its linear copy)
        want_logit = score == "logit" and view.output_activation != "linear"
        final, mode = view.final_layer, view.final_mode
        if want_logit and (final is None or mode not in ("input", "swap")):  # pragma: no cover - resolve_score guards
            raise ModelError(f"the logit of model {view.name!r} is not reachable")
        replay = _Replay(view, want_logit, self._linear_copy)
        h, w, c = view.input_shape
        inp = keras.Input((h, w, c), name="xaikit_tfexplain_input")
        out = _replayed(view, replay, inp)
        scores = _scores(view, replay, out)
        self.inputs = inp
        self.input = inp
        self.output = scores
        self.outputs = [scores]
        self.calls = replay.calls
        self.opaque = replay.opaque
        self.layers = [LayerRef(name, replay.captured[name]) for name in view.layers if name in replay.captured]
        self._by_name = {ref.name: ref for ref in self.layers}
        self.model = keras.Model(inp, scores, name=f"{view.name}_tfexplain_{score}")

    def _linear_copy(self, layer: Any) -> Any:
        config = dict(layer.get_config())
        config["activation"] = "linear"
        config["name"] = f"{layer.name}_xaikit_logit"
        copy = type(layer).from_config(config)
        self._copies.append((layer, copy))
        return copy

    def refresh(self) -> None:
        """Copy the final layer's current weights into its linear copy (``score="logit"``)."""
        for original, copy in self._copies:
            copy.set_weights(original.get_weights())

    def get_layer(self, name: str) -> LayerRef:
        """The layer's tensor in this graph (what tf-explain's ``model.get_layer(name).output`` reads)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise LayerError(f"layer {name!r} has no tensor in the graph of {self.name!r}") from None

    def tensor_of(self, name: str, method: str) -> LayerRef:
        """Like :meth:`get_layer`, with the reason when the layer cannot be used by tf-explain's ``method``."""
        if name in self.opaque:
            raise ModelError(
                f"layer {name!r} is inside the subclassed model {self.opaque[name]!r}. tf-explain's {method} builds "
                f"keras.Model(model.inputs, layer.output), which needs the layer's output tensor in a Keras graph, "
                "and a subclassed model's layers have none (their call() is Python code). Use backend='tensorflow', "
                "which captures the layer during the forward pass, or rebuild the model as a Functional/Sequential "
                "one.")
        if self.calls.get(name, 0) > 1:
            raise LayerError(f"layer {name!r} is called {self.calls[name]} times in one forward pass (a shared layer); "
                             f"its output is ambiguous. Pick a layer that is used once.")
        if name not in self._by_name:
            raise LayerError(f"layer {name!r} is not on the path from the input to the output of {self.name!r}; "
                             f"layers tf-explain's {method} can use: {', '.join(self._by_name)}")
        return self._by_name[name]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)


class _Replay:
    """One replay of a user's model on a new ``keras.Input``: every leaf layer called on the new graph's tensors.

    Records, per layer of the view (by xaikit's name), its tensor in the new graph
    (``captured``, the last call's) and how often it ran (``calls``); the layers hidden
    in a subclassed model (``opaque``: layer name -> that model's name); and, when
    ``want_logit``, the pre-activation of the final layer (``logit``: its input for
    ``final_mode="input"``, else the output of ``linear_copy(final)`` on its inputs).
    """

    def __init__(self, view: KerasModelView, want_logit: bool, linear_copy: Callable[[Any], Any]) -> None:
        self.view = view
        self.want_logit = want_logit
        self.linear_copy = linear_copy
        self.names = {id(layer): name for name, layer in view.layers.items()}
        self.final, self.mode = view.final_layer, view.final_mode
        self.captured: dict[str, Any] = {}
        self.calls: dict[str, int] = {}
        self.opaque: dict[str, str] = {}
        self.logit: list[Any] = []

    def call(self, op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``op(*args, **kwargs)`` in the new graph (a Sequential/Functional model is entered), recorded."""
        if isinstance(op, keras.Model) and model_kind(op) in ("sequential", "functional") and len(args) == 1 \
                and not kwargs:
            out = self.run(op, args[0])
        else:
            if isinstance(op, keras.Model):  # subclassed (or unusual) container: called as one operation
                for name, layer in self.view.layers.items():
                    if _contains(op, layer):
                        self.opaque.setdefault(name, op.name)
            if self.want_logit and op is self.final:
                if self.mode == "input":
                    self.logit.append(args[0])
                else:
                    self.logit.append(self.linear_copy(op)(*args, **kwargs))
            out = op(*args, **kwargs)
        name = self.names.get(id(op))
        if name is not None:
            self.captured[name] = out
            self.calls[name] = self.calls.get(name, 0) + 1
        return out

    def run(self, container: Any, x: Any) -> Any:
        """``container`` on ``x``: a Sequential's layers in order, a Functional's node graph, else one call."""
        kind = model_kind(container)
        if kind == "sequential":
            for layer in container.layers:
                if not isinstance(layer, keras.layers.InputLayer):
                    x = self.call(layer, (x,), {})
            return x
        if kind == "functional":
            out = container._run_through_graph(
                x, operation_fn=lambda op: (lambda *a, **k: self.call(op, a, k)))
            return out[0] if isinstance(out, (list, tuple)) and len(out) == 1 else out
        return self.call(container, (x,), {})


def _replayed(view: KerasModelView, replay: _Replay, inp: Any) -> Any:
    """The user's model replayed on ``inp``; any failure but xaikit's own becomes one :class:`ModelError`."""
    try:
        with _LOCK:
            out = replay.run(view.model, inp)
    except (ModelError, LayerError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild the graph becomes one message
        raise ModelError(
            f"the 'tf-explain' backend could not rebuild model {view.name!r} as a Keras graph "
            f"({type(exc).__name__}: {exc}). tf-explain only works on models it can call on a symbolic "
            "keras.Input (it builds keras.Model(model.inputs, ...) sub-models); use backend='tensorflow', which "
            "runs the model eagerly/compiled instead.") from None
    if replay.want_logit and not replay.logit:
        raise ModelError(f"the last layer of model {view.name!r} sits inside a subclassed model, so its "
                         "pre-activation has no tensor in a Keras graph; use score='probability' (or "
                         "backend='tensorflow').")
    return out


def _scores(view: KerasModelView, replay: _Replay, out: Any) -> Any:
    """The graph's ``(N, n_classes)`` scores: ``out`` or the logit; a single-output binary model gets two columns."""
    if view.spec.binary:
        if replay.want_logit:
            z = replay.logit[-1]
            return keras.ops.concatenate([-z, z], axis=1)
        if view.spec.output_activation == "sigmoid":
            return keras.ops.concatenate([1.0 - out, out], axis=1)
        return keras.ops.concatenate([-out, out], axis=1)  # a single logit output
    return replay.logit[-1] if replay.want_logit else out


def _contains(container: Any, layer: Any) -> bool:
    stack = list(getattr(container, "layers", []))
    while stack:
        item = stack.pop()
        if item is layer:
            return True
        stack.extend(getattr(item, "layers", []) if isinstance(item, keras.Model) else [])
    return False


def tfexplain_graph(view: KerasModelView, score: str) -> TFExplainGraph:
    """The (cached) replayed graph of ``view``'s model whose output is ``score`` (see :data:`GRAPH_SCORES`)."""
    model = view.model
    if view.kind == "subclassed":
        # The graph calls the model itself as one operation, so it holds a strong reference to it: caching it
        # under the model (a weak key) would keep the model alive forever. Rebuilt per call instead (cheap).
        graph = TFExplainGraph(view, score)
        graph.refresh()
        return graph
    with _LOCK:
        per_model = _GRAPHS.get(model)
        if per_model is None:
            per_model = {}
            _GRAPHS[model] = per_model
        graph = per_model.get(score)
        if graph is None:
            graph = TFExplainGraph(view, score)
            per_model[score] = graph
    graph.refresh()
    return graph
