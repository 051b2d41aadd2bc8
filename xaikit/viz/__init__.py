"""Pictures: overlays, signed maps, activation and filter grids, comparison figures, the sanity-check grid.

Array functions return uint8 RGB ``(N, H, W, 3)``; figure functions return a
:class:`matplotlib.figure.Figure` built with the object-oriented API (not registered with
pyplot: nothing to close, nothing shown). Save them with :func:`save_figure` /
:func:`save_image`. matplotlib and OpenCV are imported inside the functions that need
them, so importing this package stays light.

>>> import xaikit.viz as xv
>>> rgb = xv.overlay(images, exp.attributions, undo="caffe")          # doctest: +SKIP
>>> fig = xv.compare_figure(images, [exp_a, exp_b], class_names=names)  # doctest: +SKIP
>>> xv.save_figure(fig, "compare.png")                                # doctest: +SKIP
"""

from __future__ import annotations

from .activation_figures import activation_grid, activation_grids, activation_pages
from .channel_mosaic import activation_mosaic, gap_color, standardize_channels
from .compare import (
    MAGNITUDE_VIEW_METHODS,
    SIGNED_VIEW_METHODS,
    View,
    choose_view,
    compare_figure,
    default_view,
    format_seconds,
)
from .filters import filter_grid, normalize_filters
from .overlay import UNDO_SCHEMES, colorize, get_colormap, overlay, to_display_gray, to_display_rgb
from .sanity import randomisation_grid
from .save import save_figure, save_image
from .signed import signed_colormap, signed_figure, signed_rgb, symmetric_scale

__all__ = [
    "MAGNITUDE_VIEW_METHODS",
    "SIGNED_VIEW_METHODS",
    "UNDO_SCHEMES",
    "View",
    "activation_grid",
    "activation_grids",
    "activation_mosaic",
    "activation_pages",
    "choose_view",
    "colorize",
    "compare_figure",
    "default_view",
    "filter_grid",
    "format_seconds",
    "gap_color",
    "get_colormap",
    "normalize_filters",
    "overlay",
    "randomisation_grid",
    "save_figure",
    "save_image",
    "signed_colormap",
    "signed_figure",
    "signed_rgb",
    "standardize_channels",
    "symmetric_scale",
    "to_display_gray",
    "to_display_rgb",
]
