"""The few array operations the ready-made targets need, on NumPy, PyTorch and TensorFlow arrays alike.

:func:`array_ops` dispatches on an array's type: a tensor's framework is loaded already when
one reaches it (it made the tensor), so its module is taken from ``sys.modules`` and this
module imports no framework.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["NumpyOps", "TensorFlowOps", "TorchOps", "array_ops", "static_shape"]


class NumpyOps:
    """NumPy's operations (a black box's outputs)."""

    name = "NumPy"

    @staticmethod
    def constant(values: np.ndarray, like: Any) -> Any:
        return np.asarray(values, dtype=like.dtype)

    @staticmethod
    def sum(x: Any, axes: tuple[int, ...]) -> Any:
        return np.sum(x, axis=axes)

    @staticmethod
    def columns(x: Any, index: Sequence[int]) -> Any:
        return np.take(x, list(index), axis=1)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return np.sqrt(x)


class TorchOps:
    """PyTorch's operations; constants go to the output's device and dtype."""

    name = "PyTorch"

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def constant(self, values: np.ndarray, like: Any) -> Any:
        return self.torch.as_tensor(values, dtype=like.dtype, device=like.device)

    @staticmethod
    def sum(x: Any, axes: tuple[int, ...]) -> Any:
        return x.sum(dim=axes)

    def columns(self, x: Any, index: Sequence[int]) -> Any:
        return x.index_select(1, self.torch.as_tensor(list(index), device=x.device))

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(x)


class TensorFlowOps:
    """TensorFlow's operations (traced into xaikit's compiled functions)."""

    name = "TensorFlow"

    def __init__(self, tf: Any) -> None:
        self.tf = tf

    def constant(self, values: np.ndarray, like: Any) -> Any:
        return self.tf.constant(values, dtype=like.dtype)

    def sum(self, x: Any, axes: tuple[int, ...]) -> Any:
        return self.tf.reduce_sum(x, axis=list(axes))

    def columns(self, x: Any, index: Sequence[int]) -> Any:
        return self.tf.gather(x, list(index), axis=1)

    def sqrt(self, x: Any) -> Any:
        return self.tf.sqrt(x)


def array_ops(outputs: Any) -> Any:
    """The operations of ``outputs``' framework: :class:`NumpyOps`, :class:`TorchOps` or :class:`TensorFlowOps`.

    The framework's module is loaded already (it made the tensor); another type is an
    :class:`~xaikit.InputError` naming it.
    """
    root = type(outputs).__module__.split(".")[0]
    if isinstance(outputs, np.ndarray):
        return NumpyOps
    if root == "torch" and "torch" in sys.modules:
        return TorchOps(sys.modules["torch"])
    if root in ("tensorflow", "keras", "tf_keras") and "tensorflow" in sys.modules:
        return TensorFlowOps(sys.modules["tensorflow"])
    raise InputError(f"a ready-made target takes a NumPy array, a torch.Tensor or a TensorFlow tensor; got "
                     f"{type(outputs).__module__}.{type(outputs).__qualname__}.")


def static_shape(value: Any) -> tuple[int | None, ...] | None:
    """``value``'s shape as a tuple (None entries for unknown sizes), or None without a shape or a known rank."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):  # an unknown rank (a TensorFlow graph tensor)
        return None
