"""Quality metrics for attribution maps, framework-free (NumPy and OpenCV only).

The model is seen through a plain callable ``predict(images (n, H, W, C) float32) ->
(n, K)`` of class scores; metrics that call it take a ``batch_size`` and never send
more images at once. Maps are ``(N, H, W)`` at input resolution; masks are boolean
``(N, H, W)``. Every metric returns one value per image.

Faithfulness (query the model)
    :func:`deletion`, :func:`insertion` (RISE), :func:`mu_fidelity` (Bhatt et al.)
Localisation
    :func:`pointing_game` (Zhang et al.), :func:`energy_pointing_game` (Score-CAM)
Complexity
    :func:`sparseness` (Gini), :func:`complexity` (entropy)
Agreement between maps
    :func:`spearman`, :func:`topk_iou`, :func:`ssim`, :func:`agreement_table`
Targets
    :func:`target_predict`: a score function (:mod:`xaikit.targets`, e.g. a segmentation
    region) as the one column the faithfulness metrics watch (``targets=0``)
Sanity check
    :func:`cascading_randomisation` (Adebayo et al.) with a :class:`Randomizer`
    (Keras: ``xaikit_tensorflow.randomize.KerasRandomizer``)
"""

from __future__ import annotations

from ._common import MetricResult
from .agreement import AGREEMENT_METRICS, AgreementTable, agreement_table, spearman, ssim, topk_iou
from .complexity import complexity, sparseness
from .deletion import CausalCurve, deletion, insertion
from .fidelity import mu_fidelity
from .localisation import energy_pointing_game, pointing_game
from .randomisation import RandomisationResult, Randomizer, cascading_randomisation
from .target_scores import target_predict

__all__ = [
    "AGREEMENT_METRICS",
    "AgreementTable",
    "CausalCurve",
    "MetricResult",
    "RandomisationResult",
    "Randomizer",
    "agreement_table",
    "cascading_randomisation",
    "complexity",
    "deletion",
    "energy_pointing_game",
    "insertion",
    "mu_fidelity",
    "pointing_game",
    "sparseness",
    "spearman",
    "ssim",
    "target_predict",
    "topk_iou",
]
