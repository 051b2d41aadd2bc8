"""Metrics of one :class:`~xaikit.Explanation` and its model, without a bench (as Xplique's metrics take them).

Every metric that queries the model through ``predict`` (deletion, insertion, MuFidelity,
the faithfulness family, ROAD, completeness...) also takes ``metric(explanation, model,
images=None, **params)``: the maps, their targets and the images' layout come from the
explanation, and ``predict`` is built from the model exactly as the bench builds it
(:func:`xaikit.metrics.model_scores.model_predict`): the probability by default, the
softmax of the logits of a model that returns logits. So the value is the bench's value
for the same maps and images.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ..catalogue import METHODS
from ..errors import InputError
from ..explanation import Explanation
from ..kernels import to_layout
from ..preprocessing import is_input_value, resolve_input_values
from ..registry import load_model, services_for
from ..validation import check_choice, check_images, check_positive_int
from ._common import MetricResult
from .model_scores import causal_score, model_predict, score_label

__all__ = ["MAGNITUDE_METHODS", "MAP_TRANSFORMS", "explanation_metric", "takes_explanation", "transform_maps"]

#: Methods whose sign is mostly noise: ``map_transform="auto"`` gives the metrics |map| (the bench's rule).
MAGNITUDE_METHODS = tuple(m for m, s in METHODS.items() if s.view == "magnitude")
#: How maps reach the metrics: ``"auto"`` (|map| for :data:`MAGNITUDE_METHODS`), ``"abs"``, ``"signed"``.
MAP_TRANSFORMS = ("auto", "abs", "signed")
#: Scores the causal metrics can watch (:func:`~xaikit.metrics.model_scores.causal_score`).
_REQUESTABLE = ("probability", "logit", "output")


def transform_maps(maps: np.ndarray, method: str, mode: str) -> tuple[np.ndarray, str]:
    """Maps as the metrics see them, and the name of the transform applied (``"abs"`` or ``"signed"``)."""
    if mode == "abs" or (mode == "auto" and method in MAGNITUDE_METHODS):
        return np.abs(maps), "abs"
    return maps, "signed"


def _open_model(model: Any) -> Any:
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)  # an .onnx file; files that carry code are refused with the reason
    if not callable(model):
        raise InputError(f"model must be the model the explanation was computed on (a Keras model, a torch module, "
                         f"a function images -> (N, K) scores, an .onnx path); got {type(model).__name__}. Call "
                         f"metric(explanation, model, images=...); for precomputed scores use the array form "
                         f"metric(predict, images, explanation.attributions, explanation.targets).")
    return model


def _images_of(exp: Explanation, images: Any) -> np.ndarray:
    if images is None:
        kept = exp.preview_images
        if kept is None or len(kept) != len(exp):
            held = "none" if kept is None else f"only the first {len(kept)}"
            raise InputError(f"the explanation keeps {held} of its {len(exp)} image(s); pass images= the images it "
                             f"explained, as given to xaikit.explain (in the model's layout, {exp.layout}).")
        return check_images(kept, layout=exp.layout)
    x = check_images(images, layout=exp.layout)
    if len(x) != len(exp):
        raise InputError(f"images has {len(x)} image(s) but the explanation has {len(exp)} map(s): pass the images "
                         f"the explanation was computed on (or select maps to match, e.g. explanation[:{len(x)}]).")
    size = x.shape[1:3] if exp.layout == "NHWC" else x.shape[2:4]
    if tuple(size) != tuple(exp.shape[1:]):
        raise InputError(f"images are {size[0]} x {size[1]} ({exp.layout}) but the maps are {exp.shape[1]} x "
                         f"{exp.shape[2]}: pass the images the explanation was computed on, in the model's layout.")
    return x


def explanation_metric(metric: Callable[..., Any], exp: Explanation, model: Any, images: Any = None, *,
                       score: str = "probability", map_transform: str = "auto", batch_size: int = 32,
                       **params: Any) -> Any:
    """``metric`` of ``exp``'s maps on ``model``, with ``predict`` built as the bench builds it.

    Parameters
    ----------
    metric : callable
        An array-level metric ``metric(predict, images, attributions, targets, *, batch_size, score, ...)``.
    exp : Explanation
        The maps to score, with the targets they explain and the images' layout.
    model
        The model the explanation was computed on: anything :func:`xaikit.explain` takes, or an ``.onnx`` path.
    images : array-like, optional
        The explained images as given to :func:`xaikit.explain` (the model's layout). Needed unless the
        explanation keeps every image it explained (:attr:`~xaikit.Explanation.preview_images`: up to 4).
    score : {"probability", "logit", "output"}
        What the metric watches; ``"probability"`` (the bench's default) is the softmax of the logits of a model
        that returns logits. The result's ``params["scored"]`` says what was computed.
    map_transform : {"auto", "abs", "signed"}
        ``"auto"``: ``|map|`` for methods whose sign is noise (vanilla gradients, SmoothGrad...), as the bench.
    batch_size : int
        Largest number of images sent to the model at once.
    **params
        The metric's own parameters. Values in pixels (``{"pixel": "grey"}``) are turned into input units with
        the preprocessing the explanation records.

    Returns
    -------
    Whatever ``metric`` returns (a :class:`~xaikit.metrics.MetricResult` subclass for these metrics), its
    ``params`` extended with ``scored``, ``map_transform`` and the explanation's ``method`` and ``backend``.
    """
    if "targets" in params or "attributions" in params:
        raise InputError("targets and attributions come from the explanation (explanation.targets, "
                         "explanation.attributions); to score other ones, use the array form "
                         "metric(predict, images, attributions, targets).")
    if exp.target is not None:
        raise InputError(f"the explanation explains a score function ({exp.target}); score it with the array form: "
                         "metric(xaikit.metrics.target_predict(model, target), images_nhwc, explanation.attributions, "
                         "0, score='function') (docs/targets.md).")
    check_choice("score", score, _REQUESTABLE)
    check_choice("map_transform", map_transform, MAP_TRANSFORMS)
    batch_size = check_positive_int("batch_size", batch_size)
    model = _open_model(model)
    x = _images_of(exp, images)
    services = services_for(model)
    spec = services.describe(model, x[:1])
    if spec.layout != exp.layout:
        raise InputError(f"the explanation's images were {exp.layout} but this model takes {spec.layout}: pass the "
                         "model the explanation was computed on.")
    if any(is_input_value(v) for v in params.values()):
        params = resolve_input_values(params, exp.info.get("preprocess"), spec.channels or 3)
    scored = causal_score(score, spec.output_activation)
    predict = model_predict(model, services, spec.layout, scored, batch_size)
    maps, transform = transform_maps(exp.attributions, exp.method, map_transform)
    res = metric(predict, to_layout(x, exp.layout, "NHWC"), maps, exp.targets, batch_size=batch_size,
                 score=score_label(scored), **params)
    record = {"scored": scored, "map_transform": transform, "method": exp.method, "backend": exp.backend}
    if isinstance(res, MetricResult):
        return replace(res, params={**res.params, **record})
    return res


def takes_explanation(metric: Callable[..., Any]) -> Callable[..., Any]:
    """``metric`` also callable as ``metric(explanation, model, images=None, **params)`` (:func:`explanation_metric`).

    The array form ``metric(predict, images, attributions, targets, ...)`` is unchanged.
    """
    @functools.wraps(metric)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], Explanation):
            return explanation_metric(metric, *args, **kwargs)
        if "explanation" in kwargs:
            return explanation_metric(metric, kwargs.pop("explanation"), *args, **kwargs)
        return metric(*args, **kwargs)

    wrapper.__doc__ = (metric.__doc__ or "") + _FORM_NOTE
    return wrapper


_FORM_NOTE = """
    On one explanation: ``metric(explanation, model, images=None, *, score="probability",
    map_transform="auto", batch_size=32, **params)`` scores the explanation's maps for its
    targets, with ``predict`` built from ``model`` as the bench builds it (see
    :func:`xaikit.metrics.explained.explanation_metric`).
"""
