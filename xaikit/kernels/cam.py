"""Class activation maps from a layer's activations and the target's gradient at them (NumPy).

Arrays are channels-last ``(N, h, w, C)``; a CAM variant only computes weights (as
pytorch-grad-cam's subclasses do): one per channel ``(N, C)`` or one per location and
channel ``(N, h, w, C)``, combined with the activations by :func:`weighted_cam`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gradcam_weights", "gradcam_plus_plus_weights", "xgradcam_weights", "hirescam_weights",
           "layercam_weights", "scorecam_weights", "ablation_weights", "principal_projection", "weighted_cam",
           "CAM_AUGMENTATIONS", "augment_images", "scale_layer_maps"]

#: pytorch-grad-cam's ``aug_smooth`` (its ttach test-time augmentations): ``(flipped horizontally, factor)``; the image
#: is flipped or not and multiplied by 0.9, 1.0 and 1.1, the map of each flipped back, and the maps averaged.
CAM_AUGMENTATIONS = tuple((flip, factor) for flip in (False, True) for factor in (0.9, 1.0, 1.1))


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


def xgradcam_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """XGrad-CAM: the gradient averaged with the normalised activations as weights; ``(N, C)``.

    :math:`w_k = \\sum_{ij} \\frac{A^k_{ij}}{\\sum_{ab} A^k_{ab}} g^k_{ij}` (0 for a channel whose
    activations sum to 0). pytorch-grad-cam adds ``1e-7`` to the denominator instead.
    """
    a = activations.astype(np.float64)
    total = a.sum(axis=(1, 2))
    numerator = (a * grads).sum(axis=(1, 2))
    safe = np.where(total == 0, 1.0, total)
    return np.where(total == 0, 0.0, numerator / safe).astype(np.float32)


def hirescam_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """HiResCAM: the gradient itself, location by location; ``(N, h, w, C)``."""
    return grads.astype(np.float32)


def layercam_weights(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """LayerCAM: the positive part of the gradient, location by location; ``(N, h, w, C)``."""
    return np.maximum(grads, 0.0).astype(np.float32)


def scorecam_weights(scores: np.ndarray) -> np.ndarray:
    """Score-CAM: softmax over the channels of the scores of the images masked by each channel; ``(N, C)``."""
    s = np.asarray(scores, np.float64)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def ablation_weights(score: np.ndarray, ablated: np.ndarray) -> np.ndarray:
    """Ablation-CAM: the relative drop of the score when a channel is zeroed, ``(y - y_k) / y``; ``(N, C)``.

    ``score`` is ``(N,)``, ``ablated`` ``(N, C)``. A score of exactly 0 leaves the drop
    unnormalised (the definition divides by it).
    """
    y = np.asarray(score, np.float64)[:, None]
    drop = y - np.asarray(ablated, np.float64)
    return np.where(y == 0, drop, drop / np.where(y == 0, 1.0, y)).astype(np.float32)


def principal_projection(activations: np.ndarray) -> np.ndarray:
    """Eigen-CAM: each image's activations projected on their first principal direction; ``(N, h, w)``.

    The ``(h w, C)`` activations are centred over locations (as pytorch-grad-cam does) and
    projected on the first right singular vector ``v``. A singular vector's sign is
    arbitrary; it is fixed so that the components of ``v`` sum to a non-negative number,
    which is the same as the map correlating positively with the mean activation over
    channels (their covariance is ``sigma_1^2 sum(v) / C``).
    """
    n, h, w, c = activations.shape
    a = activations.reshape(n, h * w, c).astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(a, full_matrices=False)
    v = vt[:, 0, :]
    v = v * np.where(v.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    return np.einsum("npc,nc->np", a, v).reshape(n, h, w).astype(np.float32)


def weighted_cam(activations: np.ndarray, weights: np.ndarray, relu: bool, eigen_smooth: bool = False
                 ) -> np.ndarray:
    """``sum_k weights[..., k] * activations[..., k]`` per image, rectified if ``relu``; ``(N, h, w)``.

    ``weights`` is ``(N, C)`` (one per channel) or ``(N, h, w, C)`` (one per location).
    ``eigen_smooth`` (pytorch-grad-cam's): instead of the channel sum, each image's weighted
    activations projected on their first principal component (:func:`principal_projection`,
    whose sign makes the map agree with the channel sum).
    """
    acts = activations.astype(np.float32)
    if eigen_smooth:
        w = weights[:, None, None, :] if weights.ndim == 2 else weights
        cam = principal_projection(np.nan_to_num(acts * w.astype(np.float32)))
        return np.maximum(cam, 0.0) if relu else cam
    if weights.ndim == 2:
        cam = np.einsum("nhwc,nc->nhw", acts, weights.astype(np.float32))
    else:
        cam = np.einsum("nhwc,nhwc->nhw", acts, weights.astype(np.float32))
    return np.maximum(cam, 0.0) if relu else cam


def augment_images(images: np.ndarray, flip: bool, factor: float, width_axis: int) -> np.ndarray:
    """One of :data:`CAM_AUGMENTATIONS` on a batch: flipped along ``width_axis`` if ``flip``, times ``factor``."""
    x = np.flip(images, axis=width_axis) if flip else images
    return np.ascontiguousarray(x * np.float32(factor), dtype=np.float32)


def scale_layer_maps(maps: np.ndarray, signed: bool = False) -> np.ndarray:
    """Each map ``(N, h, w)`` put on a [0, 1] scale before several layers' maps are averaged; float32.

    pytorch-grad-cam's ``scale_cam_image``: the map minus its minimum, divided by the
    resulting maximum (a constant map becomes 0). ``signed`` maps (a CAM without its final
    ReLU) are divided by their largest absolute value instead, so that their sign and zero
    survive (values in [-1, 1]).
    """
    m = np.asarray(maps, np.float64)
    if not signed:
        m = m - m.reshape(len(m), -1).min(axis=1)[:, None, None]
    peak = np.abs(m).reshape(len(m), -1).max(axis=1)[:, None, None]
    return np.where(peak > 0, m / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)
