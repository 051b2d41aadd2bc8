"""What the adapters of Keras libraries (tf-explain, shap) share with the native backend.

This is the public face of :mod:`xaikit_tensorflow` for adapters (as :mod:`xaikit_torch.adapters`
is for PyTorch libraries): they describe, predict and reach a model's layers through these
names only, so every backend validates and describes a Keras model the same way as the
native one.

- :class:`KerasModelMixin`: the :class:`~xaikit.Explainer` hooks ``_describe`` and
  ``_predict`` of a Keras model (the native engine's).
- :class:`KerasModelView` and :func:`model_view`: a model's layers, shapes and output
  activation as the native backend reads them; :func:`model_kind`: how it is built
  (Sequential, functional, subclassed).
- :func:`versions`: the versions an adapter's results record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.kernels import chunks
from xaikit.spec import ModelSpec

from ._keras import KerasModelView
from .engine import engine_for, versions
from .layer_kinds import model_kind
from .views import model_view

__all__ = ["KerasModelMixin", "KerasModelView", "model_kind", "model_view", "versions"]


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
