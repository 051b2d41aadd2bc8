"""The conformance suite's model factory for Keras 3 (:mod:`xaikit.testing`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.testing import IMAGE_SHAPE, N_CLASSES, ModelFactory

__all__ = ["KerasFactory"]


class KerasFactory(ModelFactory):
    """Tiny Keras models with known weights for the conformance checks."""

    layout = "NHWC"

    def linear(self, weights: np.ndarray, bias: np.ndarray, activation: str) -> Any:
        import keras

        inp = keras.Input(IMAGE_SHAPE)
        dense = keras.layers.Dense(weights.shape[-1], activation=activation, name="dense")
        model = keras.Model(inp, dense(keras.layers.Flatten(name="flat")(inp)))
        dense.set_weights([weights.reshape(-1, weights.shape[-1]), bias])
        return model

    def cnn(self) -> tuple[Any, str]:
        import keras

        keras.utils.set_random_seed(7)
        inp = keras.Input(IMAGE_SHAPE)
        h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv")(inp)
        h = keras.layers.MaxPooling2D(2, name="pool")(h)
        h = keras.layers.Flatten(name="flat")(h)
        return keras.Model(inp, keras.layers.Dense(N_CLASSES, activation="softmax", name="pred")(h)), "conv"
