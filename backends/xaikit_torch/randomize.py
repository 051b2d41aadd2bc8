"""PyTorch implementation of :class:`xaikit.metrics.Randomizer` for the parameter
randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018).

>>> from xaikit.metrics import cascading_randomisation               # doctest: +SKIP
>>> from xaikit_torch.randomize import TorchRandomizer                # doctest: +SKIP
>>> result = cascading_randomisation(explain_fn, TorchRandomizer(model), images, targets)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.errors import LayerError, ModelError

__all__ = ["TorchRandomizer"]


class TorchRandomizer:
    """Re-initialise modules of a PyTorch model in place, and restore them.

    A randomised module is re-initialised by its own ``reset_parameters()`` (what its
    constructor ran: Kaiming-uniform convolutions and linear layers, BatchNorm back to
    ``weight = 1, bias = 0`` and fresh running statistics, ...), seeded. The seed is
    applied inside :func:`torch.random.fork_rng`, so torch's global random state is the
    same afterwards (another thread drawing from it *during* the call would see the
    seeded stream). A module without ``reset_parameters`` (a custom layer) gets seeded
    normal values :math:`\\mathcal N(0, \\sigma^2)` with :math:`\\sigma` the standard
    deviation of each original tensor. The original parameters and buffers (its children's
    too, which a ``reset_parameters`` may reset) are copied the first time a module is
    randomised and copied back bit-exactly by :meth:`restore` (also on leaving a ``with``
    block).

    Parameters
    ----------
    model : torch.nn.Module
        Modified in place: explain with the same object.

    Attributes
    ----------
    initializers_used : dict
        module path -> {tensor name: what drew it} for the modules randomised since the
        last :meth:`restore`.
    """

    def __init__(self, model: Any) -> None:
        if not isinstance(model, nn.Module):
            raise ModelError(f"TorchRandomizer needs a torch.nn.Module; got {type(model).__name__}.")
        self.model = model
        self._by_name = {name: module for name, module in model.named_modules()
                         if name and next(iter(_own_tensors(module)), None) is not None}
        self._originals: dict[str, dict[str, torch.Tensor]] = {}
        self.initializers_used: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------ Randomizer API
    def layers(self) -> list[str]:
        """Paths of the modules with their own parameters, top (output side, last registered) first."""
        return [name for name, module in reversed(self._by_name.items())
                if any(True for _ in module.parameters(recurse=False))]

    def randomize(self, layer: str, seed: int) -> None:
        """Re-initialise ``layer``'s parameters (and buffers) with its own initialisation, seeded by ``seed``."""
        module = self._module(layer)
        tensors = dict(_own_tensors(module))
        if layer not in self._originals:  # its children too: a module's reset_parameters may reset them
            self._originals[layer] = {name: t.detach().clone() for name, t in _own_tensors(module, recurse=True)}
        devices = sorted({t.device.index or 0 for t in tensors.values() if t.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            state = int(np.random.SeedSequence([int(seed)]).generate_state(1)[0])
            torch.random.default_generator.manual_seed(state)  # not torch.manual_seed: it would queue CUDA seeds
            for index in devices:
                torch.cuda.default_generators[index].manual_seed(state)
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                used = {name: f"{type(module).__name__}.reset_parameters" for name in tensors}
            else:
                used = {}
                for j, (name, tensor) in enumerate(tensors.items()):
                    if not tensor.is_floating_point():
                        continue
                    original = self._originals[layer][name]
                    std = float(original.double().std()) if original.numel() > 1 else 0.0
                    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + j)
                    values = torch.randn(tensor.shape, generator=generator, dtype=torch.float64) * std
                    tensor.copy_(values.to(dtype=tensor.dtype, device=tensor.device))
                    used[name] = f"seeded normal(0, {std:.4g})"
        self.initializers_used[layer] = used

    def restore(self) -> None:
        """Put back the original parameters and buffers of every module randomised so far (bit-exact)."""
        with torch.no_grad():
            for layer, originals in list(self._originals.items()):
                tensors = dict(_own_tensors(self._by_name[layer], recurse=True))
                for name, value in originals.items():
                    tensors[name].copy_(value)
                del self._originals[layer]
        self.initializers_used.clear()

    def __enter__(self) -> TorchRandomizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def _module(self, name: str) -> nn.Module:
        module = self._by_name.get(name)
        if module is None or name not in self.layers():
            raise LayerError(f"no module with parameters named {name!r}; the modules with parameters are, top first: "
                             f"{', '.join(self.layers())}")
        return module


def _own_tensors(module: nn.Module, recurse: bool = False) -> list[tuple[str, torch.Tensor]]:
    """The module's own parameters and buffers (and its children's with ``recurse``)."""
    return [*module.named_parameters(recurse=recurse), *module.named_buffers(recurse=recurse)]
