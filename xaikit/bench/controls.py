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

The maps are computed in the core (:mod:`xaikit.metrics.controls`), where
:func:`xaikit.sanity.sanity_check` draws the edge control too; this module names them
for the bench's configuration.
"""

from __future__ import annotations

import numpy as np

from ..metrics.controls import edge_maps, random_maps

__all__ = ["CONTROL_DESCRIPTIONS", "control_maps", "edge_maps", "random_maps"]

CONTROL_DESCRIPTIONS = {
    "random": "uniform noise, seeded (model-independent)",
    "edge": "Sobel edge magnitude of the image (model-independent, Adebayo et al.'s edge detector)",
}


def control_maps(name: str, images: np.ndarray, seed: int) -> np.ndarray:
    """The maps of control ``name`` (``"random"`` or ``"edge"``)."""
    if name == "random":
        return random_maps(images, seed)
    if name == "edge":
        return edge_maps(images)
    raise ValueError(f"unknown control {name!r}; controls: {', '.join(CONTROL_DESCRIPTIONS)}")
