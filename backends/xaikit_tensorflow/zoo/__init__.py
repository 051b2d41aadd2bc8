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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xaikit.errors import FileFormatError, UnknownNameError
from xaikit.zoo import ZOO as CORE_ZOO
from xaikit.zoo import ZooEntry, load_data

__all__ = ["MODELS_DIR", "ZOO", "ZooModel", "list_models", "load_data", "load_model", "model_info"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Folder of the shipped ``<name>.keras`` and ``<name>.json`` files."""


@dataclass(frozen=True)
class ZooModel(ZooEntry):
    """A zoo entry (:class:`xaikit.zoo.ZooEntry`) with its Keras file and training record."""

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


ZOO: dict[str, ZooModel] = {name: ZooModel(**vars(entry)) for name, entry in CORE_ZOO.items()}
"""Every zoo model by name (the entries of :data:`xaikit.zoo.ZOO`)."""


def model_info(name: str) -> ZooModel:
    """The :class:`ZooModel` entry of ``name``; an unknown name lists the known ones."""
    try:
        return ZOO[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown zoo model {name!r}; available: {', '.join(ZOO)}") from None


def list_models() -> list[ZooModel]:
    """All zoo entries, in a fixed order; ``print(*list_models(), sep="\\n")`` shows a table."""
    return list(ZOO.values())


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
