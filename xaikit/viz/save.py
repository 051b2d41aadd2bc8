"""Writing figures and images to disk, atomically and without clobbering by accident.

A reader (a report builder, a browser refreshing a benchmark page) never sees a
half-written file: everything is written to a temporary file in the target folder and
renamed into place (:func:`xaikit.atomic_files.atomic_path`). A picture is drawn again from its
results at will, so re-running a notebook cell replaces it (``overwrite=True``, the
default here); pass ``overwrite=False`` to refuse an existing file. Results (``.npz``,
stores) keep the guard: their ``save`` refuses an existing file unless told, and the CLI
refuses every existing output without ``--overwrite``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import atomic_path, atomic_write_bytes, check_writable_path
from ..errors import InputError
from ..validation import as_numpy

__all__ = ["save_figure", "save_image", "FIGURE_FORMATS", "IMAGE_FORMATS"]

#: File extensions :func:`save_figure` writes, and the matplotlib format used.
FIGURE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
#: File extensions :func:`save_image` writes (through OpenCV's encoders).
IMAGE_FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _refuse_existing(path: Path, overwrite: bool) -> None:
    check_writable_path(path)  # a folder, or a path under a file: said as such, not as "exists"
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: float = 150, overwrite: bool = True,
                transparent: bool = False, tight: bool = True) -> Path:
    """Save a matplotlib figure as PNG, PDF or SVG (chosen by the file extension), atomically.

    Parameters
    ----------
    fig
        A :class:`matplotlib.figure.Figure` (e.g. from :func:`compare_figure`). Figures
        made by xaikit are not registered with pyplot; a pyplot figure is saved the
        same way and stays open (close it with ``plt.close(fig)``).
    path
        Target file; ``.png``, ``.pdf`` or ``.svg``. Missing folders are created.
    dpi
        Resolution of raster output (PNG, and images embedded in PDF/SVG).
    overwrite
        Replace an existing file (default: a figure is drawn again at will, as when a
        notebook cell runs again). False raises :class:`FileExistsError` instead.
    transparent
        Transparent background instead of white.
    tight
        Trim the outer white margin (``bbox_inches="tight"``).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False (nothing is written).
    InputError
        Unknown extension or not a figure.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise InputError(f"fig must be a matplotlib Figure; got {type(fig).__name__}. The xaikit.viz figure "
                         "functions return one; for a uint8 image array use save_image.")
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the figure format of {path.name!r}; use one of the extensions "
                         f"{', '.join(FIGURE_FORMATS)}")
    if not (isinstance(dpi, (int, float)) and dpi > 0):
        raise InputError(f"dpi must be a positive number; got {dpi!r}")
    _refuse_existing(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as tmp:
        # An explicit format: the temporary name has no image suffix. Saving a Figure without a
        # pyplot canvas uses the non-interactive Agg/PDF/SVG canvases, whatever the backend.
        fig.savefig(tmp, format=fmt, dpi=dpi, transparent=transparent,
                    bbox_inches="tight" if tight else None, pad_inches=0.05 if tight else 0.1,
                    facecolor="none" if transparent else "white")
    return path


def save_image(image: Any, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Save one uint8 RGB (or grayscale) image, e.g. an overlay, atomically.

    Parameters
    ----------
    image
        uint8 ``(H, W, 3)`` RGB (the channel order of every xaikit array; it is swapped
        to OpenCV's BGR here) or ``(H, W)`` / ``(H, W, 1)`` grayscale. For a batch from
        :func:`overlay` save ``images[i]``.
    path
        Target file: ``.png`` (lossless, recommended), ``.jpg``, ``.bmp``, ``.tif``,
        ``.webp``.
    overwrite
        Replace an existing file (default: a figure is drawn again at will, as when a
        notebook cell runs again). False raises :class:`FileExistsError` instead.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import cv2

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_FORMATS:
        raise InputError(f"cannot tell the image format of {path.name!r}; use one of {', '.join(IMAGE_FORMATS)} "
                         "(for figures: save_figure with .png/.pdf/.svg)")
    arr = as_numpy(image)
    if arr.ndim == 4:
        raise InputError(f"image must be one image (H, W, 3); got a batch of shape {arr.shape}. "
                         "Save each with save_image(images[i], ...).")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise InputError(f"image must be (H, W, 3) RGB or (H, W) grayscale; got {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(f"image must be uint8 (as returned by xaikit.viz.overlay / signed_rgb); got {arr.dtype}. "
                         "Convert floats in [0, 1] explicitly: np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)")
    _refuse_existing(path, overwrite)
    data = np.ascontiguousarray(arr[..., ::-1] if arr.ndim == 3 else arr)
    ok, buffer = cv2.imencode(ext, data)
    if not ok:
        raise InputError(f"OpenCV could not encode a {arr.shape} image as {ext}")
    return atomic_write_bytes(path, buffer.tobytes(), overwrite=overwrite)
