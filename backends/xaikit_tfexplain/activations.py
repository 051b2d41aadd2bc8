"""Activation extraction through tf-explain's ``ExtractActivations.generate_activations_graph``."""

from __future__ import annotations

import numpy as np
from tf_explain.core.activations import ExtractActivations

from ._base import TFXExtractorBase
from ._graph import tfexplain_graph

__all__ = ["TFXActivations"]


class TFXActivations(TFXExtractorBase):
    """tf-explain's activations, as float arrays per layer (not its min-max-scaled uint8 grid).

    ``ExtractActivations.generate_activations_graph(model, layers)`` builds
    ``Model(model.inputs, [layer.output for layer in model.layers if layer.name in layers])``
    and xaikit runs its ``predict`` with ``batch_size``. tf-explain's ``explain`` would then
    tile every channel of every image into one grid and min-max scale the *whole* grid to
    uint8; that step is skipped, so each value is the layer's raw output.

    Keras 3: ``model.layers`` only lists top-level layers and a Sequential model built by a
    call on data has ``model.inputs`` with the batch size of that call, so xaikit hands
    tf-explain its replayed graph (:mod:`xaikit_tfexplain._graph`), in which every layer
    -- nested ones included -- has an output tensor. Layers inside a subclassed model have
    none: :class:`~xaikit.errors.ModelError`.

    Parameters
    ----------
    model : keras.Model
    layers : None, str or list of str
        ``None``: every convolution and (non-global) pooling layer (tf-explain has no
        default; xaikit's native default is used).
    batch_size : int, default 32
    """

    def _extract(self, images: np.ndarray, layers: list[str],
                 batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        view = self._view()
        graph = tfexplain_graph(view, "output")
        for name in layers:
            graph.tensor_of(name, "ExtractActivations")
        activations_model = ExtractActivations.generate_activations_graph(graph, layers)
        values = activations_model.predict(images, batch_size=batch_size, verbose=0)
        if not isinstance(values, (list, tuple)):
            values = [values]
        order = [ref.name for ref in graph.layers if ref.name in layers]  # tf-explain keeps model.layers order
        maps = dict(zip(order, (np.asarray(v, np.float32) for v in values)))
        return {name: maps[name] for name in layers}, self._predict(images, batch_size)
