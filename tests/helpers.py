"""Shared test helpers that are not fixtures (those are in conftest.py): paths, comparisons, tiny model builders.

Test modules import them as ``from helpers import ...`` (pytest puts ``tests/`` on the path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["ROOT", "close", "linear_model", "small_torch_cnn"]

#: The repository's root.
ROOT = Path(__file__).resolve().parents[1]


def close(actual, expected, rtol=1e-5):
    """float32 parity: relative to each value, with an absolute floor at 1e-6 of the reference's scale."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-6 * float(np.abs(expected).max()))


def linear_model(keras, weights: np.ndarray, bias: np.ndarray, shape: tuple[int, int, int], activation=None,
                 sequential: bool = False):
    """f(x) = activation(W^T flatten(x) + b): gradients are W, known in closed form."""
    from keras import layers

    dense = layers.Dense(weights.shape[1], activation=activation, name="dense")
    if sequential:
        model = keras.Sequential([keras.Input(shape), layers.Flatten(name="flat"), dense])
    else:
        inp = keras.Input(shape)
        model = keras.Model(inp, dense(layers.Flatten(name="flat")(inp)))
    dense.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    return model


def small_torch_cnn(torch, *, custom_forward: bool = False):
    """The Keras ``small_cnn_layers`` network in PyTorch: Conv-ReLU (in place), BatchNorm, pooling, Dropout, softmax.

    ``custom_forward`` gives the same modules under a class with its own ``forward`` (not
    an ``nn.Sequential``), so the engine's generic paths (hooks replacing a layer's
    output) are compared with the ``nn.Sequential`` ones.
    """
    from collections import OrderedDict

    from torch import nn

    layers = OrderedDict(
        conv_a=nn.Conv2d(3, 4, 3), relu_a=nn.ReLU(inplace=True), bn=nn.BatchNorm2d(4), bn_relu=nn.ReLU(),
        pool_a=nn.MaxPool2d(2), conv_b=nn.Conv2d(4, 6, 3), relu_b=nn.ReLU(), drop=nn.Dropout(0.5),
        flat=nn.Flatten(), pred=nn.Linear(6 * 7 * 11, 5), softmax=nn.Softmax(dim=1))
    if not custom_forward:
        return nn.Sequential(layers)

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, module in layers.items():
                self.add_module(name, module)

        def forward(self, x):
            for module in self.children():
                x = module(x)
            return x

    return SmallCNN()
