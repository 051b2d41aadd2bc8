"""Shared pieces of the tf-explain adapter: the explainer base, scores, target grouping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from xaikit_tensorflow.adapters import KerasModelMixin, versions

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError
from xaikit.explainer import ActivationExtractor, Explainer, ModelSpec
from xaikit.kernels import chunks, reduce_channels

from ._graph import TFExplainGraph, tfexplain_graph

__all__ = ["TFXExplainer", "TFXExtractorBase", "ABS_SUM", "reduce_channels", "chunks", "by_target",
           "probability_name", "score_param"]

#: tf-explain reduces ``|values|`` over channels.
ABS_SUM = SHARED["channel_reduce"].with_default("abs_sum")


def score_param(*choices: str, doc: str) -> Param:
    """The ``score`` parameter of an adapter whose tf-explain function explains its own quantity."""
    return Param("score", "score", None, doc, choices=choices, nullable="tf-explain's own score")


def by_target(targets: np.ndarray, indices: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(class, image indices)`` groups: tf-explain takes one ``class_index`` per call, for the whole batch."""
    indices = np.arange(len(targets)) if indices is None else indices
    for c in np.unique(targets[indices]):
        yield int(c), indices[targets[indices] == c]


def probability_name(spec: ModelSpec) -> str:
    """xaikit's name of the model's own output: ``"probability"`` after softmax/sigmoid, else ``"output"``."""
    return "probability" if spec.output_activation in ("softmax", "sigmoid") else "output"


class TFXExplainer(KerasModelMixin, Explainer):
    """Base of the tf-explain adapters.

    Subclasses call tf-explain's own lower-level functions on the graph returned by
    :meth:`_graph` (see :mod:`xaikit_tfexplain._graph`) and return per-image raw float
    attributions; tf-explain's ``explain()`` (batch-wide normalisation, uint8 grid) is
    never used.
    """

    score_function_refusal = ("tf-explain's explainers take a class index (class_index) and compute that class's "
                              "score themselves, with no place for a function of the output. Use the native "
                              "'tensorflow' backend, which takes score functions for every method.")

    backend = "tf-explain"

    def _info(self) -> dict[str, Any]:
        return versions("tf-explain")

    def _describe(self, images: np.ndarray) -> ModelSpec:
        """The native description; a model taking channels-first images is refused.

        tf-explain's functions read every image and activation as Keras' ``(N, H, W, C)``
        (occlusion's patches and Grad-CAM's resize on axes 1-2, channel reductions on the
        last axis): on ``(N, C, H, W)`` images they gave ``(N, C, H)`` maps or failed.
        """
        spec = super()._describe(images)
        if spec.layout != "NHWC":
            shape = tuple(images.shape[1:])
            raise InputError(f"tf-explain reads images channels last (N, H, W, C), but this Keras model takes them "
                             f"channels first (its input {shape} is read as C x H x W): its maps would be of the "
                             "wrong axes. Use backend='tensorflow' (every layout), or, if the input is in fact "
                             "channels last, say so with xaikit_tensorflow.declare_layout(model, 'NHWC').")
        return spec

    def _default_score(self, spec: ModelSpec) -> str | None:
        """What tf-explain differentiates when ``score`` is None (its ``model.output``)."""
        return probability_name(spec)

    def _graph(self, score: str) -> TFExplainGraph:
        """The replayed graph whose output is ``score`` (``"logit"``, or the model's output)."""
        return tfexplain_graph(self._view(), "logit" if score == "logit" else "output")


class TFXExtractorBase(KerasModelMixin, ActivationExtractor):
    """Base of the tf-explain activation extractor."""

    backend = "tf-explain"

    def _info(self) -> dict[str, Any]:
        return versions("tf-explain")

