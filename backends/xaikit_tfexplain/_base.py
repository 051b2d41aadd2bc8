"""Shared pieces of the tf-explain adapter: the explainer base, scores, target grouping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from xaikit.errors import InputError
from xaikit.explainer import ActivationExtractor, Explainer, ModelSpec, predicted_classes, resolve_score
from xaikit.validation import check_positive_int
from xaikit_tensorflow._base import CHANNEL_REDUCTIONS, ChannelReduceMixin, KerasModelMixin, reduce_channels, versions
from xaikit_tensorflow._keras import chunks

from ._graph import TFExplainGraph, tfexplain_graph

__all__ = ["TFXExplainer", "TFXExtractorBase", "TFXChannelExplainer", "CHANNEL_REDUCTIONS", "reduce_channels",
           "chunks", "by_target", "probability_name"]


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

    backend = "tf-explain"
    #: the scores a method accepts besides None (tf-explain's own choice)
    _scores: tuple[str, ...] = ("logit", "probability", "output")

    def _info(self) -> dict[str, Any]:
        return versions("tf-explain")

    def _default_score(self, spec: ModelSpec) -> str:
        """What tf-explain differentiates when ``score`` is None (its ``model.output``)."""
        return probability_name(spec)

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        score = self._default_score(spec) if self.score is None else self.score
        if score not in self._scores:
            choices = ", ".join(map(repr, self._scores))
            raise InputError(f"{type(self).__name__} (tf-explain) explains one of {choices}; got score={score!r}.")
        if score in ("logit", "probability", "output"):
            score = resolve_score(score, spec)
        return {"batch_size": check_positive_int("batch_size", self.batch_size), "score": score}

    def _graph(self, score: str) -> TFExplainGraph:
        """The replayed graph whose output is ``score`` (``"logit"``, or the model's output)."""
        return tfexplain_graph(self._view(), "logit" if score == "logit" else "output")

    def _outputs_and_targets(self, images: np.ndarray, targets: np.ndarray | None,
                             batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        view = self._view()
        outputs = view.predict(images, batch_size)
        if targets is None:
            targets = predicted_classes(outputs, view.spec)
        return outputs, np.asarray(targets, np.int64)


class TFXChannelExplainer(ChannelReduceMixin, TFXExplainer):
    """Pixel-level methods: tf-explain reduces ``|values|`` over channels (``"abs_sum"``)."""


class TFXExtractorBase(KerasModelMixin, ActivationExtractor):
    """Base of the tf-explain activation extractor."""

    backend = "tf-explain"

    def _info(self) -> dict[str, Any]:
        return versions("tf-explain")

