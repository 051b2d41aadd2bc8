"""Reading images from disk into the batch layout every explainer takes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["IMAGE_SUFFIXES", "find_images", "load_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jp2", ".exr", ".hdr")


def find_images(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into a sorted list of image files.

    A folder contributes the files directly inside it whose suffix OpenCV reads
    (:data:`IMAGE_SUFFIXES`, case-insensitive); files are taken as given.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"folder {path} contains no image files ({', '.join(IMAGE_SUFFIXES)})")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise InputError(f"{path} does not exist")
    if not paths:
        raise InputError("no images given")
    return paths


_DECODERS: dict[int, ThreadPoolExecutor] = {}
_DECODERS_LOCK = threading.Lock()


def _decoders() -> ThreadPoolExecutor:
    """This process's pool of image decoding threads, one per core (made on first use; a forked child makes
    its own: the parent's threads do not exist there)."""
    with _DECODERS_LOCK:
        pool = _DECODERS.get(os.getpid())
        if pool is None:
            pool = _DECODERS[os.getpid()] = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                                               thread_name_prefix="xaikit-decode")
        return pool


def load_images(sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                size: tuple[int, int] | None = None, channels: int = 3) -> tuple[np.ndarray, list[Path]]:
    """Read images into a uint8 batch ``(N, H, W, channels)`` in RGB order.

    Parameters
    ----------
    sources
        Image files and/or folders of images.
    size
        ``(height, width)`` to resize every image to (area interpolation when shrinking,
        bilinear when enlarging). ``None`` keeps the files' size, which must then be the
        same for all images.
    channels
        3 for RGB, 1 for grayscale.

    Returns
    -------
    images, paths
        The batch (uint8, values 0-255, no preprocessing applied) and the file of each row.
    """
    import cv2

    if channels not in (1, 3):
        raise InputError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels}")
    if size is not None and (len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size)):
        raise InputError(f"size must be (height, width) with positive ints; got {size!r}")
    paths = find_images(sources)
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR

    def read(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), flag)
        if image is None:
            raise InputError(f"OpenCV cannot read {path} as an image")
        if image.dtype != np.uint8:  # 16-bit PNG/TIFF: scale to 8 bits explicitly
            image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(np.iinfo(image.dtype).max), 1.0))
        if channels == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if size is not None and image.shape[:2] != tuple(size):
            shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
            image = cv2.resize(image, (int(size[1]), int(size[0])),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return image if channels == 3 else image[..., None]

    # OpenCV releases the GIL while it decodes and resizes: several files at once on a machine's cores
    images = list(_decoders().map(read, paths)) if len(paths) > 1 else [read(p) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        listing = ", ".join(f"{p.name}: {im.shape[0]}x{im.shape[1]}" for p, im in list(zip(paths, images))[:5])
        raise InputError(f"the images have different sizes ({listing}, ...); pass size=(height, width) to resize "
                         "them to the model's input (CLI: --input-size H W)")
    return np.stack(images), paths
