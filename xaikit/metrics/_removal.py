"""What the faithfulness metrics share: their curve result and the removal of pixels to a baseline.

The metrics (:mod:`.random_perturbation`, :mod:`.ordered_removal`, :mod:`.region_removal`;
one import path for all: :mod:`.faithfulness`) check their inputs with
:func:`~._common.perturbation_setup`, build the perturbed copies with :func:`replace_pixels`
and record :func:`removal_params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_positive_int
from ._common import MetricResult, PerturbationSetup, describe_fill, fill_rows

__all__ = ["CurveResult", "feature_steps", "removal_params", "replace_pixels"]


@dataclass(frozen=True, eq=False)
class CurveResult(MetricResult):
    """A metric summarising a per-image curve.

    Attributes
    ----------
    curves : numpy.ndarray
        float64 ``(N, S)``: the curve of each image (what it holds is in the metric's docstring).
    """

    curves: np.ndarray



def replace_pixels(s: PerturbationSetup, rows: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Images ``rows`` with the pixels where ``removed`` (``(b, H*W)`` bool) set to the baseline."""
    b = len(rows)
    _, h, w, _ = s.x.shape
    return np.where(removed.reshape(b, h, w, 1), fill_rows(s.fill, rows), s.x[rows])


def feature_steps(n_pixels: int, features_in_step: Any) -> tuple[int, int]:
    """``features_in_step`` checked (1 to ``n_pixels``) and the number of steps it takes to cover the pixels."""
    step = check_positive_int("features_in_step", features_in_step, maximum=n_pixels)
    return step, math.ceil(n_pixels / step)


def removal_params(s: PerturbationSetup, baseline: Any) -> dict[str, Any]:
    """The parameters every removal metric records: baseline, batch size and score label."""
    return {"baseline": describe_fill(baseline), "batch_size": s.batch_size, "score": s.score}
