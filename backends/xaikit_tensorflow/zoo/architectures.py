"""Keras 3 builders for the model zoo, in the style of the tutorials xaikit follows.

Layer names are fixed (``conv2d``, ``conv2d_1``, ..., ``dense_1``), the names Keras
gives the same layers in a fresh session, so the layer names of the tutorials
(``layer="conv2d_3"``) work on zoo models whatever else was built before. Every
builder returns a plain Functional (default) or Sequential model of built-in layers:
no Lambda, no custom objects, so the saved files load with ``safe_mode=True``.
"""

from __future__ import annotations

from typing import Any

from xaikit.errors import InputError

__all__ = ["BUILDERS", "cnn4", "conv_bn_leaky"]


def _check(input_shape: tuple[int, int, int], n_classes: int) -> tuple[tuple[int, int, int], int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input_shape must be (height, width, channels); got {input_shape!r}")
    if int(n_classes) < 1:
        raise InputError(f"n_classes must be >= 1 (1 = a single sigmoid output); got {n_classes!r}")
    return shape, int(n_classes)  # type: ignore[return-value]


def _assemble(name: str, input_shape: tuple[int, int, int], layers: list[Any], functional: bool) -> Any:
    import keras

    if not functional:
        return keras.Sequential([keras.Input(shape=input_shape, name="input_layer"), *layers], name=name)
    inputs = keras.Input(shape=input_shape, name="input_layer")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def cnn4(input_shape: tuple[int, int, int] = (64, 64, 3), n_classes: int = 4, *, dense_units: int = 128,
         dropout: float = 0.3, functional: bool = True) -> Any:
    """Four Conv-ReLU-MaxPool blocks, Dropout, Flatten, Dense-ReLU, Dense output.

    The architecture of the Keras "cats vs dogs" tutorials (Chollet, *Deep Learning
    with Python*, 2017, sec. 5.2): ``Conv2D(32/64/128/128, 3, relu)`` each followed by
    ``MaxPooling2D(2)``, then ``Dropout``, ``Flatten``, ``Dense(dense_units, relu)``
    (512 in the book; 128 keeps a 64 x 64 model near 1 MB).

    Parameters
    ----------
    input_shape
        ``(height, width, channels)``; at least 46 x 46 (four valid 3 x 3
        convolutions and four 2 x 2 poolings).
    n_classes
        ``1``: a single sigmoid unit (binary task, class 1 = positive, as the book's
        cats-vs-dogs model); ``>= 2``: a softmax over the classes.
    dense_units, dropout
        Width of the hidden Dense layer and the dropout rate before ``Flatten``.
    functional
        Functional model (default) or ``keras.Sequential`` with the same layers and
        names (weights transfer with ``set_weights``).

    Returns
    -------
    keras.Model
        Layers ``conv2d`` .. ``conv2d_3``, ``max_pooling2d`` .. ``max_pooling2d_3``,
        ``dropout``, ``flatten``, ``dense``, ``dense_1`` (output, activation inside).
    """
    from keras import layers as L

    shape, n_classes = _check(input_shape, n_classes)
    stack: list[Any] = []
    for i, filters in enumerate((32, 64, 128, 128)):
        suffix = f"_{i}" if i else ""
        stack += [L.Conv2D(filters, 3, activation="relu", name=f"conv2d{suffix}"),
                  L.MaxPooling2D(2, name=f"max_pooling2d{suffix}")]
    stack += [
        L.Dropout(dropout, name="dropout"),
        L.Flatten(name="flatten"),
        L.Dense(dense_units, activation="relu", name="dense"),
        L.Dense(n_classes, activation="sigmoid" if n_classes == 1 else "softmax", name="dense_1"),
    ]
    return _assemble("cnn4", shape, stack, functional)


def conv_bn_leaky(input_shape: tuple[int, int, int] = (32, 32, 1), n_classes: int = 10, *, dense_units: int = 64,
                  dropout: float = 0.4, functional: bool = True) -> Any:
    """Two Conv-BatchNorm-LeakyReLU-MaxPool blocks, then Dense-BN-LeakyReLU-Dropout, softmax.

    The Fashion-MNIST network of the "visualising the knowledge of a CNN" tutorial
    (seed 001): ``Conv2D(32, 3)`` and ``Conv2D(64, 3)`` (he_normal, L1/L2
    regularised), each with ``BatchNormalization``, ``LeakyReLU`` and
    ``MaxPooling2D(2)``; ``Flatten``; ``Dense(64)``-BN-LeakyReLU-``Dropout(0.4)``;
    ``Dense(n_classes, softmax)``. Batch normalisation (Ioffe & Szegedy, ICML 2015)
    makes the model behave differently in training and inference, a case explainers
    must handle (they run it with ``training=False``).

    Parameters
    ----------
    input_shape
        ``(height, width, channels)``, at least 10 x 10.
    n_classes
        Number of softmax outputs (>= 2).
    dense_units, dropout
        Width of the hidden Dense layer and its dropout rate.
    functional
        Functional model (default) or ``keras.Sequential`` with the same layer names.

    Returns
    -------
    keras.Model
        Layers ``conv2d``, ``batch_normalization``, ``leaky_re_lu``, ``max_pooling2d``,
        ``conv2d_1``, ``batch_normalization_1``, ``leaky_re_lu_1``, ``max_pooling2d_1``,
        ``flatten``, ``dense``, ``batch_normalization_2``, ``leaky_re_lu_2``,
        ``dropout``, ``dense_1`` (softmax output).
    """
    from keras import layers as L
    from keras import regularizers

    shape, n_classes = _check(input_shape, n_classes)
    if n_classes < 2:
        raise InputError(f"conv_bn_leaky builds a softmax classifier: n_classes must be >= 2; got {n_classes}")

    def reg() -> Any:
        return regularizers.L1L2(l1=1e-5, l2=1e-4)

    stack: list[Any] = []
    for i, filters in enumerate((32, 64)):
        suffix = f"_{i}" if i else ""
        stack += [
            L.Conv2D(filters, 3, kernel_initializer="he_normal", kernel_regularizer=reg(), name=f"conv2d{suffix}"),
            L.BatchNormalization(name=f"batch_normalization{suffix}"),
            L.LeakyReLU(name=f"leaky_re_lu{suffix}"),
            L.MaxPooling2D(2, name=f"max_pooling2d{suffix}"),
        ]
    stack += [
        L.Flatten(name="flatten"),
        L.Dense(dense_units, kernel_initializer="he_normal", kernel_regularizer=reg(), name="dense"),
        L.BatchNormalization(name="batch_normalization_2"),
        L.LeakyReLU(name="leaky_re_lu_2"),
        L.Dropout(dropout, name="dropout"),
        L.Dense(n_classes, activation="softmax", name="dense_1"),
    ]
    return _assemble("conv_bn_leaky", shape, stack, functional)


BUILDERS = {"cnn4": cnn4, "conv_bn_leaky": conv_bn_leaky}
"""Builder name -> function, as the zoo's training recipes refer to them."""
