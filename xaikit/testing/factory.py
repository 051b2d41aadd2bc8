"""The conformance suite's types: the models' factory a backend gives, one check, the canonical shapes."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..kernels import to_layout

__all__ = ["IMAGE_SHAPE", "N_CLASSES", "Check", "ModelFactory"]

#: The canonical image shape of the checks, ``(H, W, C)`` (non-square on purpose).
IMAGE_SHAPE = (6, 8, 3)
#: Classes of the conformance models (their outputs).
N_CLASSES = 4


class ModelFactory(abc.ABC):
    """Builds the two tiny models the checks need, in a backend's framework.

    Attributes
    ----------
    layout : str
        ``"NHWC"`` or ``"NCHW"``: how the models take a batch.
    """

    layout: str = "NHWC"

    @abc.abstractmethod
    def linear(self, weights: np.ndarray, bias: np.ndarray, activation: str) -> Any:
        """``f(x) = activation(sum_hwc W[h, w, c, k] x[h, w, c] + b[k])`` on images of :data:`IMAGE_SHAPE`.

        ``weights`` is ``(H, W, C, K)`` in the canonical channels-last order whatever the
        model's layout; ``activation`` is ``"linear"`` (the outputs are logits) or
        ``"softmax"``.
        """

    @abc.abstractmethod
    def cnn(self) -> tuple[Any, str]:
        """A small seeded CNN on :data:`IMAGE_SHAPE` images with :data:`N_CLASSES` softmax outputs, and a spatial
        layer name for layer methods (a convolution's output)."""

    def images(self, n: int = 3, seed: int = 0) -> np.ndarray:
        """``n`` random images in the model's layout."""
        x = np.random.default_rng(seed).uniform(0, 1, (n, *IMAGE_SHAPE)).astype(np.float32)
        return to_layout(x, "NHWC", self.layout)


@dataclass(frozen=True)
class Check:
    """One conformance check: call it; it raises ``AssertionError`` with the details when it fails."""

    name: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()

    def __str__(self) -> str:
        return self.name
