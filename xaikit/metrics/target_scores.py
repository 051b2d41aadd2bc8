"""The metrics' ``predict`` for a target: a model and a score function as one column of scores.

The faithfulness metrics (:func:`~xaikit.metrics.deletion`, :func:`~xaikit.metrics.insertion`,
:func:`~xaikit.metrics.mu_fidelity`) watch a score change as pixels are removed; with a
score function (:mod:`xaikit.targets`, e.g. a :class:`~xaikit.targets.Region` of a
segmentation model) that score is the function's value. :func:`target_predict` gives
them a ``predict`` returning it as the single column 0 (pass ``targets=0``,
``score="function"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from ..kernels import to_layout
from ..registry import services_for

__all__ = ["target_predict"]


def target_predict(model: Any, target: Callable[[Any], Any], *, batch_size: int = 32
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """``predict(images (n, H, W, C) float32) -> (n, 1)``: ``target`` of the model's raw output for each image.

    Parameters
    ----------
    model
        A model of any installed native backend (Keras, PyTorch, a black box).
    target : callable
        A score function in the model's framework (:mod:`xaikit.targets`).
    batch_size : int
        Largest batch sent to the model at once.

    Returns
    -------
    callable
        Channels-last images (as the metrics perturb them) in, scores ``(n, 1)`` out;
        the images are laid out as the model takes them.
    """
    if not callable(target):
        raise InputError(f"target must be a score function (xaikit.targets); got {target!r}. For class indices, "
                         "give the metrics the model's class scores and targets= the classes.")
    services = services_for(model)

    def predict(images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, np.float32)
        layout = services.describe(model, None).layout
        return services.class_scores(model, to_layout(x, "NHWC", layout), target, batch_size)

    return predict
