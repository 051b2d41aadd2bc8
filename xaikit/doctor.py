"""Which methods work on a model: every catalogue method run once, with small settings (``xaikit doctor``).

:func:`check_model` explains one image (random unless given) with every method the
backend offers and sorts each into

- ``ok`` -- a map that varies over the image;
- ``refused`` -- xaikit said why the method cannot apply (an :class:`~xaikit.XaikitError`:
  no spatial layer for a CAM, no ReLU for guided backpropagation, no attention weights);
- ``failed`` -- anything else: an unexpected error, or a map that is the same at every
  pixel (a constant map explains nothing; the detail says which);
- ``skipped`` -- not run because it would cost more passes than asked for
  (``max_channels``: Score-CAM and Ablation-CAM run the model once per channel).

together with the default CAM layer. The settings are the catalogue's warm-up settings
(:meth:`~xaikit.catalogue.MethodSchema.warmup_params`: the fewest samples, steps and
windows that still run every code path), so the report says whether a method *runs*,
not how good its maps are. ``docs/architectures.py`` runs it over the architectures of
the "Supported architectures" page.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._api import get_explainer
from .catalogue import METHODS
from .errors import XaikitError
from .registry import backend_for_model, check_backend_takes, get_backend, services_for
from .spec import default_cam_layer

__all__ = ["DoctorReport", "DoctorRow", "STATUSES", "check_model", "small_params"]

STATUSES = ("ok", "refused", "failed", "skipped")

#: Methods that run the model once per channel of their layer (what ``max_channels`` bounds).
PER_CHANNEL = ("scorecam", "ablationcam")


@dataclass(frozen=True)
class DoctorRow:
    """One method on one model.

    Attributes
    ----------
    method, backend : str
    status : str
        ``"ok"``, ``"refused"``, ``"failed"`` or ``"skipped"``.
    detail : str
        Why it was refused or failed (the first line of the message); the layer used when ok.
    seconds : float
        Wall time of the call.
    """

    method: str
    backend: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class DoctorReport:
    """What :func:`check_model` found.

    Attributes
    ----------
    model : str
        The model's name.
    backend : str
        The backend the methods ran on.
    default_layer : str
        The default CAM layer, or why there is none.
    rows : list of DoctorRow
    image_shape : tuple
        The shape of the image explained (model layout).
    """

    model: str
    backend: str
    default_layer: str
    image_shape: tuple[int, ...]
    rows: list[DoctorRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        return {s: sum(r.status == s for r in self.rows) for s in STATUSES}

    def to_text(self) -> str:
        """The report as aligned plain text (what ``xaikit doctor`` prints)."""
        width = max([len(r.method) for r in self.rows] + [6])
        lines = [f"model {self.model} ({self.backend} backend), image {self.image_shape}",
                 f"default CAM layer: {self.default_layer}", ""]
        for r in self.rows:
            lines.append(f"  {r.method:<{width}}  {r.status:<7}  {r.seconds:6.2f} s  {r.detail}".rstrip())
        counts = self.counts()
        lines += ["", ", ".join(f"{n} {s}" for s, n in counts.items())]
        return "\n".join(lines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def small_params(method: str, images: np.ndarray, image_size: tuple[int, int], accepted: Sequence[str]
                 ) -> dict[str, Any]:
    """The cheapest settings that run every code path of ``method`` (the catalogue's warm-up settings)."""
    schema = METHODS[method]
    params = schema.warmup_params({}, image_size)
    if "background" in accepted:  # another image: the explained one would give x - r = 0
        params["background"] = np.random.default_rng(1).random(images.shape, dtype=np.float32)
    if method in ("kernel_shap", "lime"):
        params.update(n_samples=8, segmentation="grid", n_segments=4)
    if method == "occlusion":  # four windows (one window the size of the image would give a constant map)
        params.update(patch_size=[max(1, image_size[0] // 2), max(1, image_size[1] // 2)])
        params.pop("stride", None)
    if method == "sobol":  # a 2x2 grid (one cell would give a constant map)
        params.update(grid_size=2, n_designs=8)
    if "seed" in accepted:
        params["seed"] = 0
    return {k: v for k, v in params.items() if k in accepted}


def _constant(maps: np.ndarray) -> str:
    flat = maps.reshape(len(maps), -1)
    spread = flat.max(axis=1) - flat.min(axis=1)
    if np.all(spread == 0):
        value = float(flat[0, 0])
        return "constant map (all zero)" if value == 0 else f"constant map (every pixel {value:g})"
    return ""


def check_model(model: Any, images: Any = None, *, backend: str = "auto", methods: Sequence[str] | None = None,
                image_size: tuple[int, int] = (64, 64), channels: int = 3, seed: int = 0,
                output: Any = None, max_channels: int | None = None) -> DoctorReport:
    """Run every method ``backend`` offers (or ``methods``) once on ``model`` and report what happened.

    Parameters
    ----------
    model
        The model, in any framework xaikit has a backend for.
    images : array-like, optional
        One or a few images in the model's layout; default: one uniform random image of
        the model's declared input size (else ``image_size`` with ``channels``).
    backend : str
        ``"auto"`` (the model's native backend) or a backend id (an adapter).
    methods : sequence of str, optional
        The methods to run (default: every attribution method the backend offers).
    image_size, channels : optional
        The random image's size and channels when the model declares none.
    seed : int
        Seed of the random image and of random methods.
    output : None, int or str
        The ``output=`` selection of models returning several outputs.
    max_channels : int, optional
        Skip the per-channel methods (:data:`PER_CHANNEL`) when the default layer has more
        channels (each channel is a forward pass); None runs them whatever the count.

    Returns
    -------
    DoctorReport
    """
    name = backend_for_model(model) if backend == "auto" else backend
    if backend != "auto":
        check_backend_takes(model, backend)
    services = services_for(model)
    if images is None:
        static = services.describe(services.with_output(model, output), None)  # what the model declares
        height, width = (static.input_shape[0], static.input_shape[1]) if static.layout == "NHWC" else \
            (static.input_shape[1], static.input_shape[2])
        c = static.channels or channels
        h, w = (height or image_size[0], width or image_size[1])
        shape = (h, w, c) if static.layout == "NHWC" else (c, h, w)
        images = np.random.default_rng(seed).random((1, *shape), dtype=np.float32)
    images = np.asarray(images, np.float32)
    channels = None
    try:
        spec = services.describe(services.with_output(model, output), images)
        model_name = spec.name
        default_layer = default_cam_layer(spec, "gradcam")
        channels = spec.layer_channels(default_layer)
    except XaikitError as exc:
        default_layer, model_name = f"none ({_first_line(exc)})", type(model).__name__
    size = (images.shape[1], images.shape[2]) if services.describe(model, None).layout == "NHWC" else \
        (images.shape[2], images.shape[3])
    chosen = [m for m in (methods or get_backend(name).offered()) if METHODS[m].kind == "attribution"]
    report = DoctorReport(model_name, name, default_layer, tuple(images.shape[1:]))
    for method in chosen:
        if method in PER_CHANNEL and max_channels is not None and channels is not None and channels > max_channels:
            report.rows.append(DoctorRow(method, name, "skipped", f"{channels} channels: {channels + 1} forward passes "
                                         f"(more than max_channels={max_channels})"))
            continue
        start = time.perf_counter()
        try:
            explainer = get_explainer(model, method, backend=name, output=output)
            params = small_params(method, images, size, explainer.param_names())
            explainer.set_params(**params)
            exp = explainer.explain(images)
            problem = _constant(exp.attributions)
            status, detail = ("failed", problem) if problem else ("ok", f"layer {exp.layer}" if exp.layer else "")
        except XaikitError as exc:
            status, detail = "refused", _first_line(exc)
        except Exception as exc:  # noqa: BLE001 - a report of what breaks, by design
            where = traceback.extract_tb(exc.__traceback__)[-1]
            status, detail = "failed", f"{type(exc).__name__}: {_first_line(exc)} ({where.filename}:{where.lineno})"
        report.rows.append(DoctorRow(method, name, status, detail, time.perf_counter() - start))
    return report
