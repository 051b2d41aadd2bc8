"""Faithfulness: does removing what a map calls important change the model's score?

Every metric of this family perturbs the images (pixels replaced by a baseline, or Gaussian
noise), scores the perturbed copies through ``predict`` at most ``batch_size`` at a time, and
relates the score changes to the attributions. One value per image; random draws come
from streams keyed by ``(seed, image, sample)`` (:func:`~._common.stream`), so a value
does not depend on ``batch_size`` and the seed is recorded in ``params``.

A *feature* is a pixel: all channels of a pixel are removed together (the maps are
``(N, H, W)``). Quantus broadcasts a one-channel map over the channels and treats every
(channel, pixel) value as a feature; on one-channel images the two agree exactly (the
parity tests run there). The related :func:`~.deletion.deletion`, :func:`~.deletion.insertion`
and :func:`~.fidelity.mu_fidelity` live in their own modules; ROAD in :mod:`.road`.

This module is the family's one import path; the metrics live by how they perturb:

- :mod:`.random_perturbation`: random subsets or Gaussian noise (:func:`faithfulness_correlation`,
  :func:`sensitivity_n`, :func:`infidelity`);
- :mod:`.ordered_removal`: pixels in the map's order, a few at a time (:func:`faithfulness_estimate`,
  :func:`monotonicity`, :func:`monotonicity_correlation`, :func:`pixel_flipping`);
- :mod:`.region_removal`: patches and super-pixels (:func:`region_perturbation`, :func:`selectivity`,
  :func:`irof`);
- :mod:`._removal`: what they share (:class:`CurveResult`, the removal of pixels to the baseline).
"""

from __future__ import annotations

from ._removal import CurveResult
from .ordered_removal import faithfulness_estimate, monotonicity, monotonicity_correlation, pixel_flipping
from .random_perturbation import faithfulness_correlation, infidelity, random_subset, sensitivity_n
from .region_removal import irof, region_perturbation, selectivity, superpixels

__all__ = ["CurveResult", "faithfulness_correlation", "faithfulness_estimate", "infidelity", "irof", "monotonicity",
           "monotonicity_correlation", "pixel_flipping", "random_subset", "region_perturbation", "selectivity",
           "sensitivity_n", "superpixels"]
