"""PyTorch twins of the Keras zoo architectures (:mod:`xaikit_tensorflow.zoo.architectures`).

The same layers, in the same order, under the same names: module ``conv2d_3`` of the
twin is layer ``conv2d_3`` of the Keras model, so ``layer="conv2d_3"`` means the same
tensor on both. A Keras layer with a built-in activation (``Conv2D(..., activation=
"relu")``) is an :class:`Activated` block whose output is the activated one, as in Keras;
its parts are reachable as ``conv2d_3.layer`` (before the activation) and
``conv2d_3.activation``.

What differs between the frameworks and is matched here: PyTorch takes channels-first
images and flattens ``(C, h, w)`` (the converter reorders the first Dense kernel),
BatchNorm's ``eps`` defaults to 1e-5 in PyTorch and 1e-3 in Keras, its ``momentum`` is
``1 - momentum`` of Keras, and ``LeakyReLU``'s slope defaults to 0.01 in PyTorch and 0.3
in Keras 3. Every convolution of the zoo is "valid" (no padding), so Keras' asymmetric
"same" padding never arises.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from xaikit.errors import InputError

__all__ = ["BUILDERS", "Activated", "cnn4", "conv_bn_leaky", "keras_initialise"]


class Activated(nn.Module):
    """A layer followed by its activation, as one Keras layer with ``activation=...`` is."""

    def __init__(self, layer: nn.Module, activation: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.layer(x))


def _check(input_shape: tuple[int, int, int], n_classes: int) -> tuple[tuple[int, int, int], int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input_shape must be (channels, height, width); got {input_shape!r}")
    if int(n_classes) < 1:
        raise InputError(f"n_classes must be >= 1 (1 = a single sigmoid output); got {n_classes!r}")
    return shape, int(n_classes)  # type: ignore[return-value]


def _flat_features(channels: int, size: tuple[int, int], blocks: int) -> int:
    height, width = size
    for _ in range(blocks):  # a valid 3x3 convolution, then 2x2 max pooling
        height, width = (height - 2) // 2, (width - 2) // 2
    if height < 1 or width < 1:
        raise InputError(f"images of {size[0]} x {size[1]} are too small for {blocks} convolution blocks")
    return channels * height * width


def cnn4(input_shape: tuple[int, int, int] = (3, 64, 64), n_classes: int = 4, *, dense_units: int = 128,
         dropout: float = 0.3) -> nn.Sequential:
    """The twin of :func:`xaikit_tensorflow.zoo.architectures.cnn4`: four Conv-ReLU-MaxPool blocks, Dense head.

    ``input_shape`` is ``(C, H, W)``; ``n_classes == 1`` ends in one sigmoid unit, more in
    a softmax (``dense_1`` is ``Activated(Linear, Softmax)``, so the logit is the
    softmax's input, as in Keras).
    """
    (channels, height, width), n_classes = _check(input_shape, n_classes)
    stack: list[tuple[str, nn.Module]] = []
    previous = channels
    for i, filters in enumerate((32, 64, 128, 128)):
        suffix = f"_{i}" if i else ""
        stack += [(f"conv2d{suffix}", Activated(nn.Conv2d(previous, filters, 3), nn.ReLU())),
                  (f"max_pooling2d{suffix}", nn.MaxPool2d(2))]
        previous = filters
    final = nn.Sigmoid() if n_classes == 1 else nn.Softmax(dim=1)
    stack += [
        ("dropout", nn.Dropout(dropout)),
        ("flatten", nn.Flatten()),
        ("dense", Activated(nn.Linear(_flat_features(previous, (height, width), 4), dense_units), nn.ReLU())),
        ("dense_1", Activated(nn.Linear(dense_units, n_classes), final)),
    ]
    return nn.Sequential(OrderedDict(stack))


def conv_bn_leaky(input_shape: tuple[int, int, int] = (1, 32, 32), n_classes: int = 10, *, dense_units: int = 64,
                  dropout: float = 0.4, eps: float = 1e-3, momentum: float = 0.01,
                  negative_slope: float = 0.3) -> nn.Sequential:
    """The twin of :func:`xaikit_tensorflow.zoo.architectures.conv_bn_leaky`.

    Two Conv-BatchNorm-LeakyReLU-MaxPool blocks, Dense-BatchNorm-LeakyReLU-Dropout,
    Dense softmax. ``eps``, ``momentum`` (PyTorch's convention: ``1 -`` Keras') and
    ``negative_slope`` default to the Keras layers' defaults.
    """
    (channels, height, width), n_classes = _check(input_shape, n_classes)
    if n_classes < 2:
        raise InputError(f"conv_bn_leaky builds a softmax classifier: n_classes must be >= 2; got {n_classes}")
    stack: list[tuple[str, nn.Module]] = []
    previous = channels
    for i, filters in enumerate((32, 64)):
        suffix = f"_{i}" if i else ""
        stack += [
            (f"conv2d{suffix}", nn.Conv2d(previous, filters, 3)),
            (f"batch_normalization{suffix}", nn.BatchNorm2d(filters, eps=eps, momentum=momentum)),
            (f"leaky_re_lu{suffix}", nn.LeakyReLU(negative_slope)),
            (f"max_pooling2d{suffix}", nn.MaxPool2d(2)),
        ]
        previous = filters
    stack += [
        ("flatten", nn.Flatten()),
        ("dense", nn.Linear(_flat_features(previous, (height, width), 2), dense_units)),
        ("batch_normalization_2", nn.BatchNorm1d(dense_units, eps=eps, momentum=momentum)),
        ("leaky_re_lu_2", nn.LeakyReLU(negative_slope)),
        ("dropout", nn.Dropout(dropout)),
        ("dense_1", Activated(nn.Linear(dense_units, n_classes), nn.Softmax(dim=1))),
    ]
    return nn.Sequential(OrderedDict(stack))


def keras_initialise(model: nn.Module) -> nn.Module:
    """Give ``model`` Keras' initial weights: Glorot-uniform kernels, zero biases (in place).

    The twins are filled with the converted Keras weights when they explain; a twin
    *trained from scratch* (ROAR's retrainings) should start as the Keras model did, not
    from PyTorch's defaults (Kaiming-uniform with ``a = sqrt(5)``, a variance of
    ``1 / (3 fan_in)``, and uniform biases). Glorot & Bengio (2010) scale the variance to
    ``2 / (fan_in + fan_out)``; through four ReLU convolutions without BatchNorm
    (``cnn4``) PyTorch's smaller start left many retrainings at chance. BatchNorm layers
    keep scale 1 and offset 0, as in both frameworks.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)  # Keras' fans: (in, out) x the kernel's area
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


BUILDERS = {"cnn4": cnn4, "conv_bn_leaky": conv_bn_leaky}
"""Builder name -> function, the names of :data:`xaikit_tensorflow.zoo.architectures.BUILDERS`."""
