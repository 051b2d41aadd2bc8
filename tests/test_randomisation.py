"""Model-parameter randomisation sanity check: the framework-free core with a NumPy
"model", then the Keras randomizer on a tiny model built here (Adebayo et al. 2018)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from xaikit.errors import InputError, LayerError, ModelError
from xaikit.metrics import Randomizer, cascading_randomisation
from xaikit.metrics.randomisation import layer_seed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def sobel_edges(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A model-independent "explanation": the gradient magnitude of the image (an edge detector)."""
    import cv2

    gray = images.mean(axis=-1)
    return np.stack([np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)) for g in gray])


# ----------------------------------------------------------------------------- framework-free core
class NumpyRandomizer:
    """A two-layer linear "model" f(x) = W2 @ (W1 * x) with per-pixel W1; a Randomizer."""

    def __init__(self, h: int, w: int) -> None:
        rng = np.random.default_rng(0)
        self.weights = {"w1": rng.normal(size=(h, w)), "w2": rng.normal(size=3)}
        self._saved: dict[str, np.ndarray] = {}
        self.log: list[tuple[str, int]] = []

    def layers(self) -> list[str]:
        return ["w2", "w1"]

    def randomize(self, layer: str, seed: int) -> None:
        self._saved.setdefault(layer, self.weights[layer].copy())
        self.weights[layer] = np.random.default_rng(seed).normal(size=self.weights[layer].shape)
        self.log.append(("randomize", layer))

    def restore(self) -> None:
        for name, value in self._saved.items():
            self.weights[name] = value
        self._saved.clear()
        self.log.append(("restore", ""))

    def explain(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # gradient x input of class t: W2[t] * W1 * x
        return self.weights["w2"][targets][:, None, None] * self.weights["w1"] * images.mean(axis=-1)


def test_numpy_randomizer_is_a_randomizer():
    assert isinstance(NumpyRandomizer(2, 2), Randomizer)


def test_core_cascading_drops_and_restores():
    images = np.random.default_rng(1).random((3, 6, 5, 2)).astype(np.float32)
    model = NumpyRandomizer(6, 5)
    w1, w2 = model.weights["w1"].copy(), model.weights["w2"].copy()
    res = cascading_randomisation(model.explain, model, images, [0, 1, 2], seed=4, keep_maps=True)
    assert res.layers == ("w2", "w1")
    assert res.spearman.shape == res.spearman_abs.shape == res.ssim.shape == (2, 3)
    # randomising W2 only rescales each map: |maps| keep their ranking exactly
    np.testing.assert_allclose(res.spearman_abs[0], 1.0)
    np.testing.assert_allclose(np.abs(res.spearman[0]), 1.0)
    assert np.all(np.abs(res.spearman_abs[1]) < 0.7)  # W1 random: the pixel weights are gone
    np.testing.assert_array_equal(model.weights["w1"], w1)
    np.testing.assert_array_equal(model.weights["w2"], w2)
    assert res.maps.shape == (2, 3, 6, 5) and res.original.dtype == np.float32
    assert res.params["layer_seeds"] == [layer_seed(4, 0), layer_seed(4, 1)]
    means = res.mean()
    assert set(means) == {"spearman", "spearman_abs", "ssim"} and means["ssim"].shape == (2,)


def test_core_independent_mode_restores_between_steps():
    images = np.random.default_rng(1).random((2, 4, 4, 1)).astype(np.float32)
    model = NumpyRandomizer(4, 4)
    res = cascading_randomisation(model.explain, model, images, [0, 1], mode="independent", seed=0)
    assert model.log == [("randomize", "w2"), ("restore", ""), ("randomize", "w1"), ("restore", ""),
                         ("restore", "")]
    np.testing.assert_allclose(res.spearman_abs[0], 1.0)
    # a layer's seed depends on its position in randomizer.layers(), not on the subset run
    only_w1 = cascading_randomisation(model.explain, model, images, [0, 1], layers=["w1"], seed=0)
    np.testing.assert_array_equal(only_w1.spearman[0], res.spearman[1])


def test_core_restores_on_exception_and_validates():
    images = np.random.default_rng(1).random((2, 4, 4, 1)).astype(np.float32)
    model = NumpyRandomizer(4, 4)
    w1 = model.weights["w1"].copy()
    calls = []

    def failing(x, t):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return model.explain(x, t)

    with pytest.raises(RuntimeError, match="boom"):
        cascading_randomisation(failing, model, images, [0, 1])
    np.testing.assert_array_equal(model.weights["w1"], w1)
    assert model.log[-1] == ("restore", "")
    drawn = cascading_randomisation(model.explain, model, images, [0, 1], seed=None)
    assert isinstance(drawn.params["seed"], int)
    with pytest.raises(InputError, match="targets must be given"):
        cascading_randomisation(model.explain, model, images, None)
    with pytest.raises(LayerError, match="w2, w1"):
        cascading_randomisation(model.explain, model, images, [0, 1], layers=["conv9"])
    with pytest.raises(InputError, match="one map per image"):
        cascading_randomisation(lambda x, t: model.explain(x, t)[:1], model, images, [0, 1])


# ----------------------------------------------------------------------------- Keras
@pytest.fixture(scope="module")
def keras_env():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    return keras, tf


def tiny_cnn(keras, seed: int = 0):
    init = keras.initializers
    inp = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(6, 3, activation="relu", padding="same", name="conv1",
                            kernel_initializer=init.GlorotUniform(seed=seed),
                            bias_initializer=init.Constant(0.1))(inp)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(6, 3, activation="relu", padding="same", name="conv2",
                            kernel_initializer=init.GlorotUniform(seed=seed + 1))(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Flatten(name="flat")(h)
    out = keras.layers.Dense(3, name="dense", kernel_initializer=init.GlorotUniform(seed=seed + 2))(h)
    return keras.Model(inp, out)


def gradient_explainer(model, tf):
    def explain(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(model(x, training=False), targets, axis=1, batch_dims=1)
        return tape.gradient(scores, x).numpy().sum(axis=-1)

    return explain


def weights_equal(before, after) -> bool:
    return len(before) == len(after) and all(np.array_equal(a, b) for a, b in zip(before, after))


def test_keras_adebayo_gradients_change_edges_do_not(keras_env):
    from xaikit_tensorflow.randomize import KerasRandomizer

    keras, tf = keras_env
    model = tiny_cnn(keras)
    images = np.random.default_rng(0).random((4, 12, 12, 1)).astype(np.float32)
    targets = np.array([0, 1, 2, 0])
    before = [w.copy() for w in model.get_weights()]
    randomizer = KerasRandomizer(model)
    assert randomizer.layers() == ["dense", "bn", "conv2", "conv1"]  # top first, no pool/flatten

    grads = cascading_randomisation(gradient_explainer(model, tf), randomizer, images, targets, seed=0)
    assert weights_equal(before, model.get_weights())
    means = grads.mean()
    for name in ("spearman", "spearman_abs", "ssim"):
        assert means[name][-1] < 0.5, (name, means[name])  # all layers random: the maps are unrelated
    assert np.all(grads.spearman_abs[0] < 0.9)  # already the top layer changes gradient maps

    edges = cascading_randomisation(sobel_edges, randomizer, images, targets, seed=0)
    for name in ("spearman", "spearman_abs", "ssim"):
        np.testing.assert_allclose(getattr(edges, name), 1.0)
    assert weights_equal(before, model.get_weights())

    again = cascading_randomisation(gradient_explainer(model, tf), randomizer, images, targets, seed=0)
    np.testing.assert_allclose(again.spearman, grads.spearman)  # seeded


def test_keras_restores_bit_exactly_after_exception(keras_env):
    from xaikit_tensorflow.randomize import KerasRandomizer

    keras, tf = keras_env
    model = tiny_cnn(keras, seed=3)
    images = np.random.default_rng(1).random((2, 12, 12, 1)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    explain = gradient_explainer(model, tf)
    calls = []

    def failing(x, t):
        calls.append(1)
        if len(calls) == 3:  # original, dense random, then fail with dense + bn random
            assert not weights_equal(before, model.get_weights())
            raise ValueError("explainer failed")
        return explain(x, t)

    with pytest.raises(ValueError, match="explainer failed"):
        cascading_randomisation(failing, KerasRandomizer(model), images, [0, 1])
    assert weights_equal(before, model.get_weights())


def test_keras_randomizer_uses_layer_initializers(keras_env):
    from xaikit_tensorflow.randomize import KerasRandomizer

    keras, _ = keras_env
    init = keras.initializers

    class Scale(keras.layers.Layer):
        """A custom layer whose weight has no ``*_initializer`` attribute."""

        def build(self, input_shape):
            self.w = self.add_weight(shape=(int(input_shape[-1]),), initializer="ones", name="w")

        def call(self, x):
            return x * self.w

    inner = keras.Sequential([keras.layers.Dense(4, name="inner_dense")], name="block")
    inp = keras.Input((5, 5, 2))
    h = keras.layers.DepthwiseConv2D(3, name="dw", depthwise_initializer=init.Constant(0.5),
                                     bias_initializer="zeros", use_bias=True)(inp)
    h = Scale(name="scale")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = inner(h)
    out = keras.layers.Dense(2, name="head", kernel_initializer=init.Constant(-0.25),
                             bias_initializer=init.Constant(3.0))(h)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    before = [w.copy() for w in model.get_weights()]

    r = KerasRandomizer(model)
    assert r.layers() == ["head", "block/inner_dense", "scale", "dw"]
    with r:
        r.randomize("head", 1)
        kernel, bias = model.get_layer("head").get_weights()
        np.testing.assert_array_equal(kernel, -0.25)
        np.testing.assert_array_equal(bias, 3.0)
        r.randomize("dw", 1)
        dw_kernel, dw_bias = model.get_layer("dw").get_weights()
        np.testing.assert_array_equal(dw_kernel, 0.5)
        np.testing.assert_array_equal(dw_bias, 0.0)
        original_scale = before[2]
        r.randomize("scale", 7)
        drawn = model.get_layer("scale").get_weights()[0]
        assert not np.array_equal(drawn, original_scale)
        assert r.initializers_used["scale"]["w"].startswith("seeded normal(0, ")
        r.randomize("scale", 7)  # same seed, same values; originals kept from the first call
        np.testing.assert_array_equal(model.get_layer("scale").get_weights()[0], drawn)
        r.randomize("block/inner_dense", 2)
        first = model.get_layer("block").get_layer("inner_dense").get_weights()[0].copy()
        r.randomize("block/inner_dense", 3)
        assert not np.array_equal(first, model.get_layer("block").get_layer("inner_dense").get_weights()[0])
        assert r.initializers_used["block/inner_dense"]["kernel"] == "GlorotUniform"
    assert weights_equal(before, model.get_weights())  # restored on leaving the with block
    assert r.initializers_used == {}
    with pytest.raises(LayerError, match="head, block/inner_dense"):
        r.randomize("gap", 0)


def test_keras_randomizer_rejects_unbuilt_or_foreign_models(keras_env):
    from xaikit_tensorflow.randomize import KerasRandomizer

    keras, _ = keras_env
    with pytest.raises(ModelError, match="not built"):
        KerasRandomizer(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ModelError, match="keras.Model"):
        KerasRandomizer(object())
