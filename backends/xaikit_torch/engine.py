"""The PyTorch engine: xaikit's primitives on a ``torch.nn.Module``.

Every primitive moves its NumPy inputs to the model's device once (in the model's
dtype), builds the rows it needs there -- occluded images, path points, per-image sums
with ``index_add_`` -- and brings float32 NumPy results back; only what must come from
the host (noise, references, windows) crosses over. A model on a GPU needs no other
code. Passes run in eval mode with the module's flags restored afterwards, gradients
come from ``torch.autograd.grad`` (no ``.grad`` written), hooks live for one pass
(:mod:`._torch`).

**What "logit" means here.** A torch classifier usually returns logits (no final
activation): its output activation is ``"linear"``, and ``score=None`` (the core's
rule, :func:`xaikit.spec.resolve_score`) explains the raw output, which *is* the logit;
``score="probability"`` is refused for it, as for any model that does not end in
softmax or sigmoid. A model ending in ``nn.Softmax`` / ``nn.Sigmoid`` has its logit read
as that module's input. ``nn.LogSoftmax`` counts as softmax: the logit is its input and
the probabilities are ``exp`` of the output. What was explained is recorded in every
result (``Explanation.score``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from xaikit.engine import Engine
from xaikit.errors import LayerError, ModelError
from xaikit.layer_layout import LayerLayout
from xaikit.methods.gradients import relu_rule_message
from xaikit.spec import ModelSpec
from xaikit.targets import check_score_values, not_differentiable_error

from ._torch import TorchModelView, as_numpy
from .attention import attention_modules, capture_attention
from .passes import PassState
from .propagation import PropagationRule, check_modules, propagation_hooks
from .shape_probe import ShapeProbe
from .views import model_view

__all__ = ["TorchEngine", "engine_for", "function_scores", "versions"]


def versions(*distributions: str) -> dict[str, str]:
    """Versions recorded in results: xaikit, torch, torchvision (when installed) and the given distributions."""
    from xaikit.registry import recorded_versions

    return {**recorded_versions(*distributions, optional=("torchvision",)), "torch": torch.__version__}


def engine_for(model: Any) -> TorchEngine:
    """The engine of ``model`` (one per model view; :class:`~xaikit.ModelError` if it is not an ``nn.Module``)."""
    view = model_view(model)
    engine = view.engine
    if engine is None:
        engine = view.engine = TorchEngine(view)
    return engine


def _all(values: np.ndarray, value: float) -> bool:
    """Whether every entry of a host array equals ``value`` (an identity step of a path's rows can be skipped)."""
    return bool(np.all(np.asarray(values) == value))


class TorchEngine(Engine):
    """xaikit's primitives on a PyTorch module (see :mod:`xaikit.engine` for the contract)."""

    framework = "torch"

    def __init__(self, view: TorchModelView) -> None:
        self.view = view

    @property
    def layout(self) -> str:
        return "NCHW"

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        return self.view.describe(image_shape)

    def versions(self) -> dict[str, str]:
        return versions()

    def fingerprint(self) -> str:
        return self.view.weights_fingerprint()

    def layer_name(self, layer: Any) -> Any:
        return self.view.layer_name(layer)

    # ----------------------------------------------------------------- helpers
    def _layout(self, layer: str, layout: LayerLayout | None, image_shape: tuple[int, ...]) -> LayerLayout | None:
        """The layout ``layer`` is read with: the one given, else the one the description decided (None: the layer
        holds no map and its output crosses as it is; undecided: :class:`~xaikit.LayerError` naming
        ``layer_layout=``)."""
        if layout is not None:
            return layout
        spec = self.view.describe(image_shape)
        info = spec.layer(layer)
        if info is not None and (info.layout is not None or info.undecided):
            return spec.layer_layout(layer)
        return None

    def _probe(self, x: np.ndarray) -> ShapeProbe:
        return self.view.probe(tuple(int(s) for s in x.shape[1:]))

    def _tensor(self, a: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        a = np.asarray(a)
        if not a.flags.writeable or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a).copy()
        return torch.from_numpy(a).to(device=self.view.device, dtype=dtype or torch.float32)

    def _images(self, a: np.ndarray) -> torch.Tensor:
        return self._tensor(a, self.view.dtype)

    def _index(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, np.int64)).to(self.view.device)

    def _run(self, x: torch.Tensor, probe: ShapeProbe, capture: Sequence[str] = (), *, grad: bool = False,
             relu_rule: str | None = None) -> PassState:
        return self.view.forward(x.to(self.view.dtype), probe, capture, grad=grad, relu_rule=relu_rule)

    @staticmethod
    def _output(state: PassState) -> torch.Tensor:
        return state.outputs["__output__"].float()

    @staticmethod
    def _scores(state: PassState, probe: ShapeProbe, score: Any) -> torch.Tensor:
        """``(B, n_classes)`` float32 scores of a pass, per ``score`` (binary models: two columns).

        A score function gives one column: the function of the raw output (what the model
        returned, the one place a score function meets the model's output).
        """
        if callable(score):
            return function_scores(score, state.outputs["__output__"])[:, None]
        out = state.outputs["__output__"].float()
        binary = probe.n_outputs == 1 and probe.output_activation in ("sigmoid", "linear")
        if score == "logit":
            z = out if probe.output_activation == "linear" else state.logits.float()
            return torch.cat([-z, z], dim=1) if binary else z
        if binary and probe.output_activation == "sigmoid":
            return torch.cat([1.0 - out, out], dim=1)
        if binary:  # a single logit output: "output" is the logit
            return torch.cat([-out, out], dim=1)
        if score == "probability" and probe.log_probabilities:
            return out.exp()
        return out

    @staticmethod
    def _predicted(out: torch.Tensor, probe: ShapeProbe) -> torch.Tensor:
        """Predicted class per row, the rule of :func:`xaikit.spec.predicted_classes`."""
        if probe.n_outputs == 1 and probe.output_activation in ("sigmoid", "linear"):
            threshold = 0.5 if probe.output_activation == "sigmoid" else 0.0
            return (out[:, 0] > threshold).long()
        return out.argmax(dim=1)

    def _selected(self, state: PassState, probe: ShapeProbe, t: torch.Tensor, score: Any
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        t_used = t if callable(score) else torch.where(t < 0, self._predicted(self._output(state), probe), t)
        return self._scores(state, probe, score).gather(1, t_used[:, None])[:, 0], t_used

    # ----------------------------------------------------------------- scores
    def predict(self, x: np.ndarray) -> np.ndarray:
        probe = self._probe(x)
        with self.view.running(grad=False):
            return as_numpy(self._output(self._run(self._images(x), probe)))

    def class_scores(self, x: np.ndarray, score: str) -> np.ndarray:
        probe = self._probe(x)
        with self.view.running(grad=False):
            return as_numpy(self._scores(self._run(self._images(x), probe), probe, score))

    def target_scores(self, x: np.ndarray, t: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probe = self._probe(x)
        with self.view.running(grad=False):
            state = self._run(self._images(x), probe)
            s, t_used = self._selected(state, probe, self._index(t), score)
            return as_numpy(s), as_numpy(self._output(state)), t_used.cpu().numpy().astype(np.int32)

    def occlusion_scores(self, x: np.ndarray, seg: np.ndarray, windows: np.ndarray, baseline: np.ndarray,
                         t: np.ndarray, score: str) -> np.ndarray:
        probe = self._probe(x)
        height, width = x.shape[2], x.shape[3]
        with self.view.running(grad=False):
            device = self.view.device
            rows_x = self._images(x)[self._index(seg)]  # row i occludes image seg[i]
            win = self._index(windows)
            rows = torch.arange(height, device=device)[None, :, None]
            cols = torch.arange(width, device=device)[None, None, :]
            top, left, bottom, right = (win[:, i, None, None] for i in range(4))
            inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
            occluded = torch.where(inside[:, None], self._images(baseline)[None], rows_x)
            scores = self._scores(self._run(occluded, probe), probe, score)
            return as_numpy(scores.gather(1, self._index(t)[:, None])[:, 0])

    def masked_scores(self, x: np.ndarray, seg: np.ndarray, masks: np.ndarray, fill: np.ndarray, t: np.ndarray,
                      score: str) -> np.ndarray:
        """Scores ``(R,)`` of row ``i``: ``x[seg[i]] * m_i + fill * (1 - m_i)``, class ``t[i]``.

        The rows are built on the model's device.
        """
        probe = self._probe(x)
        with self.view.running(grad=False):
            m = self._tensor(masks)[:, None]  # (R, 1, H, W): broadcast over the channels
            rows = self._images(x)[self._index(seg)] * m + self._images(fill)[None] * (1.0 - m)
            scores = self._scores(self._run(rows, probe), probe, score)
            return as_numpy(scores.gather(1, self._index(t)[:, None])[:, 0])

    # ----------------------------------------------------------------- gradients
    def input_gradients(self, x: np.ndarray, t: np.ndarray, score: str, *, rule: str = "plain"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if rule not in ("plain", "guided", "deconvnet"):
            raise ValueError(f"unknown gradient rule {rule!r}")
        if rule != "plain" and not any(isinstance(m, torch.nn.ReLU) for m in self.view.modules.values()):
            raise ModelError(relu_rule_message(self.view.name, rule, "nn.ReLU module"))
        probe = self._probe(x)
        with self.view.running(grad=True):
            images = self._tensor(x).requires_grad_(True)
            state = self._run(images, probe, relu_rule=None if rule == "plain" else rule)
            s, t_used = self._selected(state, probe, self._index(t), score)
            (grads,) = torch.autograd.grad(s.sum(), images)
            return (as_numpy(grads), as_numpy(self._output(state)), t_used.cpu().numpy().astype(np.int32),
                    as_numpy(s))

    def propagation_gradients(self, x: np.ndarray, t: np.ndarray, score: Any, rule: str, *,
                              reference: np.ndarray | None = None, epsilon: float = 1e-9, gamma: float = 0.0,
                              max_pool: str = "rescale"
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """DeepLift's (``rule="rescale"``, with ``reference``) or LRP's (``"lrp"``) modified gradient; see
        :mod:`.propagation`."""
        view = self.view
        probe = self._probe(x)
        chosen = PropagationRule(rule, epsilon, gamma, max_pool)
        skip = probe.final if probe.logit_is_input and score == "logit" else None
        check_modules(view.modules, view.name, chosen, skip, probe.final if probe.logit_is_input else None)
        n = len(x)
        with view.running(grad=True):
            handle = view.out_of_place.relus()
            try:
                with propagation_hooks(view.modules, chosen, skip):
                    rows = x if reference is None else np.concatenate([x, reference])
                    images = self._tensor(rows).requires_grad_(True)
                    state = self._run(images, probe)
                    out = self._output(state)
                    scores = self._scores(state, probe, score)
                    t_in = self._index(t)
                    t_used = t_in if callable(score) else torch.where(t_in < 0, self._predicted(out[:n], probe), t_in)
                    selected = scores[:n].gather(1, t_used[:, None])[:, 0]
                    (grads,) = torch.autograd.grad(selected.sum(), images)
                    s_ref = None
                    if reference is not None:
                        s_ref = as_numpy(scores[n:].gather(1, t_used[:, None])[:, 0])
            finally:
                handle.remove()
            return (as_numpy(grads[:n]), as_numpy(out[:n]), t_used.cpu().numpy().astype(np.int32), as_numpy(selected),
                    s_ref)

    def path_gradient_sums(self, x: np.ndarray, seg: np.ndarray, r: np.ndarray, e: np.ndarray, u: np.ndarray,
                           w: np.ndarray, t: np.ndarray, score: str, *, layer: str | None = None,
                           times_delta: bool = False, second_moment: bool = False,
                           layout: LayerLayout | None = None) -> np.ndarray:
        view = self.view
        if layer is None:
            image_shape = tuple(int(s) for s in x.shape[1:])
        else:
            image_shape = self._image_shape_of_map(layer, layout, tuple(int(s) for s in x.shape[1:]))
            layout = self._layout(layer, layout, image_shape)
            if layout is not None:
                layout.check_writable("a path method at a layer")
        probe = view.probe(image_shape)
        if layer is not None:
            view.check_head(layer)  # once per layer (cached): a layer another path bypasses is refused
        with view.running(grad=True):
            expand = (slice(None),) + (None,) * (x.ndim - 1)
            seg_t = self._index(seg)
            # SmoothGrad's rows (reference 0, position 1, weight 1) are x + e: one pass over the rows, not four
            noise_only = not times_delta and _all(u, 1.0) and _all(r, 0.0)
            with torch.no_grad():
                if noise_only:
                    delta = points = self._tensor(x)[seg_t] + self._tensor(e)
                else:
                    delta = self._tensor(x)[seg_t] + self._tensor(e) - self._tensor(r)
                    points = self._tensor(r) + self._tensor(u)[expand] * delta
            points.requires_grad_(True)
            if layer is None:
                state = self._run(points, probe)
            else:  # points are maps (N, h, w, C); the model takes the layer's own layout
                raw = points if layout is None else _from_map(points, layout)
                state = view.run_head(layer, raw.to(view.dtype), probe, image_shape)
            scores = self._scores(state, probe, score)
            targets = self._index(t)
            weights = None if _all(w, 1.0) else self._tensor(w)[expand]
            sums, squares = [], []
            for j in range(targets.shape[1]):
                selected = scores.gather(1, targets[:, j:j + 1]).sum()
                (g,) = torch.autograd.grad(selected, points, retain_graph=j < targets.shape[1] - 1)
                g = g.float()
                if times_delta:
                    g = g * delta
                weighted = g if weights is None else g * weights
                sums.append(torch.zeros((len(x), *g.shape[1:]), device=g.device).index_add_(0, seg_t, weighted))
                if second_moment:  # VarGrad, SquareGrad: the sums of w g**2 too
                    squares.append(torch.zeros_like(sums[-1]).index_add_(0, seg_t, g * weighted))
            if second_moment:
                return as_numpy(torch.stack([torch.stack(sums), torch.stack(squares)]))
            return as_numpy(torch.stack(sums))

    # ----------------------------------------------------------------- layers
    def layer_gradients(self, x: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                        layout: LayerLayout | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        probe = self._probe(x)
        layout = self._layout(layer, layout, tuple(int(s) for s in x.shape[1:]))
        with self.view.running(grad=True):
            state = self._run(self._images(x), probe, [layer], grad=True)
            acts = state.outputs[layer]
            s, t_used = self._selected(state, probe, self._index(t), score)
            (grads,) = torch.autograd.grad(s.sum(), acts)
            acts_np, grads_np = as_numpy(acts), as_numpy(grads)
            if layout is not None:
                acts_np, grads_np = layout.to_map(acts_np), layout.to_map(grads_np)
            return acts_np, grads_np, as_numpy(self._output(state)), t_used.cpu().numpy().astype(np.int32)

    def layer_outputs(self, x: np.ndarray, layers: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        probe = self._probe(x)
        names = tuple(layers)
        with self.view.running(grad=False):
            state = self._run(self._images(x), probe, names)
            return {n: as_numpy(state.outputs[n]) for n in names}, as_numpy(self._output(state))

    def probe(self, x: np.ndarray, score: str, layer: str | None, *, layout: LayerLayout | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        probe = self._probe(x)
        if layer:
            layout = self._layout(layer, layout, tuple(int(s) for s in x.shape[1:]))
        with self.view.running(grad=False):
            state = self._run(self._images(x), probe, [layer] if layer else [])
            features = None
            if layer:
                features = as_numpy(state.outputs[layer])
                features = features if layout is None else layout.to_map(features)
            return as_numpy(self._output(state)), as_numpy(self._scores(state, probe, score)), features

    def _image_shape_of_map(self, layer: str, layout: LayerLayout | None, map_shape: tuple[int, ...]
                            ) -> tuple[int, ...]:
        """The image shape for which ``layer`` outputs maps of ``map_shape`` ``(h, w, C)`` (as ``layout`` reads it)."""
        if layout is not None:
            return self.view.image_shape_for(layer, layout.raw_shape)
        for (name, raw), image_shape in list(self.view._image_shapes.items()):
            if name == layer:
                found = self.view.describe(image_shape).layer(layer)
                read = raw if found is None or found.layout is None else (*found.layout.grid, found.layout.channels)
                if tuple(read) == tuple(map_shape):
                    return image_shape
        raise LayerError(f"layer {layer!r} was never seen to output per-image maps of shape {tuple(map_shape)}; "
                         "describe the model with the images first")

    def head_scores(self, features: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                    layout: LayerLayout | None = None) -> np.ndarray:
        """Scores ``(B,)`` of explicit classes ``t`` from ``layer``'s maps ``features`` ``(B, h, w, C)``."""
        view = self.view
        image_shape = self._image_shape_of_map(layer, layout, tuple(int(s) for s in features.shape[1:]))
        layout = self._layout(layer, layout, image_shape)
        raw = features if layout is None else layout.from_map(features, "Ablation-CAM")
        probe = view.probe(image_shape)
        view.check_head(layer)  # once per layer: a layer another path bypasses is refused
        with view.running(grad=False):
            a = self._tensor(raw).to(view.dtype).contiguous()
            scores = self._scores(view.run_head(layer, a, probe, image_shape), probe, score)
            return as_numpy(scores.gather(1, self._index(t)[:, None])[:, 0])

    def check_head(self, layer: str) -> None:
        self.view.check_head(layer)

    # ----------------------------------------------------------------- attention
    def attention(self, x: np.ndarray, t: np.ndarray, score: str, *, grad: bool
                  ) -> tuple[list[np.ndarray], list[np.ndarray] | None, np.ndarray, np.ndarray]:
        """Each block's attention weights (and the score's gradients at them), captured by :mod:`.attention`."""
        view = self.view
        probe = self._probe(x)
        found = attention_modules(view.modules, view.name)
        with view.running(grad=grad):
            state = PassState()
            with capture_attention(view.model, view.modules, found, state) as names, \
                    view.hooks(state, final=probe.final if probe.logit_is_input else None):
                state.outputs["__output__"] = view.model(self._images(x))
            missing = [n for n in names if "attention:" + n not in state.outputs]
            if missing:
                raise ModelError(f"attention module(s) {', '.join(map(repr, missing))} of model {view.name!r} did not "
                                 "run in the forward pass")
            weights = [state.outputs["attention:" + n] for n in names]
            s, t_used = self._selected(state, probe, self._index(t), score)
            grads = list(torch.autograd.grad(s.sum(), weights)) if grad else None
            return ([as_numpy(w) for w in weights], None if grads is None else [as_numpy(g) for g in grads],
                    as_numpy(self._output(state)), t_used.cpu().numpy().astype(np.int32))


    # ----------------------------------------------------------------- floor
    def pass_loop(self, plan: Any, x: np.ndarray, t: np.ndarray, iters: int, *, serial: bool = False) -> None:
        """``iters`` passes of ``plan.kind`` on batch ``x``, one Python call each (PyTorch runs eagerly).

        Each pass waits for the previous one's result (a CUDA sync through ``.item()``),
        so ``serial`` changes nothing; the input is nudged by ``1e-7 * i``.
        """
        view, probe = self.view, None
        targets = self._index(np.asarray(t)[:, :plan.k])
        for i in range(int(iters)):
            xi = self._tensor(x) + 1e-7 * i
            if plan.kind == "head_forward_backward" and plan.layer is not None:
                image_shape = self._image_shape_of_map(plan.layer, None, tuple(int(s) for s in x.shape[1:]))
                probe = self._probe(np.zeros((1, *image_shape), np.float32))
                layout = self._layout(plan.layer, None, image_shape)
                with view.running(grad=True):
                    a = (xi if layout is None else _from_map(xi, layout)).contiguous().requires_grad_(True)
                    state = view.run_head(plan.layer, a, probe, image_shape)
                    scores = self._scores(state, probe, plan.score)
                    total = sum(torch.autograd.grad(scores.gather(1, targets[:, j:j + 1]).sum(), a,
                                                    retain_graph=j < plan.k - 1)[0].sum() for j in range(plan.k))
                total.item()
                continue
            probe = probe or self._probe(x)
            grad = plan.kind != "forward"
            with view.running(grad=grad):
                if plan.kind == "forward_backward_layer":
                    state = self._run(xi, probe, (plan.layer,), grad=True)
                    wrt = state.outputs[plan.layer]
                else:
                    xi = xi.requires_grad_(grad)
                    state = self._run(xi, probe)
                    wrt = xi
                s = self._scores(state, probe, plan.score).gather(1, targets[:, :1])[:, 0].sum()
                (torch.autograd.grad(s, wrt)[0].sum() if grad else s).item()


def function_scores(fn: Any, out: torch.Tensor) -> torch.Tensor:
    """``fn(out)``, checked: ``(B,)`` floats, differentiable when the pass records gradients."""
    value = fn(out)
    check_score_values(fn, value, int(out.shape[0]))
    if not isinstance(value, torch.Tensor):
        raise not_differentiable_error(fn, f"a {type(value).__module__}.{type(value).__qualname__}, not a torch.Tensor")
    if torch.is_grad_enabled() and out.requires_grad and not value.requires_grad:
        raise not_differentiable_error(fn, f"a tensor of shape {tuple(value.shape)} detached from the graph")
    return value.float()


def _from_map(maps: torch.Tensor, layout: LayerLayout) -> torch.Tensor:
    """Maps ``(N, h, w, C)`` -> the layer's own layout (differentiable; :meth:`LayerLayout.from_map` on tensors)."""
    layout.check_writable("a method running the model above the layer")
    if layout.kind == "channels_first":
        return maps.permute(0, 3, 1, 2)
    if layout.kind == "channels_last":
        return maps
    return maps.reshape(maps.shape[0], layout.locations, layout.channels)
