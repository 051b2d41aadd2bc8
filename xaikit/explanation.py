"""The result type of every method and backend: :class:`Explanation` (and :class:`RankedExplanations`).

:class:`Explanation` holds attribution maps and everything needed to interpret or
reproduce them; :class:`~xaikit.activations.Activations` (re-exported here) holds feature
maps. Both are plain NumPy containers: no framework object is kept, so results can be
saved, compared across backends and loaded on a machine without TensorFlow. Their file
format's rules are in :mod:`xaikit.result_format`, their pictures in :mod:`xaikit.viz`.
"""

from __future__ import annotations

import os
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
from ._npz import DEFAULT_MAX_BYTES, NpzReader
from .activations import Activations
from .result_format import (
    FORMAT_VERSION,
    check_explanation,
    describe_array,
    saved_extra,
    to_jsonable,
    write_checked_npz,
)

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
    "describe_array",
    "to_jsonable",
]

#: Images an :class:`Explanation` keeps for its notebook display (:attr:`Explanation.preview_images`).
PREVIEW_IMAGES = 4


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
        extras = {key: saved_extra(path, key, value) for key, value in self.extras.items()}
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
        return write_checked_npz(path, "Explanation", arrays, meta, check_explanation, overwrite=overwrite)

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
            fields = check_explanation(npz, meta)
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
