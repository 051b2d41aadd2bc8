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
from ._images import ImageSource, _image_source
from ._models import LoadedModel, load_model

__all__ = ["Setup", "make_logger", "setup"]

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
    if need_images and images:  # before the (slow) model: a wrong path fails at once
        from ..io import find_images

        paths = find_images(list(images))
    loaded = load_model(model_path=model_path, arch=arch, zoo=zoo, weights=weights,
                        input_size=size, classes=classes, unsafe=unsafe, framework=framework)  # type: ignore[arg-type]
    h, w = loaded.input_size
    log(f"model: {loaded.source} — input {h or '?'}x{w or '?'}x{loaded.channels}, {loaded.n_outputs} output(s)")
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
        source = _image_source(paths, loaded, n_images, size, to_grey, log)  # type: ignore[arg-type]
    if source is not None:
        log(f"images: {len(source)} ({source.names[0]}{', ...' if len(source) > 1 else ''})")
    return Setup(loaded, scheme, source, labels, log, quiet, to_grey)
