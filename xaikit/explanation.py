"""The result types shared by every method and backend.

:class:`Explanation` holds attribution maps and everything needed to interpret or
reproduce them; :class:`Activations` holds feature maps. Both are plain NumPy
containers: no framework object is kept, so results can be saved, compared across
backends and loaded on a machine without TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._display import (
    NORMALIZE_MODES,
    OFFSET_BAND,
    format_params,
    has_negative_values,
    map_offset,
    normalize_maps,
)
from ._io import atomic_write_bytes
from .errors import InputError

__all__ = [
    "NORMALIZE_MODES",
    "OFFSET_BAND",
    "Activations",
    "Explanation",
    "format_params",
    "has_negative_values",
    "map_offset",
    "normalize_maps",
]

FORMAT_VERSION = 1
def describe_array(value: np.ndarray) -> Any:
    """How a result records an array parameter: its values if it has at most 16, else
    ``{"array_shape", "dtype", "sha256_16", "mean"}``. Backends that need a key for the
    array (e.g. to reuse work done on a background) use this record, so the array is
    hashed once per call."""
    if value.size <= 16:
        return value.tolist()
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
    return {"array_shape": list(value.shape), "dtype": str(value.dtype), "sha256_16": digest,
            "mean": float(np.mean(value)) if np.issubdtype(value.dtype, np.number) else None}


def _to_jsonable(value: Any) -> Any:
    """Convert parameter values to JSON; arrays are summarised (shape, dtype, checksum)."""
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return describe_array(value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@dataclass(frozen=True, eq=False)
class Explanation:
    """Attribution maps for a batch of images, with everything needed to use them.

    Attributes
    ----------
    attributions : numpy.ndarray
        float32 ``(N, H, W)`` at input resolution, signed as the method defines them
        (no hidden normalisation). Methods that work at a layer (Grad-CAM, expected
        gradients at a layer) are upsampled bilinearly to the input size.
    method, backend : str
        Method id (``"gradcam"``, ...) and backend id (``"tensorflow"``, ...).
    targets : numpy.ndarray
        int64 ``(N,)``: the class explained for each image.
    outputs : numpy.ndarray
        float32 ``(N, K)``: the model's outputs for the unmodified images, as the model
        returns them (probabilities for a softmax model; ``K = 1`` for a sigmoid model).
    predictions : numpy.ndarray
        int64 ``(N,)``: the predicted class (``outputs > 0.5`` for a single sigmoid).
    params : dict
        The full effective parameters (defaults filled in, auto-detected layer resolved,
        seed drawn if it was None), JSON-serialisable.
    elapsed : float
        Wall-clock seconds of the whole :meth:`~xaikit.Explainer.explain` call.
    score : str
        What was explained: ``"logit"`` (pre-softmax / pre-sigmoid value),
        ``"probability"`` or ``"output"`` (the raw model output when the model's last
        activation is not known), or a backend-specific score such as
        ``"cross_entropy_loss"`` (tf-explain SmoothGrad).
    layer : str or None
        The layer the method worked at, if any.
    layer_attributions : numpy.ndarray or None
        float32 ``(N, h, w)`` at layer resolution, where the method has one.
    channel_attributions : numpy.ndarray or None
        float32 ``(N, H, W, C)`` (or ``(N, h, w, C)`` for a layer method) before the
        channel reduction, where the method has per-channel values.
    extras : dict of numpy.ndarray
        Method diagnostics, e.g. ``"completeness_gap"`` for integrated/expected
        gradients.
    info : dict
        Library versions and other provenance (JSON-serialisable).
    """

    attributions: np.ndarray
    method: str
    backend: str
    targets: np.ndarray
    outputs: np.ndarray
    predictions: np.ndarray
    params: dict[str, Any]
    elapsed: float
    score: str = "logit"
    layer: str | None = None
    layer_attributions: np.ndarray | None = None
    channel_attributions: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        attributions = np.asarray(self.attributions)
        if attributions.ndim != 3 or attributions.dtype != np.float32:
            raise ValueError(f"attributions must be float32 (N, H, W); got {attributions.dtype} {attributions.shape}")
        n = attributions.shape[0]
        for name in ("targets", "predictions"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},); got {arr.shape}")
        if np.asarray(self.outputs).shape[0] != n:
            raise ValueError(f"outputs must have {n} rows; got {np.asarray(self.outputs).shape}")
        object.__setattr__(self, "params", _to_jsonable(dict(self.params)))
        object.__setattr__(self, "info", _to_jsonable(dict(self.info)))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.attributions.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, H, W)`` of :attr:`attributions`."""
        return tuple(self.attributions.shape)  # type: ignore[return-value]

    def __getitem__(self, index: int | slice | np.ndarray) -> Explanation:
        """Select images; an int keeps the batch axis (``exp[0]`` has length 1)."""
        if isinstance(index, (int, np.integer)):
            i = range(len(self))[int(index)]  # IndexError for an image that is not there
            index = slice(i, i + 1)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return replace(
            self,
            attributions=self.attributions[index],
            targets=self.targets[index],
            outputs=self.outputs[index],
            predictions=self.predictions[index],
            layer_attributions=take(self.layer_attributions),
            channel_attributions=take(self.channel_attributions),
            extras={k: (v[index] if np.ndim(v) and len(v) == len(self) else v) for k, v in self.extras.items()},
        )

    def __repr__(self) -> str:
        n, h, w = self.shape
        layer = f", layer={self.layer!r}" if self.layer else ""
        return (f"Explanation(method={self.method!r}, backend={self.backend!r}, n={n}, size={h}x{w}"
                f"{layer}, score={self.score!r}, targets={self.targets.tolist()[:8]}, elapsed={self.elapsed:.3f}s)")

    # ------------------------------------------------------------- display
    def normalize(self, mode: str = "auto", *, percentile: float = 99.5) -> np.ndarray:
        """Per-image scaled copy of :attr:`attributions` for display; see :func:`normalize_maps`."""
        return normalize_maps(self.attributions, mode, percentile=percentile)

    def overlay(self, images: Any, *, colormap: str = "jet", alpha: float = 0.4, normalize: str = "auto",
                image_range: tuple[float, float] | str = "auto", percentile: float = 99.5, undo: Any = None,
                blend: str = "constant") -> np.ndarray:
        """Heat map over the images, as uint8 RGB ``(N, H, W, 3)``.

        ``normalize="auto"`` scales each map from what it contains (see
        :func:`normalize_maps`; vanilla gradients and SmoothGrad show ``|a|``). An overlay
        cannot show a sign: for signed maps draw :meth:`plot` or
        :func:`xaikit.viz.signed_rgb`. ``undo`` names the preprocessing to reverse for display (``"caffe"``,
        ``"torch"``, ``"tf"``, ``"scale255"``, ``"none"`` or a function); see
        :func:`xaikit.viz.overlay` for all parameters.
        """
        from .viz.compare import MAGNITUDE_VIEW_METHODS
        from .viz.overlay import overlay

        if normalize == "auto" and self.method in MAGNITUDE_VIEW_METHODS:
            normalize = "abs"  # the sign of raw gradients is mostly noise: their magnitude is the picture
        return overlay(images, self.attributions, colormap=colormap, alpha=alpha, normalize=normalize,
                       image_range=image_range, percentile=percentile, undo=undo, blend=blend)

    def plot(self, images: Any = None, *, max_images: int | None = 8, **kwargs: Any) -> Any:
        """The maps of the first ``max_images`` images as a matplotlib Figure (not registered with pyplot).

        ``images``: the images that were explained (the maps are drawn over them), or None
        (the maps alone). Each map is drawn as its content asks (signed red/blue, heat-map
        overlay, deviations from an offset: see :func:`xaikit.viz.choose_view`); keyword
        arguments go to :func:`xaikit.viz.compare_figure` (``class_names``, ``undo``,
        ``view``, ``normalize``...).
        """
        from .viz.compare import first_images_figure

        return first_images_figure(images, {f"{self.method} ({self.backend})": self}, max_images, **kwargs)

    def _repr_html_(self) -> str:
        from .viz.notebook import explanation_html

        return explanation_html(self)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write to a ``.npz`` file (arrays + JSON metadata), atomically.

        The file loads with :meth:`load` without any framework installed and without
        pickle.
        """
        arrays: dict[str, np.ndarray] = {
            "attributions": self.attributions,
            "targets": self.targets,
            "outputs": self.outputs,
            "predictions": self.predictions,
        }
        if self.layer_attributions is not None:
            arrays["layer_attributions"] = self.layer_attributions
        if self.channel_attributions is not None:
            arrays["channel_attributions"] = self.channel_attributions
        for key, value in self.extras.items():
            arrays[f"extras/{key}"] = np.asarray(value)
        meta = {
            "format": "xaikit.Explanation",
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "backend": self.backend,
            "params": self.params,
            "elapsed": self.elapsed,
            "score": self.score,
            "layer": self.layer,
            "info": self.info,
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Explanation:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data:
                raise InputError(f"{path} is not an xaikit Explanation file (no metadata)")
            meta = json.loads(bytes(data["__meta__"]).decode("utf-8"))
            if meta.get("format") != "xaikit.Explanation":
                raise InputError(f"{path} holds {meta.get('format')!r}, not an xaikit Explanation")
            extras = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("extras/")}
            return cls(
                attributions=data["attributions"],
                method=meta["method"],
                backend=meta["backend"],
                targets=data["targets"],
                outputs=data["outputs"],
                predictions=data["predictions"],
                params=meta["params"],
                elapsed=float(meta["elapsed"]),
                score=meta["score"],
                layer=meta["layer"],
                layer_attributions=data["layer_attributions"] if "layer_attributions" in data else None,
                channel_attributions=data["channel_attributions"] if "channel_attributions" in data else None,
                extras=extras,
                info=meta.get("info", {}),
            )


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
    """

    def __init__(self, maps: Mapping[str, np.ndarray], *, backend: str, elapsed: float,
                 params: Mapping[str, Any] | None = None, outputs: np.ndarray | None = None,
                 info: Mapping[str, Any] | None = None) -> None:
        self._maps = {str(k): np.asarray(v, dtype=np.float32) for k, v in maps.items()}
        self.backend = backend
        self.elapsed = float(elapsed)
        self.params = _to_jsonable(dict(params or {}))
        self.outputs = outputs
        self.info = _to_jsonable(dict(info or {}))

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
        from .viz.grids import activation_grid

        return activation_grid(self, layers, image_index=image_index, max_channels=max_channels, **kwargs)

    def _repr_html_(self) -> str:
        from .viz.notebook import activations_html

        return activations_html(self)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write to ``.npz`` atomically (layer order kept in the metadata)."""
        arrays = {f"layer/{i}": v for i, v in enumerate(self._maps.values())}
        if self.outputs is not None:
            arrays["outputs"] = np.asarray(self.outputs)
        meta = {"format": "xaikit.Activations", "format_version": FORMAT_VERSION, "layers": list(self._maps),
                "backend": self.backend, "elapsed": self.elapsed, "params": self.params, "info": self.info}
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Activations:
        """Read a file written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["__meta__"]).decode("utf-8"))
            if meta.get("format") != "xaikit.Activations":
                raise InputError(f"{path} holds {meta.get('format')!r}, not xaikit Activations")
            maps = {name: data[f"layer/{i}"] for i, name in enumerate(meta["layers"])}
            outputs = data["outputs"] if "outputs" in data else None
        return cls(maps, backend=meta["backend"], elapsed=meta["elapsed"], params=meta["params"],
                   outputs=outputs, info=meta.get("info"))
