"""NumPy kernels of the core: the framework-free parts of every method.

Each is the reference that backends may use and that tests compare against: channel
reduction, baselines, integration rules, occlusion windows, per-image random streams,
the chunked-call loop, CAM channel weights and upsampling.
"""

from __future__ import annotations

from .baselines import broadcast_baseline
from .cam import gradcam_plus_plus_weights, gradcam_weights, weighted_cam
from .channels import CHANNEL_REDUCTIONS, reduce_channels
from .integration import INTEGRATION_RULES, integration_points
from .layout import LAYOUTS, channel_axis, to_layout
from .rng import STREAMS, ImageStreams, image_digest, image_rng
from .streaming import chunks, row_plan, segments, stream_rows
from .upsample import resize_maps
from .windows import accumulate_windows, occluded_images, patch_windows, window_starts

__all__ = [
    "CHANNEL_REDUCTIONS",
    "INTEGRATION_RULES",
    "LAYOUTS",
    "STREAMS",
    "ImageStreams",
    "accumulate_windows",
    "broadcast_baseline",
    "channel_axis",
    "chunks",
    "gradcam_plus_plus_weights",
    "gradcam_weights",
    "image_digest",
    "image_rng",
    "integration_points",
    "occluded_images",
    "patch_windows",
    "reduce_channels",
    "resize_maps",
    "row_plan",
    "segments",
    "stream_rows",
    "to_layout",
    "weighted_cam",
    "window_starts",
]
