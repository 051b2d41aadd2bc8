"""What a bulk explanation reads: the model it opens and the images (files or an array), with their hashes."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError

__all__ = ["ImageFiles", "ImageSource", "find_bulk_images", "image_hashes", "image_source", "open_bulk_model",
           "read_pixels"]


def image_hashes(pixels: np.ndarray) -> np.ndarray:
    """uint64 ``(N,)``: the xxh3-64 hash of each image's bytes (how a store knows its images by content)."""
    try:
        from xxhash import xxh3_64_intdigest
    except ImportError:
        raise MissingDependencyError("bulk explanation hashes the images it explains: pip install "
                                     "'xaikit[distributed]' (xxhash)") from None
    return np.fromiter((xxh3_64_intdigest(np.ascontiguousarray(image).data) for image in pixels), np.uint64,
                       count=len(pixels))


def find_bulk_images(images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image files of folders, files and glob patterns (``"val/*.JPEG"``), in a stable (sorted) order."""
    from ..io import find_images

    items = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    expanded: list[str | os.PathLike[str]] = []
    for item in items:
        text = str(item)
        if not Path(text).exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"no file matches the pattern {text!r}")
            expanded += [m for m in matches if Path(m).is_file()]
        else:
            expanded.append(item)
    return find_images(expanded)


def read_pixels(paths: list[Path], size: tuple[int, int], channels: int, to_grey: bool) -> np.ndarray:
    """Pixels of ``paths``; for a 1-channel model, colour files are an error unless ``to_grey``."""
    from ..io import load_images

    if channels != 1 or to_grey:
        return load_images(paths, size=size, channels=channels)[0]
    rgb = load_images(paths, size=size, channels=3)[0]
    colour = np.flatnonzero((rgb != rgb[..., :1]).any(axis=(1, 2, 3)))
    if len(colour):
        raise InputError(f"the model takes 1 channel (grey) but {paths[colour[0]]} is in colour; pass to_grey=True "
                         "(--to-grey) to convert colour images (OpenCV: 0.299 R + 0.587 G + 0.114 B)")
    return np.ascontiguousarray(rgb[..., :1])


@dataclass(frozen=True)
class ImageFiles:
    """Image files as plain data that any process can read: what a Ray worker decodes itself.

    Attributes
    ----------
    paths : tuple of str
        The files (absolute), in the run's order.
    size : (int, int)
        Height and width every image is resized to.
    channels : int
        The model's channels (1 or 3).
    to_grey : bool
        Convert colour files for a 1-channel model (else a colour file is an error).
    """

    paths: tuple[str, ...]
    size: tuple[int, int]
    channels: int
    to_grey: bool

    def part(self, s: slice) -> ImageFiles:
        """The files ``s`` of these."""
        return replace(self, paths=self.paths[s])

    def read(self, s: slice = slice(None)) -> np.ndarray:
        """Pixels ``(n, H, W, C)`` in [0, 255] of the files ``s``."""
        return read_pixels([Path(p) for p in self.paths[s]], self.size, self.channels, self.to_grey)


@dataclass
class ImageSource:
    """The images of a run: their names, ``load(slice) -> pixels (n, H, W, C)`` in [0, 255], and their files.

    ``files`` is None for images given as an array.
    """

    names: list[str]
    load: Callable[[slice], np.ndarray]
    files: ImageFiles | None = None

    def __len__(self) -> int:
        return len(self.names)


def image_source(images: Any, names: Sequence[str] | None, opened: Any, to_grey: bool) -> ImageSource:
    """The :class:`ImageSource` of ``images`` (an array of pixels, or files, folders and patterns) for ``opened``."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise InputError(f"images as an array must be pixels (N, H, W, C); got shape {images.shape}")
        image_names = list(names) if names is not None else [str(i) for i in range(len(images))]
        if len(image_names) != len(images):
            raise InputError(f"names has {len(image_names)} entries for {len(images)} images")
        pixels_all = images

        def load_array(s: slice) -> np.ndarray:
            return np.asarray(pixels_all[s], np.float32)

        return ImageSource(image_names, load_array)
    from ..io import load_images

    paths = find_bulk_images(images)
    h, w = opened.input_size
    channels = opened.channels
    size = (h, w) if h and w else load_images(paths[:1], channels=channels)[0].shape[1:3]
    # absolute paths: a worker's working directory is not the driver's; the names stay as given
    files = ImageFiles(tuple(str(Path(p).absolute()) for p in paths), (int(size[0]), int(size[1])), int(channels),
                       bool(to_grey))
    return ImageSource([str(p) for p in paths], files.read, files)


def open_bulk_model(model: Any, framework: str | None, source: dict[str, Any] | None) -> tuple[Any, Any]:
    """``(OpenedModel, ModelRef or None)`` of what the caller gave (no reference for a model object)."""
    from ..execution import ModelRef, weights_digest
    from ..models import OpenedModel, open_model

    if isinstance(model, OpenedModel) and source is not None:
        return model, ModelRef.build(source, weights_digest(model.model))
    if isinstance(model, ModelRef):
        spec = dict(model.spec)
    elif isinstance(model, dict):
        spec = dict(model)
    elif isinstance(model, (str, os.PathLike)):
        text = str(model)
        if text.startswith("zoo:"):
            name, _, fw = text[4:].partition("@")
            spec = {"zoo": name, "framework": fw or framework}
        else:
            spec = {"path": text, "framework": framework} if framework else {"path": text}
    elif isinstance(model, OpenedModel):
        return model, None
    else:  # a model object: run in this process only
        from ..registry import services_for

        services = services_for(model)
        return OpenedModel(model, services, services.describe(model, None), type(model).__name__), None
    opened = open_model(**spec)
    return opened, ModelRef.build(spec, weights_digest(opened.model))
