"""Tiles of the viewer: one map over its image, drawn by :mod:`xaikit.viz`'s colour rules, as PNG bytes.

The viewer has no colour rule of its own: ``positive`` and ``abs`` are
:func:`xaikit.viz.overlay` with ``normalize="positive"`` / ``"abs"`` (each map scaled on
its own, as in every xaikit picture), ``signed`` is :func:`xaikit.viz.signed_rgb`
(red for, blue against, opacity ``|a| / s``), and ``auto`` picks one of them from the
catalogue's view of the method (:data:`xaikit.catalogue.METHODS`), as the comparison
figure does.
"""

from __future__ import annotations

import numpy as np

from ..catalogue import METHODS
from ..errors import InputError

__all__ = ["COLORMAPS", "SIGNED_COLORMAPS", "VIEWS", "method_view", "png_bytes", "render_tile"]

#: What the view control offers: ``auto`` (per column, from the method), the evidence for
#: the target (``positive``), red/blue (``signed``) and the magnitude (``abs``).
VIEWS = ("auto", "positive", "signed", "abs")
#: Sequential colormaps of the overlay views (matplotlib names).
COLORMAPS = ("jet", "turbo", "inferno", "viridis", "magma", "gray")
#: Diverging colormaps of the signed view (``shap``: shap's red_transparent_blue).
SIGNED_COLORMAPS = ("shap", "RdBu_r", "bwr", "coolwarm")


def method_view(method: str) -> str:
    """The view ``auto`` gives ``method``: the catalogue's ``view`` (``magnitude`` is drawn as ``abs``)."""
    spec = METHODS.get(method)
    view = spec.view if spec is not None else "signed"
    return "abs" if view == "magnitude" else view if view in VIEWS else "signed"


def render_tile(image: np.ndarray, amap: np.ndarray, *, view: str, colormap: str = "jet",
                alpha: float = 0.4) -> np.ndarray:
    """One map over one image: uint8 RGB ``(H, W, 3)``.

    Parameters
    ----------
    image
        uint8 ``(H, W, 3)`` pixels.
    amap
        float32 ``(H, W)`` map at the image's size.
    view
        ``"positive"``, ``"abs"`` or ``"signed"`` (resolve ``"auto"`` with :func:`method_view`).
    colormap
        A name of :data:`COLORMAPS` for the overlay views, of :data:`SIGNED_COLORMAPS` for
        the signed view (another name there gives ``"shap"``).
    alpha
        Weight of the heat map in the overlay views (the signed view's opacity is ``|a| / s``).
    """
    from ..viz import overlay, signed_rgb

    if view == "signed":
        cmap = colormap if colormap in SIGNED_COLORMAPS else "shap"
        return signed_rgb(image[None], amap[None], cmap=cmap, image_range=(0.0, 255.0))[0]
    if view not in ("positive", "abs"):
        raise InputError(f"view must be one of {VIEWS[1:]} here; got {view!r}")
    if colormap not in COLORMAPS:
        raise InputError(f"colormap must be one of {COLORMAPS} in the {view} view; got {colormap!r}")
    return overlay(image[None], amap[None], colormap=colormap, alpha=alpha, normalize=view,
                   image_range=(0.0, 255.0))[0]


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG of uint8 RGB ``(H, W, 3)`` (fast compression: tiles are small and made on demand)."""
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - OpenCV cannot fail on uint8 RGB
        raise RuntimeError("OpenCV could not encode a PNG")
    return data.tobytes()
