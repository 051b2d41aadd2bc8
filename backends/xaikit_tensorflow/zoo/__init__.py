"""Small trained Keras models shipped with xaikit, and the data they were trained on.

The zoo gives the demo, the tests and the benchmark suite real trained classifiers
without any download: each model is a ``.keras`` file of about 1 MB inside this
package, with a JSON file recording how it was trained and how well it does.

>>> from xaikit_tensorflow import zoo
>>> [m.name for m in zoo.list_models()]                # doctest: +SKIP
['shapes_cnn4', 'shapes_binary', 'digits_bn']
>>> model = zoo.load_model("shapes_cnn4")              # doctest: +SKIP
>>> test = zoo.load_data("shapes_cnn4", split="test", n=200)
>>> test.images.shape, test.masks.shape                 # doctest: +SKIP
((200, 64, 64, 3), (200, 64, 64))

Importing this module does not import TensorFlow: Keras is imported by
:func:`load_model` (and by the training script, ``python -m xaikit_tensorflow.zoo.train``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaikit.datasets import BINARY_CLASSES, DIGIT_CLASSES, SHAPE_CLASSES, ImageDataset, load_digits, make_shapes
from xaikit.errors import FileFormatError, InputError, UnknownNameError
from xaikit.validation import check_choice, check_positive_int

__all__ = ["MODELS_DIR", "ZOO", "ZooModel", "list_models", "load_data", "load_model", "model_info"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Folder of the shipped ``<name>.keras`` and ``<name>.json`` files."""

_SPLITS = ("train", "test")


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry: what the model is, what data it expects, how it is trained.

    Attributes
    ----------
    name : str
        The id passed to :func:`load_model` and :func:`load_data`.
    description : str
        One line for listings.
    architecture : str
        Builder in :mod:`xaikit_tensorflow.zoo.architectures` (``"cnn4"``, ``"conv_bn_leaky"``).
    dataset : str
        ``"shapes"`` (:func:`xaikit.datasets.make_shapes`) or ``"digits"``
        (:func:`xaikit.datasets.load_digits`).
    input_shape : tuple of int
        ``(H, W, C)`` of the model input; images are float32 in ``[0, 1]``, no other
        preprocessing.
    class_names : tuple of str
        Class names in output order (for a single-sigmoid model: negative, positive).
    output_activation : str
        ``"softmax"`` or ``"sigmoid"`` (a single unit, class 1 when ``p > 0.5``).
    data : dict
        The data recipe: generator arguments and, per split, its seed and size.
    training : dict
        Hyper-parameters of :mod:`xaikit_tensorflow.zoo.train` (epochs, batch size,
        learning rate, seed) and the accuracy the run must reach (``min_accuracy``).
    """

    name: str
    description: str
    architecture: str
    dataset: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    output_activation: str
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        """Width of the model output (1 for a single sigmoid)."""
        return 1 if self.output_activation == "sigmoid" else len(self.class_names)

    @property
    def path(self) -> Path:
        """The shipped ``.keras`` file."""
        return MODELS_DIR / f"{self.name}.keras"

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The training record written next to the model (None if not trained yet)."""
        meta = MODELS_DIR / f"{self.name}.json"
        if not meta.is_file():
            return None
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FileFormatError(f"{meta} is not a readable zoo training record: {exc}; recreate it with "
                                  f"python -m xaikit_tensorflow.zoo.train --model {self.name}") from None
        if not isinstance(data, dict):
            raise FileFormatError(f"{meta} is not a readable zoo training record: it holds a {type(data).__name__}, "
                                  "not a JSON object")
        return data

    @property
    def accuracy(self) -> float | None:
        """Accuracy on the whole test split, as measured by the training script."""
        meta = self.metadata
        return None if meta is None else float(meta["test_accuracy"])

    def __str__(self) -> str:
        acc = "untrained" if self.accuracy is None else f"test acc {self.accuracy:.3f}"
        shape = "x".join(str(s) for s in self.input_shape)
        return f"{self.name:<14} {self.dataset:<7} {shape:<8} {self.output_activation:<8} {acc:<15} {self.description}"


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel(
            name="shapes_cnn4",
            description="4-conv CNN (cats-vs-dogs tutorial style), softmax over circle/square/triangle/cross",
            architecture="cnn4",
            dataset="shapes",
            input_shape=(64, 64, 3),
            class_names=SHAPE_CLASSES,
            output_activation="softmax",
            data={"size": (64, 64), "classes": SHAPE_CLASSES, "train": {"seed": 1, "n": 8000},
                  "test": {"seed": 2, "n": 2000}},
            training={"epochs": 10, "batch_size": 64, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
        ZooModel(
            name="shapes_binary",
            description="4-conv CNN with one sigmoid output (cats-vs-dogs style): circle (0) vs cross (1)",
            architecture="cnn4",
            dataset="shapes",
            input_shape=(64, 64, 3),
            class_names=BINARY_CLASSES,
            output_activation="sigmoid",
            data={"size": (64, 64), "classes": BINARY_CLASSES, "train": {"seed": 3, "n": 6000},
                  "test": {"seed": 4, "n": 2000}},
            training={"epochs": 8, "batch_size": 32, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
        ZooModel(
            name="digits_bn",
            description="Conv-BatchNorm-LeakyReLU CNN (Fashion-MNIST tutorial style), softmax over digits 0-9",
            architecture="conv_bn_leaky",
            dataset="digits",
            input_shape=(32, 32, 1),
            class_names=DIGIT_CLASSES,
            output_activation="softmax",
            data={"size": (32, 32), "test_fraction": 0.25, "seed": 0},
            training={"epochs": 30, "batch_size": 32, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
    ]
}
"""Every zoo model by name."""


def model_info(name: str) -> ZooModel:
    """The :class:`ZooModel` entry of ``name``; an unknown name lists the known ones."""
    try:
        return ZOO[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown zoo model {name!r}; available: {', '.join(ZOO)}") from None


def list_models() -> list[ZooModel]:
    """All zoo entries, in a fixed order; ``print(*list_models(), sep="\\n")`` shows a table."""
    return list(ZOO.values())


def load_data(name: str, split: str = "test", n: int | None = None) -> ImageDataset:
    """Images, labels (and masks for the shapes) of the data a zoo model was trained on.

    Parameters
    ----------
    name
        A zoo model name (see :func:`list_models`).
    split
        ``"test"`` (held out, default) or ``"train"``: the exact images of the
        training script.
    n
        Number of images; ``None`` for the whole split. Always the first ``n`` of the
        split, so a small sample is a stable subset of the one the advertised accuracy
        was measured on. (The shapes generator can make more than the split's nominal
        size; the extra images come from the same seed and are as unseen as the rest.)

    Returns
    -------
    ImageDataset
        Ready to feed to the model: float32 in ``[0, 1]``, shape ``(n, *input_shape)``.
    """
    entry = model_info(name)
    check_choice("split", split, _SPLITS)
    if n is not None:
        n = check_positive_int("n", n)
    recipe = entry.data
    if entry.dataset == "shapes":
        part = recipe[split]
        return make_shapes(n or part["n"], size=recipe["size"], seed=part["seed"], classes=recipe["classes"])
    if entry.dataset == "digits":
        data = load_digits(recipe["size"], split=split, test_fraction=recipe["test_fraction"], seed=recipe["seed"])
        return data.head(n)
    raise InputError(f"zoo model {name!r} has an unknown dataset {entry.dataset!r}")  # pragma: no cover


def load_model(name: str, *, directory: str | os.PathLike[str] | None = None) -> Any:
    """Load a zoo model as an uncompiled ``keras.Model``, with Keras safe mode on.

    Parameters
    ----------
    name
        A zoo model name (see :func:`list_models`).
    directory
        Folder holding ``<name>.keras`` (default: the files shipped in this package;
        pass the ``--out`` folder of the training script to load a retrained copy).

    Returns
    -------
    keras.Model
        A fresh model on every call (nothing is cached), taking float32 images in
        ``[0, 1]`` of shape ``(N, *input_shape)``.

    Raises
    ------
    UnknownNameError
        For a name not in :data:`ZOO`.
    FileNotFoundError
        If the file is missing; the message gives the command that recreates it.
    FileFormatError
        If the file is damaged (see :mod:`xaikit_tensorflow.loading`).
    """
    entry = model_info(name)
    path = (Path(directory) if directory is not None else MODELS_DIR) / f"{entry.name}.keras"
    if not path.is_file():
        raise FileNotFoundError(f"zoo model file {path} is missing; recreate it with "
                                f"python -m xaikit_tensorflow.zoo.train --model {entry.name}"
                                + (f" --out {path.parent}" if directory is not None else ""))
    from ..loading import load_model as load_model_file

    return load_model_file(path)  # safe mode; a damaged file gets an error naming it
