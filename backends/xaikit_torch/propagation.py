"""Modified backward passes of DeepLift (rescale rule) and LRP (epsilon and gamma rules) on a ``torch.nn.Module``.

Both change the backward pass only, module by module, through forward hooks that
replace a module's output by a tensor of the same value whose gradient follows the rule
(:func:`propagation_hooks`; the hooks act in the thread that installed them only).

**DeepLift** (Shrikumar et al. 2017, the rescale rule as Captum's ``DeepLift``
computes it). The batch holds the images and then their references (``2B`` rows, as
Captum runs them). An elementwise activation (ReLU, LeakyReLU, ELU, Sigmoid, Tanh,
Softplus) passes back :math:`g \\cdot (f(z) - f(z_0)) / (z - z_0)`, its gradient where
:math:`|z - z_0| < 10^{-10}`; a max pooling passes back Captum's rule (the output
difference split between the image's and the reference's maxima, divided by the input
difference). Linear modules (convolutions, dense layers, batch norm in eval mode,
average pooling, reshapes, dropout) keep their gradients. Only the images' half of the
batch is differentiated; its multipliers use the references' half.

**LRP** (Bach et al. 2015; Montavon et al. 2019, as Captum's ``LRP``). The relevance
of a module's input is :math:`a \\odot J'^T (R / (z' + \\epsilon\\,\\mathrm{sign}(z')))`;
written as a gradient, a convolution or dense layer (weights :math:`W + \\gamma W^+`
under the gamma rule) passes back :math:`J'^T (g \\odot z / (z' + \\epsilon\\,
\\mathrm{sign}(z')))`, pooling and batch norm the same with :math:`z' = z`; ReLU,
dropout and reshapes keep their gradients (Captum passes the relevance through them
unchanged, which is the same), and the input's relevance is :math:`x \\odot g`.

Modules a rule cannot go through (GELU, LayerNorm, attention, ...) are refused by name
(:func:`check_modules`) rather than differentiated as they are.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xaikit.errors import ModelError
from xaikit.methods.propagation import PropagationRule

__all__ = ["PropagationRule", "check_modules", "propagation_hooks"]

#: Captum's threshold below which an input difference counts as zero (the gradient is passed instead).
RESCALE_EPS = 1e-10

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Softplus)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
              nn.AdaptiveMaxPool3d)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
              nn.AdaptiveAvgPool3d)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
#: Modules that are linear maps of their input (or identities) in eval mode: gradients kept by both rules.
_PASS = (nn.Flatten, nn.Unflatten, nn.Identity, nn.modules.dropout._DropoutNd, nn.ZeroPad2d,
         nn.modules.padding._ConstantPadNd)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)




def _handled(module: nn.Module, rule: PropagationRule) -> bool:
    if isinstance(module, (*_CONVS, nn.Linear, *_AVG_POOLS, *_NORMS, *_PASS, *_MAX_POOLS)):
        return True
    if rule.kind == "rescale":
        return isinstance(module, _ELEMENTWISE)
    return isinstance(module, nn.ReLU)


def check_modules(modules: dict[str, nn.Module], model: str, rule: PropagationRule, skip: str | None,
                  final: str | None = None) -> None:
    """Raise :class:`~xaikit.ModelError` naming the modules ``rule`` cannot go through (``skip``: the final module a
    logit is read before, never reached by the backward pass; ``final``: that module when the score goes through
    it)."""
    if final is not None and skip is None and not _handled(modules[final], rule):
        raise ModelError(f"{rule.name} has no rule for the final {type(modules[final]).__name__} of model {model!r}, "
                         "which the score explained goes through: explain the logit (score='logit'), as the "
                         "method's definition does.")
    bad = []
    for name, module in modules.items():
        if name == skip or isinstance(module, _CONTAINERS) or _handled(module, rule):
            continue
        if next(module.children(), None) is not None and type(module).__module__.startswith("torch.nn.modules"):
            bad.append((name, module))  # a torch module with children (MultiheadAttention, Transformer...)
        elif next(module.children(), None) is None:
            bad.append((name, module))
    if not any(isinstance(m, _ELEMENTWISE if rule.kind == "rescale" else nn.ReLU) for m in modules.values()):
        raise ModelError(f"{rule.name} changes the backward pass of activation modules, and model {model!r} has no "
                         f"{'ReLU-like activation' if rule.kind == 'rescale' else 'nn.ReLU'} module (its "
                         "nonlinearities are functions called inside forward, or others): the result would be a "
                         "plain gradient. Use integrated_gradients or gradient_x_input on this model.")
    if bad:
        shown = ", ".join(f"{n!r} ({type(m).__name__})" for n, m in bad[:6])
        more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
        allowed = ("ReLU, LeakyReLU, ELU, Sigmoid, Tanh, Softplus, max pooling" if rule.kind == "rescale"
                   else "convolutions, Linear, pooling, BatchNorm, ReLU")
        alternative = "integrated_gradients" if rule.kind == "rescale" else "gradient_x_input or deeplift"
        raise ModelError(f"{rule.name} has no rule for module(s) {shown}{more} of model {model!r}: it goes through "
                         f"{allowed}, dropout and reshapes only, and would otherwise take these modules' plain "
                         f"gradients under its name. Use {alternative} on this model.")


# ----------------------------------------------------------------------------- DeepLift
def _plain_vjp(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        zz = z.detach().clone().requires_grad_(True)
        # the scalar <f(z), cotangent>, not grad_outputs=: a first call with grad_outputs imports half of torch (3 s)
        (g,) = torch.autograd.grad((fn(zz) * cotangent).sum(), zz)
    return g


def _divided(numerator: torch.Tensor, plain: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
    """``numerator / dz``, or the plain gradient where the input difference counts as zero (Captum's rule)."""
    small = dz.abs() < RESCALE_EPS
    return torch.where(small, plain, numerator / torch.where(small, torch.ones_like(dz), dz))


class _PairRule(torch.autograd.Function):
    """A module's output kept as computed, its backward pass one of DeepLift's rules on the batch (images, then
    references): subclasses give ``backward``."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor, y: torch.Tensor, fn: Any) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z, y)
        ctx.fn = fn
        return y.detach().clone()


class _Rescale(_PairRule):
    """Elementwise activation with DeepLift's rescale multiplier (the batch: images, then references)."""

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        z, y = ctx.saved_tensors
        half = z.shape[0] // 2
        g = grad[:half]
        new = _divided(g * (y[:half] - y[half:]), _plain_vjp(ctx.fn, z[:half], g), z[:half] - z[half:])
        return torch.cat([new, torch.zeros_like(new)]), None, None


class _RescaleMax(_PairRule):
    """Max pooling with Captum's DeepLift rule: the output difference goes back to the image's maxima (its part above
    the reference's output) and to the reference's maxima (the rest), divided by the input difference."""

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        z, y = ctx.saved_tensors
        half = z.shape[0] // 2
        g = grad[:half]
        y_x, y_0 = y[:half], y[half:]
        top = torch.maximum(y_x, y_0)
        routed = _plain_vjp(ctx.fn, z, torch.cat([g * (top - y_0), g * (y_x - top)]))
        new = _divided(routed[:half] + routed[half:], _plain_vjp(ctx.fn, z[:half], g), z[:half] - z[half:])
        return torch.cat([new, torch.zeros_like(new)]), None, None


# ----------------------------------------------------------------------------- LRP
def _stabilised(z: torch.Tensor, epsilon: float) -> torch.Tensor:
    sign = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))  # sign(0) = 1, as Captum
    return z + epsilon * sign


def _lrp_output(z: torch.Tensor, z_rule: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``z`` in value; gradient ``J'^T (g * z / (z' + eps sign z'))`` through ``z_rule`` (``z'``)."""
    scale = (z / _stabilised(z_rule, epsilon)).detach()
    return z_rule * scale + (z - z_rule * scale).detach()


def _gamma_output(module: nn.Module, a: torch.Tensor, gamma: float) -> torch.Tensor:
    """The module's output with weights ``W + gamma W+`` (bias unchanged)."""
    weight = module.weight + gamma * module.weight.clamp(min=0)
    if isinstance(module, nn.Linear):
        return F.linear(a, weight, module.bias)
    if module.padding_mode != "zeros":
        raise ModelError(f"LRP's gamma rule needs convolutions with zero padding; {module} pads with "
                         f"{module.padding_mode!r}. Use rule='epsilon'.")
    conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(module)]
    return conv(a, weight, module.bias, module.stride, module.padding, module.dilation, module.groups)


# ----------------------------------------------------------------------------- hooks
def _bare(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The module's function without its hooks (for the gradients a rule falls back to)."""
    forward = type(module).forward
    return lambda z: forward(module, z)


@contextlib.contextmanager
def propagation_hooks(modules: dict[str, nn.Module], rule: PropagationRule, skip: str | None) -> Iterator[None]:
    """Give every module the backward pass of ``rule`` for passes run in this thread while inside."""
    owner = threading.get_ident()
    handles = []

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        if threading.get_ident() != owner or not isinstance(output, torch.Tensor):
            return None
        a = inputs[0]
        if rule.kind == "rescale":
            if isinstance(module, _ELEMENTWISE):
                return _Rescale.apply(a, output, _bare(module))
            if isinstance(module, _MAX_POOLS) and rule.max_pool == "rescale":
                return _RescaleMax.apply(a, output, _bare(module))
            return None
        if isinstance(module, (*_CONVS, nn.Linear)):
            z_rule = _gamma_output(module, a, rule.gamma) if rule.gamma else output
            return _lrp_output(output, z_rule, rule.epsilon)
        if isinstance(module, (*_AVG_POOLS, *_MAX_POOLS, *_NORMS)):
            return _lrp_output(output, output, rule.epsilon)
        return None

    try:
        for name, module in modules.items():
            if name != skip and not isinstance(module, _CONTAINERS):
                handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
