"""The model zoo: small trained classifiers shipped with xaikit, in every framework that has them.

Each entry says what the model is and which data it was trained on (framework-free:
the data come from :mod:`xaikit.datasets`, nothing is downloaded); the trained weights
live in the backends (``xaikit_tensorflow.zoo``: the Keras originals; ``xaikit_torch``:
their PyTorch twins, converted from the same weights), reached through each backend's
model services.

>>> from xaikit import zoo
>>> [m.name for m in zoo.list_models()]
['shapes_cnn4', 'shapes_binary', 'digits_bn']
>>> model = zoo.load_model("shapes_cnn4")                     # doctest: +SKIP
>>> test = zoo.load_data("shapes_cnn4", split="test", n=200)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .datasets import BINARY_CLASSES, DIGIT_CLASSES, SHAPE_CLASSES, ImageDataset, load_digits, make_shapes
from .errors import InputError, UnknownNameError
from .validation import check_choice, check_positive_int

__all__ = ["ZOO", "ZooEntry", "list_models", "load_data", "load_model", "model_info", "training_record"]

_SPLITS = ("train", "test")


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: what it is, what data it expects, how it is trained.

    Attributes
    ----------
    name : str
        The id passed to :func:`load_model` and :func:`load_data`.
    description : str
        One line for listings.
    architecture : str
        The architecture's name (``"cnn4"``, ``"conv_bn_leaky"``), built the same way in
        every framework.
    dataset : str
        ``"shapes"`` (:func:`xaikit.datasets.make_shapes`) or ``"digits"``
        (:func:`xaikit.datasets.load_digits`).
    input_shape : tuple of int
        ``(H, W, C)`` of one image; float32 in ``[0, 1]``, no other preprocessing.
    class_names : tuple of str
        Class names in output order (for a single-sigmoid model: negative, positive).
    output_activation : str
        ``"softmax"`` or ``"sigmoid"`` (a single unit, class 1 when ``p > 0.5``).
    data : dict
        The data recipe: generator arguments and, per split, its seed and size.
    training : dict
        Hyper-parameters of the training script and the accuracy it must reach.
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
    def preprocess(self) -> str:
        """The preprocessing scheme from 0-255 pixels (:mod:`xaikit.preprocessing`)."""
        return "scale255"


ZOO: dict[str, ZooEntry] = {
    m.name: m
    for m in [
        ZooEntry(
            name="shapes_cnn4",
            description="4-conv CNN (cats-vs-dogs tutorial style), softmax over circle/square/triangle/cross",
            architecture="cnn4", dataset="shapes", input_shape=(64, 64, 3), class_names=SHAPE_CLASSES,
            output_activation="softmax",
            data={"size": (64, 64), "classes": SHAPE_CLASSES, "train": {"seed": 1, "n": 8000},
                  "test": {"seed": 2, "n": 2000}},
            training={"epochs": 10, "batch_size": 64, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
        ZooEntry(
            name="shapes_binary",
            description="4-conv CNN with one sigmoid output (cats-vs-dogs style): circle (0) vs cross (1)",
            architecture="cnn4", dataset="shapes", input_shape=(64, 64, 3), class_names=BINARY_CLASSES,
            output_activation="sigmoid",
            data={"size": (64, 64), "classes": BINARY_CLASSES, "train": {"seed": 3, "n": 6000},
                  "test": {"seed": 4, "n": 2000}},
            training={"epochs": 8, "batch_size": 32, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
        ZooEntry(
            name="digits_bn",
            description="Conv-BatchNorm-LeakyReLU CNN (Fashion-MNIST tutorial style), softmax over digits 0-9",
            architecture="conv_bn_leaky", dataset="digits", input_shape=(32, 32, 1), class_names=DIGIT_CLASSES,
            output_activation="softmax",
            data={"size": (32, 32), "test_fraction": 0.25, "seed": 0},
            training={"epochs": 30, "batch_size": 32, "learning_rate": 1e-3, "seed": 0, "min_accuracy": 0.95},
        ),
    ]
}
"""Every zoo model by name."""


def model_info(name: str) -> ZooEntry:
    """The :class:`ZooEntry` of ``name``; an unknown name lists the known ones."""
    try:
        return ZOO[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown zoo model {name!r}; available: {', '.join(ZOO)}") from None


def list_models() -> list[ZooEntry]:
    """All zoo entries, in a fixed order."""
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
        was measured on.

    Returns
    -------
    ImageDataset
        float32 in ``[0, 1]``, channels last ``(n, H, W, C)`` as Keras takes them; for a
        PyTorch twin pass ``xaikit.kernels.to_layout(data.images, "NHWC", "NCHW")``.
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


def _services(framework: str) -> Any:
    from .registry import services_for_framework

    return services_for_framework(framework)


def load_model(name: str, framework: str = "keras", **options: Any) -> Any:
    """A fresh copy of zoo model ``name`` in ``framework`` (``"keras"`` or ``"torch"``).

    The Keras models are the trained originals; the PyTorch twins carry the same weights
    (converted), so the same network can be explained in both frameworks.
    """
    model_info(name)
    return _services(framework).zoo_model(name, **options)


def training_record(name: str, framework: str = "keras") -> dict[str, Any] | None:
    """How the zoo model was made and how well it does (``test_accuracy``), or None if untrained."""
    model_info(name)
    return _services(framework).zoo_record(name)
