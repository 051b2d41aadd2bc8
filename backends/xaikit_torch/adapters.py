"""What the adapters of PyTorch libraries (Captum, pytorch-grad-cam, shap) share with the native backend.

This is the public face of :mod:`xaikit_torch` for adapters: they describe a model,
predict, and build the differentiable class scores they hand to their library through
these names only, so every backend validates and describes a PyTorch module the same
way as the native one, and explains the same scores.

- :class:`TorchModelMixin`: the :class:`~xaikit.Explainer` hooks ``_describe`` and
  ``_predict`` of an ``nn.Module`` (the native engine's).
- :class:`ScoreModel`: ``model`` as an ``nn.Module`` returning xaikit's class scores
  ``(N, n_classes)`` -- the logit (the input of a final ``nn.Softmax`` / ``nn.Sigmoid``),
  the probability, or the output as it is; a single-output (binary) model gives two
  columns, ``[-z, z]`` or ``[1 - p, p]``, so classes 0 and 1 are both explainable, as
  everywhere in xaikit.
- :func:`function_scores`: a score function (:mod:`xaikit.targets`) applied to a raw
  output, checked as the native engine checks it (shape, floats, differentiable).
- :class:`HeadModel`: the part of ``model`` above a layer, as an ``nn.Module`` taking the
  layer's (channels-first) activations and returning the class scores.
- :func:`library_call`: eval mode for one library call (every module's ``training`` flag
  restored afterwards), autograd on, the parameters' ``.grad`` put back as they were,
  and the call serialised per model (libraries install hooks on the shared modules,
  which, unlike xaikit's, act in every thread).
- :func:`seeded`: torch's and NumPy's global generators seeded for a library that draws
  from them, and both put back afterwards; one such call at a time in the process.
- :func:`reshape_transform` and :func:`layer_map`: a layer's output as the channels-first
  map ``(N, C, h, w)`` libraries expect, read with the layer's
  :class:`~xaikit.layer_layout.LayerLayout` (channels-last, tokens with the class token
  dropped): pytorch-grad-cam's ``reshape_transform``, and, for libraries without one
  (Captum), a module that outputs the map inside the forward pass.
- :func:`library_seeds`: one seed per image, keyed by the explanation's seed and the
  image's content (:mod:`xaikit.kernels.rng`), for libraries whose draws for an image
  would otherwise depend on the rest of the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.kernels import GLOBAL_RNG_LOCK, chunks, image_seeds
from xaikit.layer_layout import LayerLayout
from xaikit.spec import ModelSpec

from ._torch import as_numpy
from .engine import TorchEngine, engine_for, function_scores, versions
from .passes import PassState, pass_gate
from .views import model_view

__all__ = ["HeadModel", "LayerMap", "ScoreModel", "TorchModelMixin", "as_numpy", "function_scores", "layer_map",
           "library_call", "library_score", "library_seeds", "module_of", "reshape_transform", "seeded", "to_tensor",
           "versions"]


class TorchModelMixin:
    """The Explainer hooks of a PyTorch model: its description and its outputs, as the native backend gives them."""

    model: Any

    def _describe(self, images: np.ndarray) -> ModelSpec:
        return engine_for(self.model).describe(tuple(int(s) for s in images.shape[1:]))

    def _describe_static(self) -> ModelSpec:
        return engine_for(self.model).describe(None)

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        engine = engine_for(self.model)
        return np.concatenate([engine.predict(images[s]) for s in chunks(len(images), batch_size)])

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        """A module object of the model is taken by its path (as the native backend takes it)."""
        return super()._resolve_layer(model_view(self.model).layer_name(layer), spec, images)  # type: ignore[misc]

    def _class_scores(self, images: np.ndarray, score: str, batch_size: int) -> np.ndarray:
        """``(N, n_classes)`` scores (binary models: two columns), ``batch_size`` images per pass."""
        engine = engine_for(self.model)
        return np.concatenate([engine.class_scores(images[s], score) for s in chunks(len(images), batch_size)])


def library_score(spec: ModelSpec) -> str:
    """What a PyTorch library explains when handed the model: its output as it is, named as xaikit names it.

    ``"probability"`` for a model ending in ``nn.Softmax`` / ``nn.Sigmoid`` (or
    ``nn.LogSoftmax``, whose ``exp`` is the probability: the library then differentiates
    the log-probability, which xaikit has no name for; see the adapters' pages),
    ``"logit"`` for a model returning logits (no final activation, the usual PyTorch
    classifier: its output *is* the logit), ``"output"`` when xaikit cannot tell.
    """
    if spec.output_activation in ("softmax", "sigmoid"):
        return "probability"
    return "logit" if spec.output_activation == "linear" and not spec.no_logit else "output"


def module_of(model: nn.Module, layer: str) -> nn.Module:
    """The module of ``model`` at path ``layer`` (:class:`~xaikit.LayerError` naming the modules if none)."""
    return model_view(model).module(layer)


def _to_grid(output: torch.Tensor, layout: LayerLayout) -> torch.Tensor:
    """A layer's output ``(N, *raw)`` -> its map channels first ``(N, C, h, w)`` (differentiable)."""
    if layout.kind == "channels_first":
        return output
    if layout.kind == "channels_last":
        return output.permute(0, 3, 1, 2)
    h, w = layout.grid
    return output[:, layout.prefix:].reshape(output.shape[0], h, w, layout.channels).permute(0, 3, 1, 2)


def reshape_transform(layout: LayerLayout) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """pytorch-grad-cam's ``reshape_transform`` for a layer of this layout (None for a channels-first layer).

    The function people write for ViT and Swin: tokens -> drop the first ``K`` (class,
    distillation, register tokens), the rest as the ``h x w`` grid, channels first; a
    channels-last ``(N, h, w, C)`` output permuted to ``(N, C, h, w)``.
    """
    if layout.kind == "channels_first":
        return None

    def transform(tensor: torch.Tensor) -> torch.Tensor:
        return _to_grid(tensor, layout)

    return transform


class LayerMap(nn.Module):
    """The identity on a layer's map ``(N, C, h, w)``: hooked by a library as the layer (see :func:`layer_map`)."""

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return grid.clone()


@contextlib.contextmanager
def layer_map(model: nn.Module, layer: str, layout: LayerLayout) -> Iterator[nn.Module]:
    """A module whose output is ``layer``'s map, channels first, for a library that hooks a module's output.

    A channels-first layer is its own module. Otherwise, while the block is open, a
    forward hook on the layer passes its map through a :class:`LayerMap` and rebuilds the
    layer's output from that module's output (the dropped tokens put back in front), so
    the model computes the same values and the library's hooks on the yielded module see
    the map and its gradient. Use it inside :func:`library_call` (the hook acts in every
    thread).
    """
    module = module_of(model, layer)
    if layout.kind == "channels_first":
        yield module
        return
    target = LayerMap()

    def hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        grid = target(_to_grid(output, layout))
        if layout.kind == "channels_last":
            return grid.permute(0, 2, 3, 1)
        tokens = grid.flatten(2).transpose(1, 2)
        return torch.cat([output[:, :layout.prefix], tokens], dim=1) if layout.prefix else tokens

    handle = module.register_forward_hook(hook)
    try:
        yield target
    finally:
        handle.remove()


def to_tensor(images: np.ndarray, model: nn.Module) -> torch.Tensor:
    """A NumPy batch as a tensor on the model's device, in the model's floating dtype (a copy)."""
    view = model_view(model)
    return torch.from_numpy(np.array(images, copy=True)).to(device=view.device, dtype=view.dtype)


class ScoreModel(nn.Module):
    """``model`` returning xaikit's class scores ``(N, n_classes)`` for ``score``; differentiable.

    Every pass runs in eval mode (BatchNorm reads its running statistics and does not
    update them, Dropout is off), the modules' ``training`` flags put back afterwards, as
    for the native backend's passes.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (a child of this module: libraries that walk ``modules()``, such
        as Captum's guided backpropagation, reach its ReLUs).
    score : {"logit", "probability", "output"}, callable or None
        A resolved score (:func:`xaikit.spec.resolve_score`), or a score function
        (:mod:`xaikit.targets`: one column). ``None``: the model's raw output, unchanged
        (for a library applying its own targets to it).
    image_shape : tuple of int
        ``(C, H, W)`` of the images; the model is described for it now, so that no probe
        pass runs later while a library's hooks are attached.
    column : int or None
        Return only this class's score, as ``(N, 1)`` (for a library that would otherwise
        differentiate every output).
    """

    def __init__(self, model: nn.Module, score: str, image_shape: tuple[int, ...], column: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.score = score
        self.column = column
        self.image_shape = tuple(int(s) for s in image_shape)
        self._view = model_view(model)  # kept: a library may swap a module in for the call (pytorch-grad-cam)
        self._probe = self._view.probe(self.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        view = self._view
        shape = tuple(int(s) for s in x.shape[1:])
        probe = self._probe if shape == self.image_shape else view.probe(shape)
        state = PassState()
        with view.eval_scope, view.hooks(state, final=probe.final if probe.logit_is_input else None):
            state.outputs["__output__"] = view.call(x.to(view.dtype))
        if self.score is None:
            return state.outputs["__output__"]
        return _column(TorchEngine._scores(state, probe, self.score), self.column)


class HeadModel(nn.Module):
    """The part of ``model`` above ``layer``: channels-first activations -> class scores ``(N, n_classes)``.

    ``nn.Sequential`` chains run the modules after the layer; any other model runs with
    the layer's output replaced (:meth:`xaikit_torch._torch.TorchModelView.run_head`).
    A layer that another path bypasses (a residual connection) raises
    :class:`~xaikit.LayerError` here. ``column``: as for :class:`ScoreModel`.
    """

    def __init__(self, model: nn.Module, layer: str, score: str, image_shape: tuple[int, ...],
                 column: int | None = None) -> None:
        super().__init__()
        view = model_view(model)
        self.column = column
        self.model = model
        self.layer = layer
        self.score = score
        self.image_shape = tuple(int(s) for s in image_shape)
        self._view = view
        self._probe = view.probe(self.image_shape)
        view.check_head(layer)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        view = self._view
        with view.eval_scope:
            state = view.run_head(self.layer, a.to(view.dtype), self._probe, self.image_shape)
        return _column(TorchEngine._scores(state, self._probe, self.score), self.column)


def _column(scores: torch.Tensor, column: int | None) -> torch.Tensor:
    return scores if column is None else scores[:, column:column + 1]


@contextlib.contextmanager
def library_call(model: nn.Module) -> Iterator[None]:
    """One call of a library on ``model``: the model alone, eval mode, autograd on, ``.grad`` kept.

    Libraries attach their hooks to the model's own modules (Captum's layer and ReLU
    hooks, pytorch-grad-cam's activation hooks, its ablation layer swapped into the
    model), and those hooks act in every thread: while the call runs, no other pass runs
    on the model -- other library calls and xaikit's own passes on it (which share the
    model with each other) wait (:class:`xaikit_torch.passes.PassGate`). pytorch-grad-cam
    also calls ``model.eval()`` and ``loss.backward()`` (which writes every parameter's
    ``.grad``): the ``training`` flags and each parameter's ``.grad`` are put back
    afterwards, so the user's model is left as it was.
    """
    view = model_view(model)
    with pass_gate(model).exclusive():
        saved = [(p, p.grad) for p in model.parameters()]
        try:
            with view.running(grad=True):
                yield
        finally:
            for p, grad in saved:
                p.grad = grad


@contextlib.contextmanager
def seeded(seed: int, model: nn.Module) -> Iterator[None]:
    """Seed torch's and NumPy's *global* generators for a library that draws from them; restore both after.

    Captum draws noise with ``torch.normal`` and coefficients with ``np.random``, shap's
    PyTorch explainer with both: inside this block they see ``torch.manual_seed(seed)``
    and ``np.random.seed(seed)``, and the caller's streams continue afterwards as if
    nothing had been drawn (``torch.random.fork_rng`` for the CPU and the model's CUDA
    device, NumPy's state saved and set back). The block holds a process-wide lock: a
    global stream cannot serve two seeded calls at once.
    """
    device = model_view(model).device
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with GLOBAL_RNG_LOCK:
        state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(seed))
                np.random.seed(int(seed) % 2**32)
                yield
        finally:
            np.random.set_state(state)


def library_seeds(seed: int, images: np.ndarray, layout: str = "NCHW") -> list[int]:
    """One seed in ``[0, 2**63)`` per image, keyed by ``seed`` and the image's content (channels-last bytes).

    An image's seed does not depend on its position or on the other images, so a library
    called once per image with it gives the image the same draws whatever the batch.
    """

    return image_seeds(seed, images, layout)
