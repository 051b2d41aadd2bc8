"""The checks of a method's result before it is returned: finite model outputs, finite maps, and a warning for
maps that are constant for every image. ``label`` names the explainer in the messages."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import DegenerateMapWarning, ModelError
from .spec import ModelSpec

__all__ = ["check_maps", "check_outputs", "warn_constant"]


def check_outputs(outputs: np.ndarray, label: str) -> None:
    """A model that returns NaN or Inf makes every map meaningless: say so instead of returning them."""
    finite = np.isfinite(outputs)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=tuple(range(1, outputs.ndim))))
        raise ModelError(f"the model returned NaN or Inf for {len(rows)} image(s) (first: image {int(rows[0])}); "
                         f"{label} cannot explain them. Check the images' preprocessing (their range) and the "
                         "model (it may have diverged or overflow in float32).")


def check_maps(maps: np.ndarray, label: str) -> None:
    finite = np.isfinite(maps)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(maps), -1).all(axis=1))
        raise ModelError(f"{label} produced NaN or Inf attributions for {len(rows)} image(s) (first: image "
                         f"{int(rows[0])}) although the model's outputs are finite: a gradient or a sum overflowed "
                         "float32, or a layer's gradient is not defined there (a normalisation of a constant input). "
                         "Rescale the inputs (or the noise/baseline) to the range the model was trained on.")


def warn_constant(maps: np.ndarray, label: str, params: Mapping[str, Any], spec: ModelSpec) -> None:
    """Warn (:class:`DegenerateMapWarning`) when every image's map is constant: it shows nothing; say why it may."""
    flat = maps.reshape(len(maps), -1)
    if flat.shape[1] < 2 or np.any(flat.max(axis=1) > flat.min(axis=1)):
        return
    value = float(flat[0, 0])
    causes = []
    layer = params.get("layer")
    info = spec.layer(layer) if isinstance(layer, str) else None
    if info is not None and info.layout is not None and info.layout.locations == 1:
        causes.append(f"layer {layer!r} has a 1x1 map (pick a layer with more locations)")
    if info is not None and info.map_reaches_output is False:
        causes.append(f"the class scores do not depend on layer {layer!r}'s map (a transformer's last token layers: "
                      "its head reads only the class token)")
    causes += ["a zero-initialised or untrained head (every class scores the same; torchvision's ViT heads start at "
               "zero)", "activations that vanish with depth under a random initialisation (torchvision GoogLeNet's, "
               "Keras MobileNetV2's: the scores change by less than float32 resolves, or tie)",
               "saturated inputs or dead ReLUs (zero gradients: check the preprocessing's range)"]
    if params.get("relu") and value == 0.0:
        causes.append("only negative evidence at the layer (relu=False keeps it)")
    warnings.warn(f"{label} returned a constant map ({value:g}) for every image: it shows nothing. Likely "
                  f"causes: {'; '.join(causes)}.", DegenerateMapWarning, stacklevel=4)
