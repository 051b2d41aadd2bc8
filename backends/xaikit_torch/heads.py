"""The model above a layer of a ``torch.nn.Module`` (a mixin of :class:`~._torch.TorchModelView`).

The rest of an ``nn.Sequential`` chain, or, for any other architecture, a forward pass
whose hook *replaces* the layer's output by the given activations (checked once per
layer: the output must depend on the input only through that layer).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xaikit.errors import LayerError

from .passes import PassState, check_layer_calls, grad_mode_kept
from .shape_probe import ShapeProbe

__all__ = ["Heads"]


class Heads:
    """Running the model above a layer; the view sets ``_heads``, ``_one_row_below`` and ``_probes`` and gives
    ``model``, ``name``, ``device``, ``dtype``, ``module``, ``running``, ``hooks`` and ``call``."""

    _heads: dict[str, tuple[nn.Module, ...] | None]
    _one_row_below: dict[str, bool]
    _probes: dict[tuple[int, ...], ShapeProbe]
    model: Any
    name: str

    def sequential_rest(self, layer: str) -> tuple[nn.Module, ...] | None:
        """The modules that run after ``layer`` when every module above it is a plain ``nn.Sequential``.

        ``None`` when the model is not such a chain (then :meth:`run_head` replaces the
        layer's output in a full forward pass).
        """
        if layer in self._heads:
            return self._heads[layer]
        parts = layer.split(".")
        chain: list[tuple[nn.Module, str]] = []
        container: nn.Module = self.model
        rest: tuple[nn.Module, ...] | None = ()
        for part in parts:
            if not (isinstance(container, nn.Sequential) and type(container).forward is nn.Sequential.forward):
                rest = None
                break
            chain.append((container, part))
            container = container._modules[part]
        if rest is not None:
            collected: list[nn.Module] = []
            for parent, part in reversed(chain):
                names = list(parent._modules)
                collected += [parent._modules[n] for n in names[names.index(part) + 1:]]
            rest = tuple(collected)
        self._heads[layer] = rest
        return rest

    def check_head(self, layer: str) -> None:
        """Raise :class:`LayerError` unless the output depends on the input only through ``layer``.

        A chain of ``nn.Sequential`` is cut by any of its children. Otherwise the output
        is computed with the layer's output replaced by a tensor requiring grad and the
        input requiring grad too: if autograd links the output to the input, another path
        bypasses the layer (a residual connection) and the part above it cannot be run
        on activations alone.
        """
        self.module(layer)
        if layer in self._one_row_below or self.sequential_rest(layer) is not None:
            return  # checked before, or a chain
        described = [(shape, probe) for shape, probe in self._probes.items() if probe.calls.get(layer)]
        if not described:
            raise LayerError(f"layer {layer!r} did not run when model {self.name!r} was described with images; pick a "
                             "module on the path from input to output")
        image_shape, probe = described[-1]
        shape = probe.shapes.get(layer)
        if probe.calls[layer] != 1 or shape is None:
            raise LayerError(f"layer {layer!r} ran {probe.calls[layer]} times in one forward pass or returns no single "
                             "tensor; methods that feed activations at a layer need a layer that runs once")
        with self.running(grad=True):
            x = torch.zeros((1, *image_shape), device=self.device, dtype=self.dtype, requires_grad=True)
            a = torch.zeros((1, *shape), device=self.device, dtype=self.dtype, requires_grad=True)
            state = PassState()
            with self.hooks(state, replace=(layer, a), grad=True):
                out = self.call(x)
            linked = torch.autograd.grad(out.sum(), [x, a], allow_unused=True)
        if linked[0] is not None:
            raise LayerError(f"the model above layer {layer!r} cannot be computed from that layer's output alone "
                             "(another path bypasses it, e.g. a residual connection). Pick a layer that cuts the "
                             "network in two, such as a block output.")
        if linked[1] is None:
            raise LayerError(f"the output of model {self.name!r} does not depend on layer {layer!r}")
        self._one_row_below[layer] = self._one_row_suffices(layer, shape, image_shape)

    def _one_row_suffices(self, layer: str, shape: tuple[int, ...], image_shape: tuple[int, ...]) -> bool:
        """Whether the part below ``layer`` may run on one zero image whatever the batch above it.

        Checked once per layer: the head's outputs for two different rows of activations
        must be the same with one and with two zero images below (a model that reads the
        batch size at its input and reshapes with it above the layer fails this, and then
        runs the full batch below).
        """
        generator = torch.Generator().manual_seed(0)  # not the global RNG
        rows = torch.randn((2, *shape), generator=generator).to(device=self.device, dtype=self.dtype)
        try:
            with self.running(grad=False):
                full = self._replaced_pass(layer, rows, image_shape, 2, None).outputs["__output__"]
                small = self._replaced_pass(layer, rows, image_shape, 1, None).outputs["__output__"]
            return bool(small.shape == full.shape and torch.allclose(small, full, rtol=1e-5, atol=1e-6))
        except (RuntimeError, ValueError, TypeError, IndexError):
            return False

    def _replaced_pass(self, layer: str, a: torch.Tensor, image_shape: tuple[int, ...], rows: int,
                       final: str | None) -> PassState:
        state = PassState()
        grad = torch.is_grad_enabled()
        with grad_mode_kept():
            torch.set_grad_enabled(False)  # the part below the layer builds no graph
            with self.hooks(state, replace=(layer, a), grad=grad, final=final):
                x = torch.zeros((rows, *image_shape), device=a.device, dtype=self.dtype)
                state.outputs["__output__"] = self.call(x)
        check_layer_calls(state, [layer])
        return state

    def run_head(self, layer: str, a: torch.Tensor, probe: ShapeProbe, image_shape: tuple[int, ...]) -> PassState:
        """The model above ``layer`` on activations ``a`` (channels first), recording the logit.

        ``nn.Sequential`` chains run the modules after the layer. Any other model runs a
        forward pass on zero images in which a hook replaces the layer's output by ``a``
        (:meth:`check_head` made sure the output does not depend on those images). The
        part below the layer runs without autograd, on one image when
        :meth:`check_head` found that enough (else on as many as ``a`` has rows): its
        cost is then one image's pass through that part per call, not the batch's.
        """
        rest = self.sequential_rest(layer)
        final = probe.final if probe.logit_is_input else None
        if rest is None:
            rows = 1 if self._one_row_below.get(layer) else a.shape[0]
            return self._replaced_pass(layer, a, image_shape, rows, final)
        state = PassState()
        with self.hooks(state, final=final):
            out = a
            for module in rest:
                out = module(out)
        state.outputs["__output__"] = out
        return state
