"""The Keras zoo models as PyTorch modules: the same networks, the same weights.

Every model of :mod:`xaikit_tensorflow.zoo` has a twin here: the same architecture in
PyTorch (:mod:`.architectures`, same layer names) with the weights of the shipped
``.keras`` file, converted when the twin is loaded (:mod:`.convert`; exact, no file of
its own to keep in step). The two frameworks then compute the same function, which
makes the twins an oracle: every method must give the same maps on both (tested).

>>> from xaikit_torch import zoo                                   # doctest: +SKIP
>>> model = zoo.load_twin("shapes_cnn4")                           # nn.Sequential, eval mode
>>> from xaikit_tensorflow.zoo import load_data                    # doctest: +SKIP
>>> images = load_data("shapes_cnn4", n=8).images.transpose(0, 3, 1, 2)   # (N, C, H, W)

Importing this module does not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["TWINS", "load_twin"]

#: Zoo models that have a PyTorch twin.
TWINS = ("shapes_cnn4", "shapes_binary", "digits_bn")


def load_twin(name: str, *, directory: str | os.PathLike[str] | None = None) -> Any:
    """The PyTorch twin of zoo model ``name``, with its Keras weights, in eval mode, on the CPU.

    Parameters
    ----------
    name
        A zoo model name (:data:`TWINS`).
    directory
        Folder holding ``<name>.keras`` (default: the files shipped with xaikit).

    Returns
    -------
    torch.nn.Sequential
        A fresh model on every call, taking float32 ``(N, C, H, W)`` images in ``[0, 1]``;
        its modules have the Keras layers' names.

    Raises
    ------
    UnknownNameError
        For a name without a twin.
    FileNotFoundError
        If the ``.keras`` file is missing.
    FileFormatError
        If the file is damaged or holds another architecture.
    """
    from xaikit_tensorflow.zoo import MODELS_DIR, model_info  # the zoo's records; imports no TensorFlow

    from xaikit.errors import UnknownNameError

    from .convert import build_twin, load_keras_weights, read_keras_file

    if name not in TWINS:
        raise UnknownNameError(f"zoo model {name!r} has no PyTorch twin; twins: {', '.join(TWINS)}")
    entry = model_info(name)
    path = (Path(directory) if directory is not None else MODELS_DIR) / f"{name}.keras"
    if not path.is_file():
        raise FileNotFoundError(f"zoo model file {path} is missing; recreate it with "
                                f"python -m xaikit_tensorflow.zoo.train --model {name}")
    keras_file = read_keras_file(path)
    model = load_keras_weights(build_twin(entry.architecture, keras_file), keras_file)
    return model.eval()
