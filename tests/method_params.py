"""Small but non-trivial settings for each method, shared by the contract tests of every framework
(the Keras and PyTorch test CNNs have the same layer names): each method's ``example_params``, declared with it."""

from __future__ import annotations

import numpy as np

from xaikit.catalogue import get_method


def method_params(method: str, background: np.ndarray) -> dict:
    """Settings for ``method`` on the small test CNN (layers ``conv_a``, ``bn_relu``, ``pool_a``, ``conv_b``)."""
    return get_method(method).examples(background)
