"""The result types shared by every method and backend.

:class:`Explanation` holds attribution maps and everything needed to interpret or
reproduce them; :class:`Activations` holds feature maps. Both are plain NumPy
containers: no framework object is kept, so results can be saved, compared across
backends and loaded on a machine without TensorFlow.
"""

from __future__ import annotations

import io
import json
import math
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
from ._npz import DEFAULT_MAX_BYTES, ArrayChecks, ArraysInMemory, NpzReader
from .atomic_files import atomic_write_bytes
from .errors import InputError

__all__ = [
    "NORMALIZE_MODES",
    "OFFSET_BAND",
    "PREVIEW_IMAGES",
    "RankedExplanations",
    "Activations",
    "Explanation",
    "format_params",
    "has_negative_values",
    "map_offset",
    "normalize_maps",
    "to_jsonable",
]

FORMAT_VERSION = 1

#: Images an :class:`Explanation` keeps for its notebook display (:attr:`Explanation.preview_images`).
PREVIEW_IMAGES = 4
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


def to_jsonable(value: Any) -> Any:
    """Convert parameter values to JSON; arrays are summarised (shape, dtype, checksum)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
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
        int64 ``(N,)``: the class explained for each image; ``-1`` when a score function
        was explained (:attr:`target` names it).
    outputs : numpy.ndarray
        float32 ``(N, K)``: the model's outputs for the unmodified images, as the model
        returns them (probabilities for a softmax model; ``K = 1`` for a sigmoid model;
        ``(N, ...)`` for a model that is not a classifier, such as a segmentation model).
    predictions : numpy.ndarray
        int64 ``(N,)``: the predicted class (``outputs > 0.5`` for a single sigmoid; ``-1``
        for a model that is not a classifier).
    params : dict
        The full effective parameters (defaults filled in, auto-detected layer resolved,
        seed drawn if it was None), JSON-serialisable.
    elapsed : float
        Wall-clock seconds of the whole :meth:`~xaikit.Explainer.explain` call.
    score : str
        What was explained: ``"logit"`` (pre-softmax / pre-sigmoid value),
        ``"probability"`` or ``"output"`` (the raw model output when the model's last
        activation is not known), or a backend-specific score such as
        ``"cross_entropy_loss"`` (tf-explain SmoothGrad), or ``"function"`` when a score
        function was explained.
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
    layout : str
        ``"NHWC"`` or ``"NCHW"``: the layout of the images that were explained (and of
        ``channel_attributions`` at the input), so pictures read the images right.
    target : str or None
        The score function explained, by qualified name and parameters
        (:func:`xaikit.targets.describe_target`); ``None`` when classes were explained.
    preview_images : numpy.ndarray or None
        The first :data:`PREVIEW_IMAGES` explained images as the model took them (a copy,
        in ``layout``), kept so that a result left at the end of a notebook cell shows its
        maps over the images; None when not kept (a loaded file: pass the images to
        :meth:`plot`). Not saved.
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
    layout: str = "NHWC"
    target: str | None = None
    preview_images: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        attributions = np.asarray(self.attributions)
        if attributions.ndim != 3 or attributions.dtype != np.float32:
            raise ValueError(f"attributions must be float32 (N, H, W); got {attributions.dtype} {attributions.shape}")
        n = attributions.shape[0]
        for name in ("targets", "predictions"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,) or arr.dtype.kind not in "iu":
                raise ValueError(f"{name} must be integer class indices of shape ({n},); got {arr.dtype} {arr.shape}")
        outputs = np.asarray(self.outputs)
        if outputs.ndim < 2 or outputs.shape[0] != n or outputs.dtype.kind != "f":
            raise ValueError(f"outputs must be floats of shape ({n}, K) (or ({n}, ...)); got {outputs.dtype} "
                             f"{outputs.shape}")
        object.__setattr__(self, "params", to_jsonable(dict(self.params)))
        object.__setattr__(self, "info", to_jsonable(dict(self.info)))
        if isinstance(self.elapsed, (int, float, np.integer, np.floating)) and not isinstance(self.elapsed, bool):
            object.__setattr__(self, "elapsed", float(self.elapsed))  # seconds; a NumPy float too (JSON, files)

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

        preview = None
        if self.preview_images is not None:  # kept where every selected image is among the previewed ones
            chosen = np.arange(len(self))[index]
            if chosen.size and chosen.max() < len(self.preview_images):
                preview = self.preview_images[chosen]
        return replace(
            self,
            attributions=self.attributions[index],
            targets=self.targets[index],
            outputs=self.outputs[index],
            predictions=self.predictions[index],
            layer_attributions=take(self.layer_attributions),
            channel_attributions=take(self.channel_attributions),
            extras={k: (v[index] if np.ndim(v) and len(v) == len(self) else v) for k, v in self.extras.items()},
            preview_images=preview,
        )

    def __repr__(self) -> str:
        n, h, w = self.shape
        layer = f", layer={self.layer!r}" if self.layer else ""
        what = f"target={self.target!r}" if self.target is not None else \
            f"score={self.score!r}, targets={self.targets.tolist()[:8]}"
        return (f"Explanation(method={self.method!r}, backend={self.backend!r}, n={n}, size={h}x{w}"
                f"{layer}, {what}, elapsed={self.elapsed:.3f}s)")

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
        if undo is None and image_range == "auto":
            undo = self.info.get("preprocess")  # what explain(..., preprocess=) recorded
        return overlay(images, self.attributions, layout=self.layout, colormap=colormap, alpha=alpha,
                       normalize=normalize, image_range=image_range, percentile=percentile, undo=undo, blend=blend)

    def plot(self, images: Any = None, *, max_images: int | None = 8, **kwargs: Any) -> Any:
        """The maps of the first ``max_images`` images as a matplotlib Figure (not registered with pyplot).

        ``images``: the images that were explained (the maps are drawn over them), or None
        (the maps alone). Each map is drawn as its content asks (signed red/blue, heat-map
        overlay, deviations from an offset: see :func:`xaikit.viz.choose_view`); keyword
        arguments go to :func:`xaikit.viz.compare_figure` (``class_names``, ``undo``,
        ``view``, ``normalize``...). The preprocessing the result records
        (``xaikit.explain(..., preprocess="vgg16")``) is undone for display unless ``undo``
        or ``image_range`` says otherwise.
        """
        from .viz.compare import first_images_figure

        if "image_range" not in kwargs:
            kwargs.setdefault("undo", self.info.get("preprocess"))
        return first_images_figure(images, {f"{self.method} ({self.backend})": self}, max_images, **kwargs)

    def _repr_html_(self) -> str:
        from .viz.notebook import explanation_html

        return explanation_html(self)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write to a ``.npz`` file (arrays + JSON metadata), atomically.

        The file loads with :meth:`load` without any framework installed and without
        pickle. What :meth:`load` would refuse is refused here first, by the same checks,
        before anything is written (an :class:`~xaikit.errors.InputError` saying what:
        e.g. extras of text or complex numbers, a non-finite ``elapsed``, targets outside
        the outputs' classes). Only ``load``'s memory bound is not checked: a file larger
        than ``max_bytes`` loads with a larger ``max_bytes``.
        """
        extras = {key: _saved_extra(path, key, value) for key, value in self.extras.items()}
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
        for key, value in extras.items():
            arrays[f"extras/{key}"] = value
        meta = {
            "format": "xaikit.Explanation",
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "backend": self.backend,
            "params": to_jsonable(self.params),
            "elapsed": self.elapsed,
            "score": self.score,
            "layer": self.layer,
            "info": to_jsonable(self.info),
            "layout": self.layout,
            "target": self.target,
        }
        arrays["__meta__"] = _meta_bytes(meta)
        _check_explanation(_before_saving(path, "Explanation", arrays), json.loads(arrays["__meta__"].tobytes()))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> Explanation:
        """Read a file written by :meth:`save`.

        Every array's shape and dtype and the metadata are checked before any array is
        loaded; pickle is never used.

        Parameters
        ----------
        path
            The ``.npz`` file.
        max_bytes
            Refuse a file whose arrays would need more memory than this (default 2 GiB;
            None: no bound).

        Raises
        ------
        FileFormatError
            The file is not an xaikit Explanation file, is damaged, truncated or
            inconsistent, or too large; the message names the file and the problem.
        FileNotFoundError
            No such file.
        """
        with NpzReader(path, what="xaikit Explanation file", max_bytes=max_bytes) as npz:
            meta = npz.read_json("__meta__")
            fields = _check_explanation(npz, meta)
            optional = {name: npz.read(name) if name in npz else None
                        for name in ("layer_attributions", "channel_attributions")}
            return cls(
                attributions=npz.read("attributions"),
                targets=npz.read("targets"),
                outputs=npz.read("outputs"),
                predictions=npz.read("predictions"),
                extras={k.split("/", 1)[1]: npz.read(k) for k in npz.headers if k.startswith("extras/")},
                **optional,
                **fields,
            )


class RankedExplanations(list):  # type: ignore[type-arg]
    """The explanations of each image's ``k`` highest-ranked classes (:meth:`~xaikit.Explainer.explain_ranked`):
    a list of ``k`` :class:`Explanation` s, rank 0 being each image's top class, that draws itself with the ranks
    side by side.

    Attributes
    ----------
    class_names : sequence, mapping or None
        Names of the classes, written over the maps (index -> name); None: the indices.
    """

    def __init__(self, explanations: Any = (), class_names: Any = None) -> None:
        super().__init__(explanations)
        self.class_names = class_names

    def plot(self, images: Any = None, *, max_images: int | None = 8, **kwargs: Any) -> Any:
        """The ranks side by side (columns ``rank 0``, ``rank 1``...) for the first ``max_images`` images, as a
        matplotlib Figure; keyword arguments go to :func:`xaikit.viz.compare_figure` (``class_names`` defaults to
        this result's)."""
        from .viz.compare import first_images_figure

        kwargs.setdefault("class_names", self.class_names)
        if images is None and self and self[0].preview_images is not None \
                and len(self[0].preview_images) >= min(len(self[0]), max_images or len(self[0])):
            kwargs.setdefault("undo", self[0].info.get("preprocess"))
        return first_images_figure(images, {f"rank {r}": e for r, e in enumerate(self)}, max_images, **kwargs)

    def __repr__(self) -> str:
        if not self:
            return "RankedExplanations([])"
        e = self[0]
        return (f"RankedExplanations(method={e.method!r}, backend={e.backend!r}, ranks={len(self)}, n={len(e)}, "
                f"targets by rank={[x.targets.tolist()[:4] for x in self]})")

    def _repr_html_(self) -> str:
        from .viz.notebook import ranked_html

        return ranked_html(self)


# --------------------------------------------------------------------------- the file format's rules
def _meta_bytes(meta: dict[str, Any]) -> np.ndarray:
    """The metadata as stored: JSON (NaN and infinities as JavaScript writes them) in a uint8 array."""
    return np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)


def _before_saving(path: str | os.PathLike[str], kind: str, arrays: dict[str, np.ndarray]) -> ArraysInMemory:
    """The arrays about to be written to ``path``, checked as loading will check them (an InputError if not)."""
    def error(problem: str) -> InputError:
        return InputError(f"this {kind} cannot be saved to {path}: {problem} (load() would refuse the file; "
                          f"a file holds arrays of numbers or booleans and JSON metadata: fix the field, e.g. with "
                          f"dataclasses.replace)")

    return ArraysInMemory(arrays, error)


def _saved_extra(path: str | os.PathLike[str], key: Any, value: Any) -> np.ndarray:
    """``np.asarray(value)`` of an extra about to be saved; an InputError if it is not one array or its name would
    not come back (a zip member's name ends at a NUL character; a name that is not a string comes back as one)."""
    if not isinstance(key, str) or "\x00" in key:
        raise InputError(f"this Explanation cannot be saved to {path}: its extras name {key!r} would not be read "
                         "back as it is; name extras with strings without NUL characters")
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged lists
        raise InputError(f"this Explanation cannot be saved to {path}: its extras {key!r} is not an array of "
                         f"numbers ({exc})") from None


def _check_explanation(src: ArrayChecks, meta: Any) -> dict[str, Any]:
    """The rules of an Explanation file, on a file being read or arrays being written; its metadata fields.

    ``src`` names the arrays and their headers; ``meta`` is the metadata as read back
    from its JSON. Raises ``src.error(problem)`` at the first rule broken.
    """
    _check_meta_record(src, meta, "xaikit.Explanation")
    fields = _meta_fields(src, meta, method=str, backend=str, params=dict, elapsed=(int, float),
                          score=str, layer=(str, type(None)), info=(dict, type(None)), target=(str, type(None)))
    target = fields["target"]  # a score function's description; None: class indices
    n = src.require("attributions", ndim=3, dtype=np.float32).shape[0]
    out_shape = _require_rows(src, "outputs", n, kinds="f", ndim=None if target is not None else 2)
    if len(out_shape) < 2:
        raise src.error(f"the array 'outputs' has shape {out_shape}; it must be (N, K) or (N, ...)")
    n_out = out_shape[1]
    for name in ("targets", "predictions"):
        _require_rows(src, name, n, kinds="iu", ndim=1)
    if "layer_attributions" in src:
        _require_rows(src, "layer_attributions", n, kinds="f", ndim=3, dtype=np.float32)
    if "channel_attributions" in src:
        _require_rows(src, "channel_attributions", n, kinds="f", ndim=4, dtype=np.float32)
    for name in src.headers:
        if name.startswith("extras/"):
            src.require(name)
    n_classes = 2 if n_out == 1 else n_out
    # A score function's targets are not class indices (-1); a non-classifier's predictions neither.
    checked = ("targets", "predictions") if target is None else ("predictions",) if len(out_shape) == 2 else ()
    for name in checked:
        values = src.read(name)
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise src.error(f"the {name} must be class indices in [0, {n_classes}) for outputs of width "
                            f"{n_out}; got values from {values.min()} to {values.max()}")
    fields["elapsed"] = float(fields["elapsed"])
    fields["info"] = fields["info"] or {}
    fields["layout"] = _layout(src, meta)
    return fields


def _layout(npz: ArrayChecks, meta: dict[str, Any]) -> str:
    """The layout a file records (files written before layouts existed are channels last)."""
    layout = meta.get("layout", "NHWC")
    if layout not in ("NHWC", "NCHW"):
        raise npz.error(f"its metadata 'layout' must be 'NHWC' or 'NCHW'; got {layout!r}")
    return layout


def _check_meta_record(npz: ArrayChecks, meta: Any, kind: str) -> dict[str, Any]:
    """``meta`` (the ``__meta__`` JSON of a file), checked to describe a ``kind`` this version reads."""
    if not isinstance(meta, dict) or "format" not in meta:
        raise npz.error("its metadata is not an xaikit metadata record")
    if meta["format"] != kind:
        raise npz.error(f"it holds {meta['format']!r}, not {kind!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise npz.error(f"its format_version is {version!r}; expected a positive integer")
    if version > FORMAT_VERSION:
        raise npz.error(f"it was written in format version {version} by a newer xaikit; this one reads up to "
                        f"{FORMAT_VERSION}: upgrade xaikit")
    return meta


def _meta_fields(npz: ArrayChecks, meta: dict[str, Any], **types: Any) -> dict[str, Any]:
    """``meta[name]`` for each name, checked against its type(s); a type tuple with NoneType makes it optional."""
    out = {}
    for name, kinds in types.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        value = meta.get(name)
        if name not in meta and type(None) not in kinds:
            raise npz.error(f"its metadata has no {name!r}")
        if not isinstance(value, kinds) or isinstance(value, bool):
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise npz.error(f"its metadata {name!r} is {type(value).__name__} {str(value)[:60]!r}; expected {wanted}")
        if isinstance(value, float) and not math.isfinite(value):
            raise npz.error(f"its metadata {name!r} is {value}; expected a finite number")
        out[name] = value
    return out


def _require_rows(npz: ArrayChecks, name: str, n: int | None, **kwargs: Any) -> tuple[int, ...]:
    """The shape of ``name`` (checked as by :meth:`ArrayChecks.require`), which must have ``n`` rows (if given)."""
    shape = npz.require(name, **kwargs).shape
    if n is not None and shape[0] != n:
        raise npz.error(f"the array {name!r} has {shape[0]} rows for {n} images (shape {shape})")
    return shape


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
        arrays["__meta__"] = _meta_bytes(meta)
        _check_activations(_before_saving(path, "Activations", arrays), json.loads(arrays["__meta__"].tobytes()))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> Activations:
        """Read a file written by :meth:`save`; checked as :meth:`Explanation.load` checks its files."""
        with NpzReader(path, what="xaikit Activations file", max_bytes=max_bytes) as npz:
            meta = npz.read_json("__meta__")
            fields = _check_activations(npz, meta)
            maps = {name: npz.read(f"layer/{i}") for i, name in enumerate(fields.pop("layers"))}
            outputs = npz.read("outputs") if "outputs" in npz else None
        return cls(maps, outputs=outputs, **fields)


def _check_activations(src: ArrayChecks, meta: Any) -> dict[str, Any]:
    """The rules of an Activations file (as :func:`_check_explanation`); its metadata fields."""
    _check_meta_record(src, meta, "xaikit.Activations")
    fields = _meta_fields(src, meta, layers=list, backend=str, elapsed=(int, float), params=dict,
                          info=(dict, type(None)))
    layers = fields["layers"]
    if not all(isinstance(name, str) for name in layers) or len(set(layers)) != len(layers):
        raise src.error("its metadata 'layers' must be a list of distinct layer names")
    shapes = [src.require(f"layer/{i}", dtype=np.float32).shape for i in range(len(layers))]
    if any(not shape for shape in shapes) or len({shape[0] for shape in shapes}) > 1:
        raise src.error(f"the layer arrays must be (N, ...) with the same N; got shapes {shapes[:8]}")
    if "outputs" in src:
        _require_rows(src, "outputs", shapes[0][0] if shapes else None, kinds="f", ndim=2)
    fields["layout"] = _layout(src, meta)
    return fields
