"""Small but non-trivial settings for each method, shared by the contract tests of every framework
(the Keras and PyTorch test CNNs have the same layer names)."""

from __future__ import annotations

import numpy as np


def method_params(method: str, background: np.ndarray) -> dict:
    """Settings for ``method`` on the small test CNN (layers ``conv_a``, ``bn_relu``, ``pool_a``, ``conv_b``)."""
    return {
        "occlusion": {"patch_size": 4, "stride": 3},
        "gradcam": {"layer": "bn_relu"},
        "gradcam++": {},
        "vanilla_gradients": {},
        "gradient_x_input": {},
        "smoothgrad": {"n_samples": 6, "seed": 3},
        "integrated_gradients": {"steps": 8},
        "expected_gradients": {"background": background, "n_samples": 12, "seed": 4},
        "xgradcam": {"layer": "bn_relu"},
        "hirescam": {},
        "layercam": {"layer": "conv_b"},
        "scorecam": {"layer": "bn_relu"},
        "ablationcam": {"layer": "bn_relu"},
        "eigencam": {},
        "guided_backprop": {},
        "deconvnet": {},
        "guided_gradcam": {"layer": "bn_relu"},
        "vargrad": {"n_samples": 5, "seed": 3},
        "squaregrad": {"n_samples": 5, "seed": 3},
        "rise": {"n_samples": 24, "grid_size": 3, "seed": 3},
        "kernel_shap": {"n_samples": 30, "n_segments": 10, "seed": 3},
        "lime": {"n_samples": 30, "n_segments": 10, "seed": 3},
        "sobol": {"grid_size": 2, "n_designs": 4},
        "deeplift": {"baseline": 0.2},
        "deepliftshap": {"background": background[:2]},
        "lrp": {"rule": "gamma", "gamma": 0.5},
        "layer_conductance": {"layer": "pool_a", "steps": 3},
    }[method]
