"""Models and images of a benchmark: load the model, draw the seeded sample, find the masks.

Everything the cells depend on is summarised by checksums: the weights
(:func:`xaikit.execution.weights_digest`) and the sample (images and masks), so a cell's key changes
when either does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..execution import array_digest, weights_digest
from .config import ConfigError, ModelEntry

__all__ = ["PreparedModel", "prepare_model", "resolve_input_refs", "resolve_layer_refs"]


@dataclass
class PreparedModel:
    """A loaded model with its sample, ready for the cells.

    Attributes
    ----------
    images : numpy.ndarray
        float32, the model input (preprocessed) in the model's layout (``layout``).
    display : numpy.ndarray
        float32 ``(n, H, W, C)`` pixels in [0, 1] for pictures.
    masks : numpy.ndarray or None
        bool ``(n, H, W)``; None when the model has no ground truth.
    has_mask : numpy.ndarray or None
        bool ``(n,)``: images that have a (non-empty) mask.
    targets : numpy.ndarray
        int64 ``(n,)``: the predicted class of each image; every method explains it.
    labels : numpy.ndarray or None
        True labels when known (zoo data).
    services : ModelServices
        The model's services (scores, randomiser, fingerprint) for the cells.
    layout : str
        ``"NHWC"`` or ``"NCHW"``.
    """

    entry: ModelEntry
    model: Any
    model_id: str
    weights_sha: str
    n_params: int
    images: np.ndarray
    display: np.ndarray
    names: list[str]
    masks: np.ndarray | None
    has_mask: np.ndarray | None
    targets: np.ndarray
    labels: np.ndarray | None
    class_names: list[str] | None
    preprocess: str
    sample_sha: str
    default_score: str
    seed: int
    info: dict[str, Any] = field(default_factory=dict)
    services: Any = None
    layout: str = "NHWC"
    _background: np.ndarray | None = None
    _background_spec: Any = None

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.display.shape[1]), int(self.display.shape[2])

    def metric_score(self, requested: str) -> str:
        """The score the causal metrics use on this model (:func:`xaikit.bench.cells.causal_score`):
        ``requested`` (the suite's); the probability of a model returning logits (a PyTorch classifier) is their
        softmax; a model whose last activation is unknown is scored on its output."""
        from .suite import causal_score

        return causal_score(requested, self.info.get("output_activation"))

    @property
    def randomisable(self) -> bool:
        """Whether the model's services can re-initialise its weights (the randomisation sanity check)."""
        from ..services import ModelServices

        return type(self.services).randomizer is not ModelServices.randomizer

    @property
    def images_nhwc(self) -> np.ndarray:
        """:attr:`images` channels last (as the metrics and the pictures take them)."""
        from ..kernels import to_layout

        return to_layout(self.images, self.layout, "NHWC")

    @property
    def channels(self) -> int:
        return int(self.images.shape[3] if self.layout == "NHWC" else self.images.shape[1])

    @property
    def quality(self) -> bool:
        return self.entry.quality

    @property
    def scheme(self) -> str:
        """The preprocessing scheme that made :attr:`images` (zoo data: ``scale255``)."""
        return self.preprocess.split(" ")[0]

    def class_name(self, k: int) -> str:
        if self.class_names is not None and 0 <= k < len(self.class_names):
            return str(self.class_names[k])
        return str(k)

    def background(self, spec: int | str, batch_size: int) -> np.ndarray:
        """Expected-gradients background (cached per spec): N images or a folder, preprocessed."""
        if self._background is not None and self._background_spec == spec:
            return self._background
        self._background = _background(self, spec)
        self._background_spec = spec
        return self._background


def _seeded_choice(total: int, n: int, seed: int) -> np.ndarray:
    n = min(n, total)
    return np.sort(np.random.default_rng([seed, 1]).choice(total, n, replace=False))


def _load_masks(folder: str, paths: list[Path], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    from ..io import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"masks = {folder!r} is not a folder")
    by_stem = {p.stem: p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    h, w = size
    masks = np.zeros((len(paths), h, w), bool)
    has = np.zeros(len(paths), bool)
    for i, p in enumerate(paths):
        m = by_stem.get(p.stem)
        if m is None:
            continue
        grey = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise InputError(f"OpenCV cannot read the mask {m}")
        if grey.shape != (h, w):
            grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_NEAREST)
        masks[i] = grey > 127
        has[i] = masks[i].any()
    return masks, has


def resolve_layer_refs(model: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Replace ``{"index": i}`` / ``{"input_of": i}`` layer references by layer names.

    ``{"index": i}`` is the ``i``-th layer as the framework counts them (Keras'
    ``model.layers[i]``, input layer first); ``{"input_of": i}`` is the layer whose output
    feeds it (what SHAP's ``model.layers[i].input`` selects). The model's services resolve
    them (:meth:`xaikit.services.ModelServices.layer_reference`).
    """
    from ..errors import XaikitError
    from ..registry import services_for

    out = dict(params)
    for key, value in params.items():
        if not isinstance(value, dict) or set(value) not in ({"index"}, {"input_of"}):
            continue
        (kind, i), = value.items()
        try:
            out[key] = services_for(model).layer_reference(model, kind, int(i))
        except XaikitError as exc:
            raise ConfigError(f"{key} = {{ {kind} = {i} }}: {exc}") from None
    return out


def resolve_input_refs(params: dict[str, Any], scheme: str, channels: int) -> dict[str, Any]:
    """Replace ``{"pixel": p}`` / ``{"range_fraction": f}`` by values in the model's input units
    (:func:`xaikit.preprocessing.resolve_input_values`, the one rule the API follows too)."""
    from ..preprocessing import resolve_input_values

    return resolve_input_values(params, scheme, channels)


# --------------------------------------------------------------------------- loading
def _open(entry: ModelEntry, seed: int) -> Any:
    """The entry's :class:`~xaikit.models.OpenedModel` (random architecture weights seeded by ``seed``)."""
    from ..models import open_model

    return open_model(path=entry.path, arch=entry.arch, zoo=entry.zoo, weights=entry.weights,
                      input_size=entry.input_size, classes=entry.classes, unsafe=entry.unsafe,
                      framework=entry.framework, seed=seed)


def _labels_file(path: str | None) -> list[str] | None:
    if path is None:
        return None
    from ..labels import load_labels

    labels = load_labels(path)  # a Mapping index -> name
    return [labels.name(k) for k in range(max(labels) + 1)] if len(labels) else None


@dataclass
class _Drawn:
    """A model's seeded sample: its input (NHWC, preprocessed), display pixels, names, labels and masks."""

    x: np.ndarray
    display: np.ndarray
    names: list[str]
    preprocess: str
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None
    has_mask: np.ndarray | None = None


def _zoo_sample(entry: ModelEntry, n: int, seed: int, pool: int) -> _Drawn:
    """``n`` of the first ``pool`` test images of a zoo model (already in [0, 1]), with labels and masks."""
    from .. import zoo as zoo_module

    data = zoo_module.load_data(entry.zoo, "test", n=max(pool, n))  # type: ignore[arg-type]
    idx = _seeded_choice(len(data), n, seed)
    pixels01 = np.asarray(data.images[idx], np.float32)
    drawn = _Drawn(pixels01, pixels01, [f"{entry.zoo}:test[{i}]" for i in idx],
                   "scale255 (zoo data, already in [0, 1])", labels=data.labels[idx])
    if data.masks is not None:
        drawn.masks = data.masks[idx]
        drawn.has_mask = drawn.masks.reshape(len(idx), -1).any(axis=1)
    return drawn


def _file_sample(entry: ModelEntry, opened: Any, size: tuple[int, int], channels: int, n: int, seed: int) -> _Drawn:
    """``n`` images of the entry's folder (or synthetic shapes), preprocessed by the entry's scheme."""
    from ..preprocessing import get_scheme

    scheme_name = entry.preprocess or opened.default_preprocess or opened.family or "none"
    scheme = get_scheme(scheme_name)
    masks = has_mask = None
    if entry.images == "synthetic":
        from ..datasets import make_shapes

        data = make_shapes(n, size=size, seed=seed)
        pixels = data.images * np.float32(255.0)
        if channels == 1:
            pixels = pixels.mean(axis=-1, keepdims=True)
        names = [f"synthetic[{i}]" for i in range(n)]
        masks, has_mask = data.masks, data.masks.reshape(n, -1).any(axis=1)
    else:
        from ..io import find_images, load_images

        paths = find_images(entry.images)  # type: ignore[arg-type]
        idx = _seeded_choice(len(paths), n, seed)
        chosen = [paths[i] for i in idx]
        pixels, _ = load_images(chosen, size=size, channels=channels)
        names = [p.name for p in chosen]
        if entry.masks is not None:
            masks, has_mask = _load_masks(entry.masks, chosen, size)
            if not has_mask.any():
                raise ConfigError(f"model {entry.id!r}: no mask in {entry.masks} matches the sampled images by "
                                  f"file name (e.g. {chosen[0].stem}.png); masks are matched by file stem")
    x = scheme.forward(np.asarray(pixels, np.float32))
    display = np.clip(np.asarray(pixels, np.float32) / 255.0, 0, 1)
    return _Drawn(x, display, names, scheme_name, masks=masks, has_mask=has_mask)


def _model_info(entry: ModelEntry, opened: Any, spec: Any, size: tuple[int, int], channels: int, n_params: int,
                drawn: _Drawn, n: int, targets: np.ndarray) -> dict[str, Any]:
    """What the report says of the model: description, shapes, parameters, accuracy on the sample and on test."""
    from .. import zoo as zoo_module

    info = {"description": zoo_module.model_info(entry.zoo).description if entry.zoo else opened.source,
            "input_shape": [size[0], size[1], channels], "layout": spec.layout, "framework": spec.framework,
            "n_outputs": spec.n_outputs, "output_activation": spec.output_activation,
            "n_params": n_params, "n_images": n, "masks": drawn.masks is not None}
    if drawn.labels is not None:
        info["sample_accuracy"] = float(np.mean(targets == drawn.labels))
    if entry.zoo is not None:
        record = zoo_module.training_record(entry.zoo)
        info["test_accuracy"] = None if record is None else record.get("test_accuracy")
    return info


def prepare_model(entry: ModelEntry, *, n_images: int, seed: int, pool: int, batch_size: int) -> PreparedModel:
    """Load ``entry``'s model and draw its seeded sample of images (and masks), in the model's layout."""
    from ..kernels import to_layout
    from ..spec import resolve_score

    opened = _open(entry, seed)
    model, services = opened.model, opened.services
    h, w = opened.input_size
    if h is None or w is None:
        if entry.input_size is None:
            raise ConfigError(f"model {entry.id!r} accepts any image size; give input_size = [height, width]")
        h, w = entry.input_size
    size = (int(h), int(w))
    channels = int(opened.channels or 3)
    n = int(entry.n_images or n_images)
    if entry.zoo is not None and entry.images is None:
        drawn = _zoo_sample(entry, n, seed, pool)
    else:
        drawn = _file_sample(entry, opened, size, channels, n, seed)
    display = drawn.display
    if display.shape[-1] == 1:
        display = np.repeat(display, 3, axis=-1)
    x = to_layout(np.asarray(drawn.x, np.float32), "NHWC", opened.layout)
    spec = services.describe(model, x[:1])
    if not spec.classifier:
        raise ConfigError(f"model {entry.id!r} returns (N, {', '.join(map(str, spec.output_shape or ()))}), not "
                          "(N, K) class scores: the bench explains each image's predicted class of a classifier. "
                          "Explain this model with xaikit.explain and a score function (xaikit.targets, e.g. "
                          "Region), and score the maps with xaikit.metrics.deletion/insertion on "
                          "xaikit.metrics.target_predict (docs/targets.md).")
    scores = services.class_scores(model, x, "probability" if spec.output_activation in ("softmax", "sigmoid")
                                   else None, batch_size)
    targets = np.argmax(scores, axis=1).astype(np.int64)
    masks = drawn.masks
    sample_sha = array_digest(x) + (array_digest(masks) if masks is not None else "")
    n_params = services.parameter_count(model)
    return PreparedModel(
        entry=entry, model=model, model_id=entry.source, weights_sha=weights_digest(model),
        n_params=n_params, images=x, display=display, names=drawn.names, masks=masks, has_mask=drawn.has_mask,
        targets=targets, labels=drawn.labels, class_names=opened.class_names or _labels_file(entry.labels),
        preprocess=drawn.preprocess, sample_sha=sample_sha, default_score=resolve_score(None, spec), seed=seed,
        info=_model_info(entry, opened, spec, size, channels, n_params, drawn, len(x), targets), services=services,
        layout=spec.layout)


def _background(pm: PreparedModel, spec: int | str) -> np.ndarray:
    """The background of expected gradients as model input, in the model's layout."""
    from ..kernels import to_layout

    pixels = _background_pixels(pm, spec, pm.image_size, pm.channels)
    return to_layout(np.asarray(pixels, np.float32), "NHWC", pm.layout)


def _background_pixels(pm: PreparedModel, spec: int | str, size: tuple[int, int], channels: int) -> np.ndarray:
    """The background as model input, channels last."""
    from ..preprocessing import get_scheme

    entry = pm.entry
    h, w = size
    if isinstance(spec, str):
        from ..io import load_images

        if not os.path.exists(spec):
            raise ConfigError(f"model {entry.id!r}: background = {spec!r} does not exist")
        pixels, _ = load_images([spec], size=(h, w), channels=channels)
        scheme = get_scheme(entry.preprocess or "none") if entry.zoo is None else get_scheme("scale255")
        return scheme.forward(np.asarray(pixels, np.float32))
    n = int(spec)
    if entry.zoo is not None and entry.images is None:
        from .. import zoo

        return np.asarray(zoo.load_data(entry.zoo, "train", n=n).images, np.float32)
    scheme = get_scheme(pm.scheme)
    if entry.images == "synthetic":
        from ..datasets import make_shapes

        pixels = make_shapes(n, size=(h, w), seed=pm.seed + 1).images * np.float32(255.0)
        if channels == 1:
            pixels = pixels.mean(axis=-1, keepdims=True)
        return scheme.forward(pixels)
    from ..io import find_images, load_images

    paths = find_images(entry.images)  # type: ignore[arg-type]
    chosen = set(pm.names)
    rest = [p for p in paths if p.name not in chosen] or paths
    idx = _seeded_choice(len(rest), n, pm.seed + 1)
    pixels, _ = load_images([rest[i] for i in idx], size=(h, w), channels=channels)
    return scheme.forward(np.asarray(pixels, np.float32))
