"""NumPy kernels of the core: the framework-free parts of every method.

Each is the reference that backends may use and that tests compare against: channel
reduction, baselines, integration rules, occlusion windows, per-image random streams,
the chunked-call loop, CAM weights, upsampling, perturbation masks and segments, the
regressions of KernelSHAP and LIME, Sobol designs and estimators.
"""

from __future__ import annotations

from .baselines import DEFAULT_BLUR_SIGMA, broadcast_baseline, gaussian_blur, resolve_baseline
from .cam import (
    CAM_AUGMENTATIONS,
    ablation_weights,
    augment_images,
    gradcam_plus_plus_weights,
    gradcam_weights,
    hirescam_weights,
    layercam_weights,
    principal_projection,
    scale_layer_maps,
    scorecam_weights,
    weighted_cam,
    xgradcam_weights,
)
from .channels import CHANNEL_REDUCTIONS, reduce_channels
from .coalitions import (
    WeightedMoments,
    enumerated_coalitions,
    lime_kernel,
    paired_coalitions,
    shapley_kernel,
    shapley_size_probabilities,
)
from .integration import INTEGRATION_RULES, integration_points
from .layout import CHANNEL_SIZES, LAYOUTS, channel_axis, images_channels_last, layout_from_shape, to_layout
from .masks import (
    SEGMENTATIONS,
    bilinear_matrix,
    coalition_masks,
    grid_segments,
    grid_shape,
    image_segments,
    rise_cells,
    rise_masks,
    slic_segments,
    upsample_bilinear,
)
from .rng import GLOBAL_RNG_LOCK, STREAMS, ImageStreams, image_digest, image_rng, image_seeds
from .sobol import jansen_total_indices, sobol_designs, sobol_rows
from .streaming import chunks, ragged_row_plan, row_plan, segments, stream_rows
from .upsample import resize_maps
from .windows import accumulate_windows, occluded_images, patch_windows, window_starts

__all__ = [
    "CHANNEL_REDUCTIONS",
    "CHANNEL_SIZES",
    "INTEGRATION_RULES",
    "LAYOUTS",
    "layout_from_shape",
    "SEGMENTATIONS",
    "STREAMS",
    "GLOBAL_RNG_LOCK",
    "ImageStreams",
    "WeightedMoments",
    "ablation_weights",
    "CAM_AUGMENTATIONS",
    "augment_images",
    "scale_layer_maps",
    "accumulate_windows",
    "bilinear_matrix",
    "broadcast_baseline",
    "DEFAULT_BLUR_SIGMA",
    "gaussian_blur",
    "resolve_baseline",
    "channel_axis",
    "chunks",
    "coalition_masks",
    "enumerated_coalitions",
    "gradcam_plus_plus_weights",
    "gradcam_weights",
    "grid_segments",
    "grid_shape",
    "hirescam_weights",
    "image_digest",
    "image_rng",
    "image_seeds",
    "images_channels_last",
    "image_segments",
    "integration_points",
    "occluded_images",
    "jansen_total_indices",
    "layercam_weights",
    "lime_kernel",
    "paired_coalitions",
    "patch_windows",
    "principal_projection",
    "ragged_row_plan",
    "reduce_channels",
    "resize_maps",
    "rise_cells",
    "rise_masks",
    "row_plan",
    "scorecam_weights",
    "segments",
    "shapley_kernel",
    "shapley_size_probabilities",
    "slic_segments",
    "sobol_designs",
    "sobol_rows",
    "stream_rows",
    "to_layout",
    "upsample_bilinear",
    "weighted_cam",
    "window_starts",
    "xgradcam_weights",
]
