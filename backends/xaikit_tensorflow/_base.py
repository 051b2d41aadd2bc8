"""What every Keras-based backend shares (the native one and the tf-explain and shap adapters)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.kernels import chunks
from xaikit.spec import ModelSpec

from ._keras import KerasModelView, model_view
from .engine import engine_for, versions

__all__ = ["KerasModelMixin", "versions"]


class KerasModelMixin:
    """The Explainer hooks of a Keras model: its view, its description, prediction.

    Adapters of other libraries (tf-explain, shap) use them, so every backend validates
    and describes a Keras model the same way as the native one.
    """

    model: Any

    def _view(self) -> KerasModelView:
        return model_view(self.model)

    def _describe(self, images: np.ndarray) -> ModelSpec:
        return self._view().describe(tuple(images.shape[1:]))

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        engine = engine_for(self.model)
        return np.concatenate([engine.predict(images[s]) for s in chunks(len(images), batch_size)])
