"""Reference maps that do not look at the model: what a method must beat.

``random``
    Seeded uniform noise, one map per image (:func:`random_maps`). A method whose
    deletion/insertion AUC or MuFidelity is no better than this one does not rank pixels
    by their effect on the model.
``edge``
    The Sobel gradient magnitude of the (grey) image (:func:`edge_maps`): the "edge
    detector" of Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018). It is
    independent of the model by construction, so the randomisation check leaves it
    unchanged (similarity 1 at every step); a method that behaves the same is explaining
    the image, not the model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["edge_maps", "random_maps"]


def random_maps(images: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) float32 maps ``(N, H, W)``; image ``i`` uses ``default_rng([seed, i])``."""
    n, h, w = images.shape[:3]
    return np.stack([np.random.default_rng([seed, i]).random((h, w), dtype=np.float32) for i in range(n)])


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image's channel mean, float32 ``(N, H, W)``; images channels last."""
    import cv2

    x = np.asarray(images, np.float32)
    grey = x.mean(axis=-1)
    out = np.empty(grey.shape, np.float32)
    for i, g in enumerate(grey):
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        out[i] = np.sqrt(gx * gx + gy * gy)
    return out
