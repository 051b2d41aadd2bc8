"""Reference maps that do not look at the model: what a method must beat.

``random``
    Seeded uniform noise, one map per image. A method whose deletion/insertion AUC or
    MuFidelity is no better than this one does not rank pixels by their effect on the
    model.
``edge``
    The Sobel gradient magnitude of the (grey) image: the "edge detector" of Adebayo
    et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018). It is independent of the
    model by construction, so the randomisation check leaves it unchanged (similarity
    1 at every step); a method that behaves the same is explaining the image, not the
    model. Its agreement with each method shows which maps are mostly edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONTROL_DESCRIPTIONS", "control_maps", "edge_maps", "random_maps"]

CONTROL_DESCRIPTIONS = {
    "random": "uniform noise, seeded (model-independent)",
    "edge": "Sobel edge magnitude of the image (model-independent, Adebayo et al.'s edge detector)",
}


def random_maps(images: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) float32 maps ``(N, H, W)``; image ``i`` uses ``default_rng([seed, i])``."""
    n, h, w = images.shape[:3]
    return np.stack([np.random.default_rng([seed, i]).random((h, w), dtype=np.float32) for i in range(n)])


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image's channel mean, float32 ``(N, H, W)``."""
    import cv2

    x = np.asarray(images, np.float32)
    grey = x.mean(axis=-1)
    out = np.empty(grey.shape, np.float32)
    for i, g in enumerate(grey):
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        out[i] = np.sqrt(gx * gx + gy * gy)
    return out


def control_maps(name: str, images: np.ndarray, seed: int) -> np.ndarray:
    """The maps of control ``name`` (``"random"`` or ``"edge"``)."""
    if name == "random":
        return random_maps(images, seed)
    if name == "edge":
        return edge_maps(images)
    raise ValueError(f"unknown control {name!r}; controls: {', '.join(CONTROL_DESCRIPTIONS)}")
