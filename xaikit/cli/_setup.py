"""What every command works with: the model, the preprocessing, the images and the labels (:func:`setup`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import InputError
from ..labels import Labels, load_labels
from ..preprocessing import SCHEMES, Scheme, get_scheme
from ._images import ImageSource, image_source
from ._models import RANDOM_WEIGHTS_SEED, LoadedModel, load_model, model_framework

__all__ = ["Setup", "image_sizes", "make_logger", "mixed_sizes_message", "setup", "takes_any_size"]


def image_sizes(paths: Sequence[Path]) -> dict[tuple[int, int], list[str]]:
    """``(height, width) -> file names`` of image files, from their headers (nothing is decoded)."""
    from PIL import Image

    sizes: dict[tuple[int, int], list[str]] = {}
    for p in paths:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except (OSError, ValueError):  # not something Pillow reads: the reader's own error comes later
            continue
        sizes.setdefault((h, w), []).append(p.name)
    return sizes


def mixed_sizes_message(sizes: dict[tuple[int, int], list[str]]) -> str:
    listing = ", ".join(f"{names[0]}: {h}x{w}" for (h, w), names in list(sizes.items())[:4])
    return (f"the images have {len(sizes)} different sizes ({listing}{', ...' if len(sizes) > 4 else ''}) and the "
            "model takes any size, so nothing says which to use: pass --input-size H W (every image is resized to "
            "it), or give images of one size")


def takes_any_size(*, model_path: str | None, arch: str | None, zoo: str | None, weights: str | None,
                   framework: str | None) -> bool:
    """Whether the options name a model that takes any image size, known before it is loaded: a PyTorch model
    (a torchvision architecture, a state dict or module file) other than a zoo twin (made for one size)."""
    if zoo:
        return False
    return model_framework(model_path=model_path, arch=arch, zoo=zoo, weights=weights,
                           framework=framework) == "torch"

@dataclass
class Setup:
    """What every command works with."""

    loaded: LoadedModel
    scheme: Scheme
    source: ImageSource | None
    labels: Labels | None
    log: Callable[[str], None]
    quiet: bool
    to_grey: bool = False

    @property
    def model(self) -> Any:
        return self.loaded.model

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (channels last) -> model input with the run's scheme, in the model's layout."""
        from ..kernels import to_layout

        return to_layout(self.scheme.forward(pixels), "NHWC", self.loaded.layout)

    def to_display(self, x: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Model input -> pixels for pictures (channels last): the scheme's inverse (the original pixels if it has
        none)."""
        from ..kernels import to_layout

        try:
            return self.scheme.inverse(to_layout(x, self.loaded.layout, "NHWC"))
        except InputError:
            return np.asarray(pixels, np.float32)


def make_logger(quiet: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)
    return log


def setup(*, model_path: str | None, arch: str | None, weights: str | None, input_size: Any, classes: int | None,
          zoo: str | None, unsafe: bool, preprocess: str | None, labels_path: str | None, quiet: bool,
          images: Sequence[str] | None = None, n_images: int = 4, need_images: bool = True,
          to_grey: bool = False, framework: str | None = None) -> Setup:
    """Load the model, choose the preprocessing, find the images, read the labels; log what was chosen."""
    log = make_logger(quiet)
    size = tuple(input_size) if input_size else None
    paths: list[Path] = []
    sizes: dict[tuple[int, int], list[str]] = {}
    if need_images and images:  # before the (slow) model: a wrong path, or sizes no model can take, fail at once
        from ..io import find_images

        paths = find_images(list(images))
        if size is None:
            sizes = image_sizes(paths)
            if len(sizes) > 1 and takes_any_size(model_path=model_path, arch=arch, zoo=zoo, weights=weights,
                                                 framework=framework):
                raise InputError(mixed_sizes_message(sizes))
    loaded = load_model(model_path=model_path, arch=arch, zoo=zoo, weights=weights, input_size=size,
                        classes=classes, unsafe=unsafe, framework=framework, log=log)  # type: ignore[arg-type]
    h, w = loaded.input_size
    if None in (h, w) and not loaded.n_outputs and loaded.spec.channels:  # takes any size: describe it at the run's
        run_size = size or (next(iter(sizes)) if len(sizes) == 1 else None)
        if run_size is None and len(sizes) > 1:
            raise InputError(mixed_sizes_message(sizes))
        if run_size is not None:
            c = loaded.channels
            loaded.described((*run_size, c) if loaded.layout == "NHWC" else (c, *run_size))
    n_out = f"{loaded.n_outputs} output(s)" if loaded.n_outputs else "outputs known once it runs"
    shape = f"{h}x{w}x{loaded.channels}" if None not in (h, w) else \
        (f"any size (run at {loaded.spec.image_size[0]}x{loaded.spec.image_size[1]}: the images' size)"
         if None not in loaded.spec.image_size else "any size")
    log(f"model: {loaded.source} — input {shape}, {n_out}")
    if arch and (weights or "").strip().lower() == "none":
        log(f"note: --weights none: random weights drawn with seed {RANDOM_WEIGHTS_SEED} (the same on every run); "
            "the maps explain an untrained network")
    for note in loaded.notes:
        log(f"note: {note}")
    scheme = SCHEMES["none"]
    if need_images:
        if preprocess is None:
            name = loaded.default_preprocess or "none"
            why = "what zoo models take" if loaded.default_preprocess else "the default; choose with --preprocess"
        else:
            name, why = preprocess, "--preprocess"
        scheme = get_scheme(name)
        log(f"preprocessing: {scheme.name} = {scheme.description} ({why})")
        if loaded.family is not None and scheme.name != loaded.family:
            fam = get_scheme(loaded.family)
            if fam.base != scheme.base:
                how = ("torchvision's original weights take x / 255 normalised by ImageNet's mean and std"
                       if loaded.family == "torch" else
                       f"is trained with keras.applications.{loaded.family}.preprocess_input (= {fam.base})")
                log(f"note: {arch}: {how}; pass --preprocess {loaded.family} if these weights are the original ones")
    labels = None
    if labels_path is not None:
        labels = load_labels(labels_path)
    elif loaded.class_names is not None:
        labels = Labels(dict(enumerate(loaded.class_names)), source=loaded.source)
    if labels is not None and loaded.n_outputs:
        labels.check_count(loaded.n_classes, loaded.n_outputs)
    if to_grey and loaded.channels != 1:
        raise InputError(f"--to-grey converts colour images for a model taking 1 channel; this model takes "
                         f"{loaded.channels}: drop --to-grey")
    source = None
    if need_images:
        source = image_source(paths, loaded, n_images, size, to_grey, log)  # type: ignore[arg-type]
    if source is not None:
        log(f"images: {len(source)} ({source.names[0]}{', ...' if len(source) > 1 else ''})")
    return Setup(loaded, scheme, source, labels, log, quiet, to_grey)
