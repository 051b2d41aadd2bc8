"""Keras zoo weights into their PyTorch twins, read from the ``.keras`` file (no TensorFlow needed).

A ``.keras`` file is a zip archive holding ``config.json`` (the layers and their
settings) and ``model.weights.h5`` (each layer's variables under
``layers/<name>/vars/<i>``, in the layer's ``weights`` order); it is read with
:mod:`zipfile` and h5py. Per layer:

========================  =====================================================================
Keras                     PyTorch twin
========================  =====================================================================
Conv2D kernel (h, w, i, o)  ``weight`` (o, i, h, w); bias as is
Dense kernel (i, o)       ``weight`` (o, i); after a Flatten the input index is reordered from
                          Keras' ``(h, w, C)`` to PyTorch's ``(C, h, w)`` flattening
BatchNormalization        gamma, beta, moving mean, moving variance -> ``weight``, ``bias``,
                          ``running_mean``, ``running_var``
========================  =====================================================================

The conversion is exact (transpositions only); the settings that change numbers
(BatchNorm ``epsilon``, LeakyReLU ``negative_slope``, Dense widths, dropout rates) are
read from the file's config and given to the twin's builder.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from xaikit.errors import FileFormatError, MissingDependencyError

from .architectures import BUILDERS, Activated

__all__ = ["KerasFile", "build_twin", "load_keras_weights", "read_keras_file"]


class KerasFile:
    """The layers (config) and weights of a ``.keras`` file.

    Attributes
    ----------
    path : Path
    layers : list of dict
        ``{"class_name", "config"}`` of every layer but the input layer, in order.
    input_shape : tuple of int
        ``(H, W, C)``.
    weights : dict
        layer name -> list of float32 arrays, in the layer's ``weights`` order.
    """

    def __init__(self, path: Path, layers: list[dict[str, Any]], input_shape: tuple[int, ...],
                 weights: dict[str, list[np.ndarray]]) -> None:
        self.path, self.layers, self.input_shape, self.weights = path, layers, input_shape, weights

    def layer(self, class_name: str) -> dict[str, Any]:
        """The config of the first layer of ``class_name``."""
        for layer in self.layers:
            if layer["class_name"] == class_name:
                return layer["config"]
        raise FileFormatError(f"{self.path} has no {class_name} layer")

    def error(self, problem: str) -> FileFormatError:
        return FileFormatError(f"{self.path} does not hold the architecture its PyTorch twin mirrors: {problem}")


def read_keras_file(path: str | Path) -> KerasFile:
    """Read the config and weights of a Keras 3 ``.keras`` file of a Sequential or Functional chain."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingDependencyError('the PyTorch twins read the Keras zoo weights with h5py: pip install '
                                     '"xaikit[torch]"') from None
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json").decode("utf-8"))
            raw = zf.read("model.weights.h5")
        layers = config["config"]["layers"]
        with h5py.File(io.BytesIO(raw), "r") as h5:
            weights = {}
            for name, group in h5["layers"].items():
                variables = group["vars"]
                weights[name] = [np.asarray(variables[str(i)], np.float32) for i in range(len(variables))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise FileFormatError(f"{path} is not a readable Keras model file: {exc}") from None
    inputs = [layer for layer in layers if layer["class_name"] == "InputLayer"]
    if len(inputs) != 1:
        raise FileFormatError(f"{path} has {len(inputs)} input layers; the twins mirror single-input chains")
    shape = inputs[0]["config"].get("batch_shape") or inputs[0]["config"].get("batch_input_shape")
    return KerasFile(path, [layer for layer in layers if layer["class_name"] != "InputLayer"],
                     tuple(int(s) for s in shape[1:]), weights)


def build_twin(architecture: str, keras_file: KerasFile) -> nn.Sequential:
    """The twin of ``architecture`` with the settings of ``keras_file`` (not yet its weights).

    The modules' initial values are drawn inside :func:`torch.random.fork_rng`, so torch's
    global random state is left as it was; :func:`load_keras_weights` overwrites them.
    """
    if architecture not in BUILDERS:
        raise keras_file.error(f"unknown architecture {architecture!r} (twins: {', '.join(BUILDERS)})")
    height, width, channels = keras_file.input_shape
    dense = [layer["config"] for layer in keras_file.layers if layer["class_name"] == "Dense"]
    options: dict[str, Any] = {"dense_units": int(dense[0]["units"]),
                               "dropout": float(keras_file.layer("Dropout")["rate"])}
    if architecture == "conv_bn_leaky":
        bn = keras_file.layer("BatchNormalization")
        options.update(eps=float(bn["epsilon"]), momentum=1.0 - float(bn["momentum"]),
                       negative_slope=float(keras_file.layer("LeakyReLU")["negative_slope"]))
    with torch.random.fork_rng(devices=[]):
        model = BUILDERS[architecture]((channels, height, width), int(dense[-1]["units"]), **options)
    names = [layer["config"]["name"] for layer in keras_file.layers]
    if names != list(model._modules):
        raise keras_file.error(f"its layers are {', '.join(names)}; the twin's modules are {', '.join(model._modules)}")
    return model


def load_keras_weights(model: nn.Sequential, keras_file: KerasFile) -> nn.Sequential:
    """Copy the Keras weights into the twin (exact: transpositions only); returns ``model``."""
    flatten_input = _flatten_input_shape(model, keras_file.input_shape)
    after_flatten = False
    with torch.no_grad():
        for layer in keras_file.layers:
            name, kind = layer["config"]["name"], layer["class_name"]
            module = model._modules[name]
            target = module.layer if isinstance(module, Activated) else module
            values = keras_file.weights.get(name, [])
            if kind == "Conv2D":
                _assign(keras_file, name, target.weight, values[0].transpose(3, 2, 0, 1))
                _assign(keras_file, name, target.bias, values[1])
            elif kind == "Dense":
                kernel = values[0]
                if after_flatten:  # rows in Keras' (h, w, C) order -> PyTorch's (C, h, w)
                    c, h, w = flatten_input
                    kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
                    after_flatten = False
                _assign(keras_file, name, target.weight, kernel.T)
                _assign(keras_file, name, target.bias, values[1])
            elif kind == "BatchNormalization":
                for tensor, value in zip((target.weight, target.bias, target.running_mean, target.running_var), values):
                    _assign(keras_file, name, tensor, value)
            elif kind == "Flatten":
                after_flatten = True
            elif values:
                raise keras_file.error(f"layer {name!r} ({kind}) has weights the converter does not know")
    return model


def _assign(keras_file: KerasFile, name: str, tensor: torch.Tensor, value: np.ndarray) -> None:
    if tuple(tensor.shape) != value.shape:
        raise keras_file.error(f"layer {name!r} holds shape {value.shape} where the twin has {tuple(tensor.shape)}")
    tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _flatten_input_shape(model: nn.Sequential, hwc: tuple[int, ...]) -> tuple[int, ...]:
    """``(C, h, w)`` entering the twin's Flatten, from a forward pass of a zero image."""
    seen: list[tuple[int, ...]] = []
    flatten = next(m for m in model.modules() if isinstance(m, nn.Flatten))
    handle = flatten.register_forward_pre_hook(lambda _, inputs: seen.append(tuple(inputs[0].shape[1:])))
    training = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, hwc[2], hwc[0], hwc[1])))
    finally:
        handle.remove()
        for module, flag in training:
            module.training = flag
    return seen[0]
