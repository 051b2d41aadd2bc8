"""The base class of activation (feature-map) extraction, :class:`ActivationExtractor`."""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar

import numpy as np

from .activations import Activations
from .catalogue import Param, shared
from .described import Described
from .layer_selection import select_layers
from .result_checks import check_outputs
from .validation import check_positive_int

__all__ = ["ActivationExtractor"]


class ActivationExtractor(Described, abc.ABC):
    """Base class of activation (feature-map) extraction.

    Parameters
    ----------
    model
        The model.
    layers : None, str or sequence of str
        Layers to extract. ``None``: every convolution and pooling layer. Otherwise
        names, ``"first:N"`` (the first N top-level layers, the seeds'
        ``model.layers[:8]``), ``"all"``, or a kind (``"conv"``, ``"pool"``, ``"spatial"``),
        as items or comma-separated (:mod:`xaikit.layer_selection`). Unknown names raise
        with the candidates.
    batch_size : int
        Largest batch sent to the model at once.
    """

    method: ClassVar[str] = "activations"
    base_params: ClassVar[tuple[Param, ...]] = shared("batch_size", "output")

    def _selection(self) -> Any:
        """The ``layers`` selection, with layer objects (where a backend takes them) given by name."""
        return self.layers

    @abc.abstractmethod
    def _extract(self, images: np.ndarray, layers: list[str],
                 batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Return ``({layer: (N, ...)}, outputs (N, K))``."""

    def layers_for(self, images: Any) -> list[str]:
        """The layers :meth:`extract` would return for ``images`` (validates ``layers``; one probe pass at most)."""
        run = self._bound_to_output()
        if run is not self:
            return run.layers_for(images)  # type: ignore[attr-defined]
        _, spec = self._checked_images(images)
        return select_layers(self.layers, spec)

    def extract(self, images: Any) -> Activations:
        """Run the images through the model and return the chosen layers' outputs."""
        start = time.perf_counter()
        run = self._bound_to_output()
        if run is not self:
            return run.extract(images)  # type: ignore[attr-defined]
        x, spec = self._checked_images(images)
        batch_size = check_positive_int("batch_size", self.batch_size)
        layers = select_layers(self._selection(), spec)
        maps, outputs = self._extract(x, layers, batch_size)
        check_outputs(np.asarray(outputs), self._label())
        layouts = {n: info.layout.name for n in layers if (info := spec.layer(n)) is not None and info.layout}
        return Activations(maps, backend=self.backend, elapsed=time.perf_counter() - start,
                           params=self._recorded({"layers": layers, "batch_size": batch_size,
                                                  "layer_layouts": layouts}),
                           outputs=outputs, info=self._info(), layout=spec.layout)
