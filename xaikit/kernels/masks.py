"""Masks of the perturbation methods: bilinear upsampling as matrices, RISE's random masks, image segments.

A mask is ``(R, H, W)`` float32 at the images' resolution, 1 where the image is kept and
0 where it is replaced (:meth:`xaikit.engine.Engine.masked_scores`). Segments are one
``(H, W)`` int32 label image per image, labels ``0 .. M - 1``; a coalition ``z`` of
segments becomes the mask ``z[labels]``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import InputError, MissingDependencyError

__all__ = ["SEGMENTATIONS", "bilinear_matrix", "upsample_bilinear", "rise_masks", "rise_cells", "grid_shape",
           "grid_segments", "slic_segments", "image_segments", "coalition_masks"]

#: How images are cut into the segments (superpixels) of KernelSHAP and LIME.
SEGMENTATIONS = ("slic", "grid")


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` float64 weights of bilinear resampling along one axis.

    Half-pixel centres and edges clamped, as OpenCV's ``INTER_LINEAR`` and
    ``tf.image.resize(method="bilinear")`` upsample: ``U @ a @ V.T`` resizes a 2-D map
    ``a`` with ``U = bilinear_matrix(h, H)``, ``V = bilinear_matrix(w, W)`` (tested
    against ``cv2.resize``).
    """
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1)
    low = np.floor(src).astype(np.int64)
    high = np.minimum(low + 1, n_in - 1)
    frac = src - low
    out = np.zeros((n_out, n_in), np.float64)
    np.add.at(out, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(out, (np.arange(n_out), high), frac)
    return out


def upsample_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A batch of maps ``(R, h, w)`` resized bilinearly to ``size = (H, W)``, float32, in one vectorised product."""
    rows = bilinear_matrix(maps.shape[1], size[0]).astype(np.float32)
    cols = bilinear_matrix(maps.shape[2], size[1]).astype(np.float32)
    return np.einsum("hi,rij,wj->rhw", rows, maps.astype(np.float32), cols, optimize=True)


def rise_cells(size: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """The cell size of RISE's coarse grid, ``ceil(H / grid_h), ceil(W / grid_w)`` (also the range of the shifts)."""
    return math.ceil(size[0] / grid[0]), math.ceil(size[1] / grid[1])


def rise_masks(grids: np.ndarray, shifts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RISE's smooth masks from binary grids (Petsiuk et al. 2018, as their code builds them).

    Each ``(g_h, g_w)`` grid is upsampled bilinearly to ``((g_h + 1) c_h, (g_w + 1) c_w)``
    (``c`` = :func:`rise_cells`) and cropped to ``size`` at offset ``shifts[r] = (dy, dx)``,
    ``0 <= dy < c_h``, ``0 <= dx < c_w``.

    Parameters
    ----------
    grids : numpy.ndarray
        ``(R, g_h, g_w)`` of 0/1.
    shifts : numpy.ndarray
        ``(R, 2)`` int offsets.
    size : (int, int)
        ``(H, W)`` of the images.

    Returns
    -------
    numpy.ndarray
        ``(R, H, W)`` float32 masks in [0, 1].
    """
    g_h, g_w = grids.shape[1:]
    c_h, c_w = rise_cells(size, (g_h, g_w))
    rows = bilinear_matrix(g_h, (g_h + 1) * c_h).astype(np.float32)
    cols = bilinear_matrix(g_w, (g_w + 1) * c_w).astype(np.float32)
    row_sel = rows[shifts[:, 0, None] + np.arange(size[0])]  # (R, H, g_h): the crop's rows
    col_sel = cols[shifts[:, 1, None] + np.arange(size[1])]  # (R, W, g_w)
    return np.einsum("rhi,rij,rwj->rhw", row_sel, grids.astype(np.float32), col_sel, optimize=True)


def grid_shape(n_segments: int, size: tuple[int, int]) -> tuple[int, int]:
    """``(rows, cols)`` of a grid of about ``n_segments`` cells with the aspect ratio of ``size = (H, W)``."""
    height, width = size
    rows = min(height, max(1, round(math.sqrt(n_segments * height / width))))
    cols = min(width, max(1, round(n_segments / rows)))
    return rows, cols


def grid_segments(size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` int32 labels of a ``shape = (rows, cols)`` grid, row-major.

    Pixel ``(i, j)`` belongs to cell ``(floor((i + 1/2) rows / H), floor((j + 1/2) cols / W))``:
    nearest-neighbour upsampling with half-pixel centres, as ``tf.image.resize(...,
    "nearest")`` upsamples Xplique's Sobol masks.
    """
    height, width = size
    rows, cols = shape
    r = np.minimum(((np.arange(height) + 0.5) * rows / height).astype(np.int64), rows - 1)
    c = np.minimum(((np.arange(width) + 0.5) * cols / width).astype(np.int64), cols - 1)
    return (r[:, None] * cols + c[None, :]).astype(np.int32)


def slic_segments(image: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixels of one channels-last image ``(H, W, C)``; ``(H, W)`` int32 labels ``0 .. M - 1``.

    The image is scaled to [0, 1] (its own min and max, all channels together) so that
    ``compactness`` means the same for any preprocessing, and clustered as it is (no
    Lab conversion: the channels may be BGR or mean-subtracted).
    """
    try:
        from skimage.segmentation import slic
    except ImportError:  # pragma: no cover - scikit-image is in the "methods" extra
        raise MissingDependencyError('segmentation="slic" needs scikit-image: pip install "xaikit[methods]" (or '
                                     'scikit-image); segmentation="grid" needs nothing.') from None
    x = image.astype(np.float64)
    low, high = x.min(), x.max()
    x = (x - low) / (high - low) if high > low else np.zeros_like(x)
    labels = slic(x, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1,
                  convert2lab=False, enforce_connectivity=True)
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)
    found = int(labels.max()) + 1
    if found < n_segments / 4 and found < labels.size:
        warnings.warn(f"SLIC cut an image into {found} segment(s) for n_segments={n_segments}: at compactness="
                      f"{compactness:g} its colour clusters fragmented and were merged. Raise compactness (e.g. 1 to "
                      "10) or use segmentation='grid'.", RuntimeWarning, stacklevel=2)
    return labels


def image_segments(images_hwc: np.ndarray, segmentation: str, n_segments: int, compactness: float) -> list[np.ndarray]:
    """One label image per image (channels-last batch), by ``segmentation`` (:data:`SEGMENTATIONS`)."""
    if segmentation not in SEGMENTATIONS:
        raise InputError(f"segmentation must be one of {', '.join(map(repr, SEGMENTATIONS))}; got {segmentation!r}.")
    size = images_hwc.shape[1:3]
    if segmentation == "grid":
        labels = grid_segments(size, grid_shape(n_segments, size))
        return [labels] * len(images_hwc)
    return [slic_segments(image, n_segments, compactness) for image in images_hwc]


def coalition_masks(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(R, H, W)`` float32 masks of coalitions ``z`` ``(R, M)`` of the segments ``labels`` ``(H, W)``."""
    return np.asarray(z, np.float32)[:, labels]
