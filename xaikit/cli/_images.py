"""The images of a run: files read lazily in chunks (never turned grey silently), or zoo pixels."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._models import LoadedModel

__all__ = ["ImageSource", "image_source", "read_images"]

def read_images(sources: Sequence[str | Path], *, size: tuple[int, int] | None, channels: int, to_grey: bool,
                log: Callable[[str], None], what: str = "images") -> np.ndarray:
    """Pixels ``(n, H, W, channels)`` (uint8) of image files, never turned grey silently.

    For a 1-channel model, files are read in colour first: grey files (every pixel
    R = G = B) give their grey values as they are; a colour file is an error unless
    ``to_grey`` (``--to-grey``), which converts with OpenCV's luminance and logs it.
    """
    from ..io import load_images

    if channels != 1:
        return load_images(list(sources), size=size, channels=channels)[0]
    rgb, paths = load_images(list(sources), size=size, channels=3)
    colour = np.flatnonzero((rgb != rgb[..., :1]).any(axis=(1, 2, 3)))
    if not len(colour):
        return np.ascontiguousarray(rgb[..., :1])
    names = ", ".join(paths[i].name for i in colour[:3]) + (", ..." if len(colour) > 3 else "")
    if not to_grey:
        raise InputError(f"the model takes 1 channel (grey) but {len(colour)} of the {what} are in colour ({names}); "
                         "pass --to-grey to convert them (OpenCV: 0.299 R + 0.587 G + 0.114 B), or convert them the "
                         "way the model's training images were made")
    log(f"--to-grey: {len(colour)} colour {what} converted to grey ({names})")
    return load_images(list(sources), size=size, channels=1)[0]


@dataclass
class ImageSource:
    """The images of a run: files read lazily in chunks, or in-memory zoo pixels."""

    names: list[str]
    size: tuple[int, int] | None
    channels: int
    paths: list[Path] | None = None
    pixels: np.ndarray | None = None  # float32 pixels in [0, 255] (zoo)
    to_grey: bool = False
    log: Callable[[str], None] = lambda message: None

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: slice | Sequence[int]) -> np.ndarray:
        """Pixels ``(n, H, W, C)`` (uint8 from files, float32 for zoo images) of ``index``."""
        if self.pixels is not None:
            return self.pixels[index]
        assert self.paths is not None
        chosen = self.paths[index] if isinstance(index, slice) else [self.paths[i] for i in index]
        return read_images(chosen, size=self.size, channels=self.channels, to_grey=self.to_grey, log=self.log)

    def chunks(self, size: int) -> Iterator[tuple[slice, np.ndarray]]:
        """``(slice, pixels)`` for consecutive chunks of ``size`` images."""
        for start in range(0, len(self), size):
            s = slice(start, min(start + size, len(self)))
            yield s, self.load(s)


def image_source(paths: list[Path], loaded: LoadedModel, n_images: int,
                 input_size: tuple[int, int] | None, to_grey: bool, log: Callable[[str], None]) -> ImageSource:
    """The images of the command: the files at ``paths`` at the model's input size, else the zoo model's test set."""
    size = loaded.input_size
    if None in size:
        size = tuple(input_size) if input_size else None  # type: ignore[assignment]
    elif input_size and tuple(input_size) != tuple(size):  # (--arch builds the model at --input-size)
        raise InputError(f"--input-size {input_size[0]} {input_size[1]} does not match the model input "
                         f"{size[0]}x{size[1]}; images are resized to the model input, drop --input-size")
    if paths:
        return ImageSource([p.name for p in paths], size, loaded.channels, paths=paths,  # type: ignore[arg-type]
                           to_grey=to_grey, log=log)
    if loaded.zoo is None:
        raise InputError("give images with --images FILE|FOLDER (repeatable)")
    from .. import zoo

    data = zoo.load_data(loaded.zoo, split="test", n=n_images)
    pixels = np.asarray(data.images, np.float32) * np.float32(255.0)
    names = [f"{loaded.zoo}:test[{i}]" for i in range(len(pixels))]
    return ImageSource(names, size, loaded.channels, pixels=pixels)  # type: ignore[arg-type]
