"""What one described forward pass of a ``torch.nn.Module`` found out (:class:`ShapeProbe`), and what counts as a
module's input coming from the image (:func:`holds_tensor`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ShapeProbe", "holds_tensor"]


def holds_tensor(values: tuple[Any, ...]) -> bool:
    """Whether a module's call arguments hold a tensor (directly or in a tuple, list or dict)."""
    for value in values:
        if isinstance(value, torch.Tensor):
            return True
        if isinstance(value, (tuple, list)) and holds_tensor(tuple(value)):
            return True
        if isinstance(value, dict) and holds_tensor(tuple(value.values())):
            return True
    return False


@dataclass(frozen=True)
class ShapeProbe:
    """What one described forward pass found out (per image shape)."""

    shapes: dict[str, tuple[int, ...] | None]
    calls: dict[str, int]
    order: tuple[str, ...]
    n_outputs: int
    final: str | None
    output_activation: str
    logit_is_input: bool
    log_probabilities: bool
    output_shape: tuple[int, ...] | None = None  # one image's output when it is not (K,) class scores
