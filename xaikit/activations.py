"""The result type of activation extraction: :class:`Activations`, feature maps of chosen layers.

A plain NumPy container (no framework object), saved and loaded as an ``.npz`` file with
the rules of :mod:`xaikit.result_format`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._npz import DEFAULT_MAX_BYTES, NpzReader
from .result_format import FORMAT_VERSION, check_activations, to_jsonable, write_checked_npz

__all__ = ["Activations"]


class Activations(Mapping[str, np.ndarray]):
    """Feature maps of chosen layers: an ordered mapping ``layer name -> (N, h, w, C)``.

    Layers come in model order. Values are float32 arrays; layers whose output is not
    spatial (Dense, Flatten) are kept with their own shape ``(N, ...)`` only if asked
    for by name.

    Attributes
    ----------
    backend : str
    elapsed : float
        Seconds spent extracting.
    params : dict
        Effective parameters (``layers``, ``batch_size``).
    outputs : numpy.ndarray or None
        Model outputs for the images, when the backend computed them on the way.
    layout : str
        ``"NHWC"`` (Keras: maps ``(N, h, w, C)``) or ``"NCHW"`` (PyTorch: ``(N, C, h, w)``):
        the model's own layout, kept so that the maps are what the framework gives.
    """

    def __init__(self, maps: Mapping[str, np.ndarray], *, backend: str, elapsed: float,
                 params: Mapping[str, Any] | None = None, outputs: np.ndarray | None = None,
                 info: Mapping[str, Any] | None = None, layout: str = "NHWC") -> None:
        self._maps = {str(k): np.asarray(v, dtype=np.float32) for k, v in maps.items()}
        self.backend = backend
        self.elapsed = float(elapsed)
        self.params = to_jsonable(dict(params or {}))
        self.outputs = outputs
        self.info = to_jsonable(dict(info or {}))
        self.layout = layout

    def __getitem__(self, layer: str) -> np.ndarray:
        try:
            return self._maps[layer]
        except KeyError:
            raise KeyError(f"no activations for layer {layer!r}; available: {list(self._maps)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    @property
    def layers(self) -> list[str]:
        """Layer names in model order."""
        return list(self._maps)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape}" for k, v in list(self._maps.items())[:6])
        more = ", ..." if len(self._maps) > 6 else ""
        return f"Activations(backend={self.backend!r}, {{{shapes}{more}}})"

    def plot(self, *, image_index: int = 0, layers: str | list[str] | None = None, max_channels: int | None = 32,
             **kwargs: Any) -> Any:
        """Every spatial layer's channels (at most ``max_channels`` each) for one image, as a matplotlib Figure.

        See :func:`xaikit.viz.activation_grid` for the keyword arguments; for many layers
        or channels, :func:`xaikit.viz.activation_pages` splits the picture into pages.
        """
        from .viz.activation_figures import activation_grid

        return activation_grid(self, layers, image_index=image_index, max_channels=max_channels, **kwargs)

    def _repr_html_(self) -> str:
        from .viz.notebook import activations_html

        return activations_html(self)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write to ``.npz`` atomically (layer order kept in the metadata).

        What :meth:`load` would refuse is refused here first (an
        :class:`~xaikit.errors.InputError`), before anything is written.
        """
        arrays = {f"layer/{i}": v for i, v in enumerate(self._maps.values())}
        if self.outputs is not None:
            arrays["outputs"] = np.asarray(self.outputs)
        meta = {"format": "xaikit.Activations", "format_version": FORMAT_VERSION, "layers": list(self._maps),
                "backend": self.backend, "elapsed": self.elapsed, "params": to_jsonable(self.params),
                "info": to_jsonable(self.info), "layout": self.layout}
        return write_checked_npz(path, "Activations", arrays, meta, check_activations, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> Activations:
        """Read a file written by :meth:`save`; checked as :meth:`Explanation.load` checks its files."""
        with NpzReader(path, what="xaikit Activations file", max_bytes=max_bytes) as npz:
            meta = npz.read_json("__meta__")
            fields = check_activations(npz, meta)
            maps = {name: npz.read(f"layer/{i}") for i, name in enumerate(fields.pop("layers"))}
            outputs = npz.read("outputs") if "outputs" in npz else None
        return cls(maps, outputs=outputs, **fields)
