"""The metrics' ``predict`` over a model of any framework: what the causal metrics score.

The bench and :func:`xaikit.metrics.deletion` (and the other model-querying metrics) on
one :class:`~xaikit.Explanation` build the callable the same way, here: channels-last
images in (as the metrics perturb them), the model's class scores out, sent to the model
in its own layout through its framework's :class:`~xaikit.services.ModelServices`.
The causal metrics score the probability by default (RISE's convention); a model that
returns logits (a PyTorch classifier) is scored on their softmax, computed here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import to_layout
from ._common import Predict

__all__ = ["PROBABILITY_FROM_LOGITS", "causal_score", "model_predict", "probabilities", "score_label"]

#: What the causal metrics score on a model returning logits (a PyTorch classifier) when the probability is asked:
#: the softmax of its outputs (the sigmoid of a single output unit), computed by :func:`model_predict`.
PROBABILITY_FROM_LOGITS = "probability_from_logits"


def causal_score(requested: str, output_activation: str | None) -> str:
    """The score the causal metrics use on a model whose last activation is ``output_activation`` when
    ``requested`` is asked: the probability of a model returning logits is their softmax
    (:data:`PROBABILITY_FROM_LOGITS`); a model whose activation is unknown can only be scored on its output."""
    if requested != "probability" or output_activation in ("softmax", "sigmoid"):
        return requested
    return PROBABILITY_FROM_LOGITS if output_activation == "linear" else "output"


def score_label(score: str) -> str:
    """How a metric's result names the score :func:`causal_score` chose (``"probability"`` for its softmax)."""
    return "probability" if score == PROBABILITY_FROM_LOGITS else score


def probabilities(outputs: np.ndarray) -> np.ndarray:
    """Softmax of logits ``(n, K)``; one logit unit gives the two columns ``[1 - p, p]`` with ``p = sigmoid(z)``."""
    z = np.asarray(outputs, np.float64)
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z))
        return np.concatenate([1.0 - p, p], axis=1).astype(np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def model_predict(model: Any, services: Any, layout: str, score: str, batch_size: int) -> Predict:
    """``predict(images (n, H, W, C)) -> (n, K)``: the model's ``score`` (:func:`causal_score`'s choice) for
    channels-last images, sent to the model in its ``layout`` at most ``batch_size`` at a time."""
    if score == PROBABILITY_FROM_LOGITS:
        return lambda imgs: probabilities(services.class_scores(model, to_layout(imgs, "NHWC", layout), "output",
                                                                batch_size))
    return lambda imgs: services.class_scores(model, to_layout(imgs, "NHWC", layout), score, batch_size)
