"""A PyTorch model whose first layer absorbs a constant shift of its input (Kindermans et al. 2019).

The input invariance check (:func:`xaikit.input_invariance_check`) explains a model
:math:`f_1` on :math:`x` and a second model :math:`f_2` on :math:`x + m`, where :math:`f_2`
is a copy of :math:`f_1` with the first layer's bias :math:`b_2 = b_1 - m\\,W\\mathbf 1`, so
that :math:`f_2(x + m) = f_1(x)` exactly.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.errors import ModelError

__all__ = ["first_layer", "shift_input"]

_SHIFTABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def first_layer(model: nn.Module, images: Any) -> tuple[str, nn.Module]:
    """The name and module of the first module with parameters that a forward pass of one image calls."""
    called: list[tuple[str, nn.Module]] = []
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            handles.append(module.register_forward_pre_hook(
                lambda mod, args, name=name: called.append((name, mod)) if not called else None))
    try:
        reference = next(iter(model.parameters()), None)
        x = torch.as_tensor(np.asarray(images[:1]), dtype=reference.dtype if reference is not None else None,
                            device=reference.device if reference is not None else None)
        with torch.no_grad():
            model(x.clone())  # a private copy: the tensor shares the caller's images' memory
    finally:
        for handle in handles:
            handle.remove()
    if not called:
        raise ModelError("the model called no module with parameters on an image, so there is no first layer whose "
                         "bias could absorb a shift of the input")
    return called[0]


def shift_input(model: nn.Module, shift: float, images: Any) -> nn.Module:
    """A deep copy of ``model`` whose first layer's bias absorbs the input shift ``shift``.

    The first layer (:func:`first_layer`) must be a ``Linear`` or a ``Conv1d/2d/3d``
    without zero padding (``padding=0``, or a ``padding_mode`` of ``"reflect"``,
    ``"replicate"`` or ``"circular"``, which pad with shifted values too): with zero
    padding the border positions see part of the shift and no bias can compensate it.
    A layer without a bias gets one (zeros, then compensated).

    Raises
    ------
    ModelError
        A first layer of another kind or with zero padding (the message names it).
    """
    work = copy.deepcopy(model)
    name, layer = first_layer(work, images)
    if not isinstance(layer, _SHIFTABLE):
        raise ModelError(f"the first layer with weights, {name!r}, is a {type(layer).__name__}; the input shift can be "
                         "absorbed only by a Linear or Conv1d/2d/3d first layer's bias")
    if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        pads = layer.padding if isinstance(layer.padding, str) else ("valid" if not any(layer.padding) else "some")
        if pads != "valid" and layer.padding_mode == "zeros":
            raise ModelError(f"the first layer {name!r} pads with zeros (padding={layer.padding!r}): its border "
                             "outputs see only part of a shifted input, so no bias can compensate the shift exactly. "
                             "Check a model whose first convolution has padding=0 or padding_mode='replicate' / "
                             "'reflect' / 'circular'")
    with torch.no_grad():
        weight = layer.weight
        if layer.bias is None:
            layer.bias = nn.Parameter(torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device))
        absorbed = weight.double().sum(dim=tuple(range(1, weight.ndim))) * float(shift)
        layer.bias.copy_((layer.bias.double() - absorbed).to(layer.bias.dtype))
    return work
