"""Class activation maps from a layer's activations and the target's gradient at them (NumPy).

Arrays are channels-last ``(N, h, w, C)``; a CAM variant only computes channel weights
(as pytorch-grad-cam's subclasses do).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gradcam_weights", "gradcam_plus_plus_weights", "weighted_cam"]


def gradcam_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM: the spatial mean of the gradient per channel (alpha_k^c of the paper); ``(N, C)``."""
    return grads.mean(axis=(1, 2), dtype=np.float64).astype(np.float32)


def gradcam_plus_plus_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """Grad-CAM++ weights, eq. 19 of the paper with the exponential-score closed form; ``(N, C)``.

    :math:`w_k = \\sum_{ij} \\alpha_{ij} \\mathrm{ReLU}(g_{ij})`,
    :math:`\\alpha_{ij} = g^2 / (2 g^2 + \\sum_{ab} A_{ab} g^3)` (0 where the gradient is 0).
    """
    g = grads.astype(np.float64)
    g2 = g * g
    g3 = g2 * g
    sum_a = activations.sum(axis=(1, 2), keepdims=True, dtype=np.float64)
    denominator = 2.0 * g2 + sum_a * g3
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where((g != 0) & (denominator != 0), g2 / np.where(denominator == 0, 1.0, denominator), 0.0)
    return (alpha * np.maximum(g, 0.0)).sum(axis=(1, 2)).astype(np.float32)


def weighted_cam(activations: np.ndarray, weights: np.ndarray, relu: bool) -> np.ndarray:
    """``sum_k weights[:, k] * activations[..., k]`` per image, rectified if ``relu``; ``(N, h, w)``."""
    cam = np.einsum("nhwc,nc->nhw", activations.astype(np.float32), weights.astype(np.float32))
    return np.maximum(cam, 0.0) if relu else cam
