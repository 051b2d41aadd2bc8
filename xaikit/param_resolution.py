"""Parameter resolution: every parameter of an explainer validated from its schema, once per call.

:class:`ParamResolution` (a base of :class:`~xaikit.Explainer`) turns the stored
parameters into the effective values a result records: the score resolved against the
model, the layer checked (or the method's default), baselines and image parameters
recorded by shape and checksum, the layer layouts resolved. Subclasses extend
``_resolve_params`` with derived values (keys starting with ``_`` are internals).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .configurable import Configurable
from .errors import InputError
from .kernels import resolve_baseline
from .result_format import describe_array
from .spec import SCORES, ModelSpec, default_cam_layer, resolve_score
from .validation import check_images

__all__ = ["ParamResolution", "baseline_record"]


class ParamResolution(Configurable):
    """The resolution of an explainer's parameters (see the module docstring)."""

    per_image_baseline: ClassVar[bool] = False
    backend: ClassVar[str]

    def _default_score(self, spec: ModelSpec) -> str | None:
        """What ``score=None`` means: ``None`` is the core's rule (:func:`~xaikit.spec.resolve_score`).

        An adapter whose library explains something else by default (tf-explain and shap
        explain the model's output as it is) returns that score.
        """
        return None

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        """Validate every parameter from its schema and return the effective values.

        Subclasses call ``super()._resolve_params`` and add derived values. Keys starting
        with ``_`` carry resolved internals (e.g. a baseline broadcast to the image shape)
        to ``_attribute`` and are not recorded in the result.
        """
        params: dict[str, Any] = {}
        for name, p in self.param_table().items():
            value = getattr(self, name)
            if p.kind == "score":
                chosen = self._default_score(spec) if value is None else p.check(value)
                # a model score is checked against the model; a library's own score (tf-explain's
                # "cross_entropy_loss") was checked against the adapter's choices
                params[name] = resolve_score(chosen, spec) if chosen is None or chosen in SCORES else chosen
            elif p.kind == "layer":
                params[name] = self._resolve_layer(value, spec, images)
            elif p.kind == "baseline":
                base, record = resolve_baseline(value, images, -1 if spec.layout == "NHWC" else 0, name=name)
                if base.ndim == images.ndim and not self.per_image_baseline:
                    raise InputError(f"{self.method} ({self.backend}) takes one {name} for every image; "
                                     f"{name}={_short(value)} gives one per image. Pass a number, one value per "
                                     f"channel, one image or {{'mean': references}} (a reference set's mean image); "
                                     f"a blurred baseline per image is supported by: integrated_gradients.")
                params[name] = baseline_record(record)
                params["_" + name] = base
            elif p.kind == "images":
                arr = check_images(p.check(value), expected_shape=tuple(images.shape[1:]), layout=spec.layout,
                                   name=name)
                params[name] = describe_array(arr)
                params["_" + name] = arr
            else:
                params[name] = p.check(value)
        if "layer_layout" in params and isinstance(params.get("layer"), list):  # several layers (the CAMs)
            layouts = [spec.layer_layout(layer, params["layer_layout"]) for layer in params["layer"]]
            params["_layouts"] = layouts
            params["layer_layout"] = [layout.name for layout in layouts]
            params["layer_grid"] = [list(layout.grid) for layout in layouts]
        elif "layer_layout" in params and params.get("layer") is not None:
            layout = spec.layer_layout(params["layer"], params["layer_layout"])
            params["_layout"] = layout
            params["layer_layout"] = layout.name  # recorded: which tokens were dropped ("tokens:1")
            params["layer_grid"] = list(layout.grid)
        return params

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        """The effective ``layer``: checked against the model, or the method's default for None."""
        mode = self.schema().layer
        if layer is None:
            return default_cam_layer(spec, self.method) if mode == "auto" else None
        return spec.check_layer(layer, spatial=True, method=self.method)

    def _layer_of_params(self, params: Mapping[str, Any]) -> str | None:
        return params.get("layer")


def baseline_record(record: Any) -> Any:
    """How a result records a resolved baseline: arrays by shape and checksum (a reference set too), never by value."""
    if isinstance(record, np.ndarray):
        return describe_array(record)
    if isinstance(record, dict):
        return {k: describe_array(v) if isinstance(v, np.ndarray) else v for k, v in record.items()}
    return record


def _short(value: Any) -> str:
    return f"array{tuple(value.shape)}" if isinstance(value, np.ndarray) else repr(value)

