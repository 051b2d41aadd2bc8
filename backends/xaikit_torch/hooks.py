"""The forward hooks of one pass on a shared ``torch.nn.Module``: what it records, replaces and modifies.

Each hook acts only in the thread that installed it (:class:`.passes.PassState`), and
every hook is removed in a ``finally`` (:func:`pass_hooks`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from xaikit.errors import LayerError

from .passes import OutOfPlaceActivations, PassState

__all__ = ["ModifiedReLU", "pass_hooks"]


class ModifiedReLU(torch.autograd.Function):
    """ReLU whose backward pass is guided backpropagation's or the deconvnet's."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, guided: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        ctx.guided = guided
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        out = grad.clamp(min=0)  # positive gradients only (both rules)
        if ctx.guided:
            out = out * (z > 0).to(out.dtype)  # ... at positive inputs only
        return out, None


@contextlib.contextmanager
def pass_hooks(modules: dict[str, nn.Module], out_of_place: OutOfPlaceActivations,
               hookable: Callable[[str], nn.Module], state: PassState, capture: Sequence[str] = (), *,
               grad: bool = False, replace: tuple[str, torch.Tensor] | None = None, final: str | None = None,
               relu_rule: str | None = None) -> Iterator[PassState]:
    """Forward hooks for one pass, removed on leaving (also on errors).

    ``modules`` are the model's modules by path, ``out_of_place`` its in-place activations'
    switch and ``hookable`` the module of a path that hooks can reach (else a :class:`LayerError`).

    ``capture``: record these modules' outputs in ``state.outputs`` (a copy; with
    ``grad`` a leaf requiring grad, of which another copy goes on through the model,
    and autograd is switched on from there: the part below the layer builds no
    graph). ``replace``: the module's output becomes the given tensor (autograd on
    from there). ``final``: the module whose input is the logit. ``relu_rule``
    (``"guided"``, ``"deconvnet"``): every ``nn.ReLU`` module's output is recomputed
    from its input by a function with that backward pass (in-place ReLUs are run out
    of place meanwhile, so their input survives); a functional ``F.relu`` inside a
    ``forward`` cannot be reached and keeps its gradient (Captum has the same limit).
    """
    handles = []

    def capturing(name: str) -> Callable[..., Any]:
        def hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not state.mine():
                return None
            state.calls[name] = state.calls.get(name, 0) + 1
            if not isinstance(output, torch.Tensor):
                raise LayerError(f"layer {name!r} returns a {type(output).__name__}, not a tensor; pick a module "
                                 "that returns one tensor")
            copy = output.detach().clone()
            if not grad:
                state.outputs[name] = copy
                return None
            torch.set_grad_enabled(True)
            state.outputs[name] = copy.requires_grad_(True)
            return copy.clone()
        return hook

    def replacing(name: str, value: torch.Tensor) -> Callable[..., Any]:
        def hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if not state.mine():
                return None
            state.calls[name] = state.calls.get(name, 0) + 1
            torch.set_grad_enabled(grad)
            return value.clone()
        return hook

    def logit(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if state.mine():
            state.logits = inputs[0]

    def modified_relu(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        if not state.mine():
            return None
        return ModifiedReLU.apply(inputs[0], relu_rule == "guided")

    try:
        if relu_rule is not None:
            for module in modules.values():
                if isinstance(module, nn.ReLU):
                    handles.append(module.register_forward_hook(modified_relu))
            handles.append(out_of_place.relus())
        if final is not None:
            handles.append(modules[final].register_forward_hook(logit))
        for name in capture:
            handles.append(hookable(name).register_forward_hook(capturing(name)))
        if replace is not None:
            handles.append(hookable(replace[0]).register_forward_hook(replacing(*replace)))
        yield state
    finally:
        for handle in handles:
            handle.remove()
