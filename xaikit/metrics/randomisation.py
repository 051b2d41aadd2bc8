"""Model-parameter randomisation sanity checks (Adebayo et al., NeurIPS 2018, and their successors).

The core is framework-free: the model is reached through a :class:`Randomizer` (which
re-initialises and restores layers) and the method through ``explain_fn``. The Keras
randomizer lives in the TensorFlow backend: ``xaikit_tensorflow.randomize.KerasRandomizer``.

This module is the family's one import path; the checks live in

- :mod:`.mprt`: the cascading check (:func:`cascading_randomisation`), the :class:`Randomizer`
  protocol, :class:`RandomisationResult` and the layer seeds (:func:`layer_seed`);
- :mod:`.mprt_variants`: its smooth and efficient variants (:func:`smooth_mprt`,
  :func:`efficient_mprt`; Hedström et al. 2023);
- :mod:`.random_logit`: the random logit test (:func:`random_logit`; Sixt et al. 2020).
"""

from __future__ import annotations

from .mprt import RandomisationResult, Randomizer, cascading_randomisation, layer_seed
from .mprt_variants import discrete_entropy, efficient_mprt, smooth_mprt, smoothing_noise
from .random_logit import random_logit

__all__ = ["Randomizer", "RandomisationResult", "cascading_randomisation", "discrete_entropy", "efficient_mprt",
           "layer_seed", "random_logit", "smooth_mprt", "smoothing_noise"]
