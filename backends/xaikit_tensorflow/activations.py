"""Activation (feature-map) extraction, the seeds' ``Model(inputs, [l.output for l in layers])``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ._base import TFExtractorBase, chunks

__all__ = ["TFActivations"]


class TFActivations(TFExtractorBase):
    """Outputs of chosen layers, computed in one compiled pass per chunk.

    Parameters
    ----------
    model : keras.Model
    layers : None, str or list of str
        ``None``: every convolution and (non-global) pooling layer, in model order,
        including those inside nested models.
    batch_size : int, default 32

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014;
    Chollet, "Deep Learning with Python", 2017, section 5.4.1.
    """

    def _default_layers(self) -> list[str]:
        return self._view().conv_and_pool_layers()

    def _extract(self, images: np.ndarray, layers: list[str], batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        view = self._view()
        hwc = tuple(images.shape[1:])
        names = tuple(layers)

        def build() -> Callable[..., Any]:
            def fn(x: Any) -> Any:
                cap = view.forward(x, capture=names)
                return [tf.cast(cap.outputs[n], tf.float32) for n in names], tf.cast(cap.outputs["__output__"], tf.float32)
            return fn

        fn = view.compiled(("activations", names, hwc), build, [view.image_spec(hwc)])
        parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
        outputs = []
        for s in chunks(len(images), batch_size):
            maps, out = fn(images[s])
            for name, value in zip(names, maps):
                parts[name].append(value.numpy())
            outputs.append(out.numpy())
        return {n: np.concatenate(v) for n, v in parts.items()}, np.concatenate(outputs)
