"""Quality metrics for attribution maps, framework-free (NumPy and OpenCV only).

The model is seen through a plain callable ``predict(images (n, H, W, C) float32) ->
(n, K)`` of class scores; metrics that call it take a ``batch_size`` and never send
more images at once. Maps are ``(N, H, W)`` at input resolution; masks are boolean
``(N, H, W)``. Every metric returns one value per image.

Faithfulness (query the model; each also takes ``metric(explanation, model, images=None, **params)``,
with ``predict`` built from the model as the bench builds it: :mod:`xaikit.metrics.explained`)
    :func:`deletion`, :func:`insertion` (RISE), :func:`mu_fidelity` (Bhatt et al.),
    :func:`faithfulness_correlation`, :func:`faithfulness_estimate`, :func:`monotonicity`,
    :func:`monotonicity_correlation`, :func:`pixel_flipping`, :func:`region_perturbation`
    (AOPC), :func:`selectivity`, :func:`irof`, :func:`sensitivity_n`, :func:`infidelity`,
    :func:`road` (ROAD, MoRF/LeRF)
Robustness (re-run the method on perturbed inputs through ``explain_fn``)
    :func:`max_sensitivity`, :func:`avg_sensitivity`, :func:`local_lipschitz_estimate`,
    :func:`relative_input_stability`, :func:`relative_output_stability`, :func:`continuity`
Localisation (ground-truth masks)
    :func:`pointing_game` (Zhang et al.), :func:`energy_pointing_game` (Score-CAM),
    :func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy`,
    :func:`attribution_localisation`, :func:`top_k_intersection`, :func:`localisation_auc`
Complexity and axioms
    :func:`sparseness` (Gini), :func:`complexity` (entropy), :func:`effective_complexity`,
    :func:`completeness`, :func:`non_sensitivity`, :func:`input_invariance`
Agreement between maps
    :func:`spearman`, :func:`topk_iou`, :func:`ssim`, :func:`agreement_table`
Targets
    :func:`target_predict`: a score function (:mod:`xaikit.targets`, e.g. a segmentation
    region) as the one column the faithfulness metrics watch (``targets=0``)
Sanity check
    :func:`cascading_randomisation` (Adebayo et al.) with a :class:`Randomizer`
    (Keras: ``xaikit_tensorflow.randomize.KerasRandomizer``), its smooth and efficient
    variants :func:`smooth_mprt`, :func:`efficient_mprt` (Hedström et al. 2023);
    :func:`random_logit` (Sixt et al.)

Which definitions agree with Quantus and Captum, and which differ and why: docs/evaluation.md.
"""

from __future__ import annotations

from . import axioms as _axioms
from . import deletion as _deletion
from . import faithfulness as _faithfulness
from . import fidelity as _fidelity
from . import road as _road
from ._common import MetricResult
from .agreement import AGREEMENT_METRICS, AgreementTable, agreement_table, spearman, ssim, topk_iou
from .axioms import input_invariance
from .complexity import complexity, effective_complexity, sparseness
from .deletion import CausalCurve
from .explained import explanation_metric, takes_explanation
from .faithfulness import CurveResult
from .localisation import (
    attribution_localisation,
    energy_pointing_game,
    localisation_auc,
    pointing_game,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    top_k_intersection,
)
from .randomisation import (
    RandomisationResult,
    Randomizer,
    cascading_randomisation,
    efficient_mprt,
    random_logit,
    smooth_mprt,
)
from .road import RoadResult
from .robustness import (
    avg_sensitivity,
    continuity,
    local_lipschitz_estimate,
    max_sensitivity,
    relative_input_stability,
    relative_output_stability,
)
from .target_scores import target_predict

# The metrics that query the model also take one explanation and its model: metric(explanation, model, images=...)
deletion = takes_explanation(_deletion.deletion)
insertion = takes_explanation(_deletion.insertion)
mu_fidelity = takes_explanation(_fidelity.mu_fidelity)
faithfulness_correlation = takes_explanation(_faithfulness.faithfulness_correlation)
faithfulness_estimate = takes_explanation(_faithfulness.faithfulness_estimate)
infidelity = takes_explanation(_faithfulness.infidelity)
irof = takes_explanation(_faithfulness.irof)
monotonicity = takes_explanation(_faithfulness.monotonicity)
monotonicity_correlation = takes_explanation(_faithfulness.monotonicity_correlation)
pixel_flipping = takes_explanation(_faithfulness.pixel_flipping)
region_perturbation = takes_explanation(_faithfulness.region_perturbation)
selectivity = takes_explanation(_faithfulness.selectivity)
sensitivity_n = takes_explanation(_faithfulness.sensitivity_n)
road = takes_explanation(_road.road)
completeness = takes_explanation(_axioms.completeness)
non_sensitivity = takes_explanation(_axioms.non_sensitivity)

__all__ = [
    "AGREEMENT_METRICS",
    "AgreementTable",
    "CausalCurve",
    "CurveResult",
    "MetricResult",
    "RandomisationResult",
    "Randomizer",
    "RoadResult",
    "agreement_table",
    "attribution_localisation",
    "avg_sensitivity",
    "cascading_randomisation",
    "completeness",
    "complexity",
    "continuity",
    "deletion",
    "effective_complexity",
    "efficient_mprt",
    "energy_pointing_game",
    "explanation_metric",
    "faithfulness_correlation",
    "faithfulness_estimate",
    "infidelity",
    "input_invariance",
    "insertion",
    "irof",
    "local_lipschitz_estimate",
    "localisation_auc",
    "max_sensitivity",
    "monotonicity",
    "monotonicity_correlation",
    "mu_fidelity",
    "non_sensitivity",
    "pixel_flipping",
    "pointing_game",
    "random_logit",
    "region_perturbation",
    "relative_input_stability",
    "relative_output_stability",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "road",
    "selectivity",
    "sensitivity_n",
    "smooth_mprt",
    "sparseness",
    "spearman",
    "ssim",
    "takes_explanation",
    "target_predict",
    "top_k_intersection",
    "topk_iou",
]
