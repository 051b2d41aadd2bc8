"""Pictures: overlays, signed maps, activation and filter grids, comparison figures.

matplotlib and OpenCV are imported inside the functions that need them.
"""

from __future__ import annotations

from .overlay import overlay, to_display_rgb

__all__ = ["overlay", "to_display_rgb"]
