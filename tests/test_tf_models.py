"""Models users actually have, and the errors they get when something does not fit."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import InputError, LayerError, ModelError

pytestmark = pytest.mark.tensorflow


def test_hooks_leave_the_model_untouched(functional_cnn, images, tmp_path, keras):
    before = functional_cnn.predict(images, verbose=0)
    xk.explain(functional_cnn, images, method="gradcam", layer="conv_b")
    xk.activations(functional_cnn, images)
    assert all("call" not in layer.__dict__ for layer in functional_cnn.layers)
    assert functional_cnn.get_layer("pred").activation.__name__ == "softmax"
    np.testing.assert_array_equal(functional_cnn.predict(images, verbose=0), before)
    functional_cnn.save(tmp_path / "still_saves.keras")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saved_and_reloaded_models_explain_identically(functional_cnn, images, tmp_path, keras, suffix):
    path = tmp_path / f"model{suffix}"
    functional_cnn.save(path)
    loaded = keras.saving.load_model(path)  # safe mode on
    a = xk.explain(functional_cnn, images, method="gradcam", layer="conv_b")
    b = xk.explain(loaded, images, method="gradcam", layer="conv_b")
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)


def test_weights_file_loading_path(functional_cnn, small_cnn_layers, images, tmp_path, keras):
    path = tmp_path / "cnn.weights.h5"
    functional_cnn.save_weights(path)
    fresh = keras.Sequential([keras.Input((20, 28, 3)), *small_cnn_layers()])
    fresh.load_weights(path)
    a = xk.explain(functional_cnn, images, method="integrated_gradients", steps=4)
    b = xk.explain(fresh, images, method="integrated_gradients", steps=4)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)


def test_inference_mode_dropout_and_batchnorm(functional_cnn, images):
    a = xk.explain(functional_cnn, images, method="vanilla_gradients")
    b = xk.explain(functional_cnn, images, method="vanilla_gradients")
    np.testing.assert_array_equal(a.attributions, b.attributions)  # Dropout(0.5) would make these differ
    np.testing.assert_allclose(a.outputs, functional_cnn(images, training=False).numpy(), rtol=1e-6)


def test_sequential_built_with_build(keras, small_cnn_layers, functional_cnn, images):
    model = keras.Sequential(small_cnn_layers())
    model.build((None, 20, 28, 3))
    model.set_weights(functional_cnn.get_weights())
    a = xk.explain(model, images, method="gradcam++")
    b = xk.explain(functional_cnn, images, method="gradcam++")
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)
    assert a.layer == b.layer == "conv_b"  # the last conv block's output (not the dropout/pooling after it)


def test_unbuilt_model_error(keras, small_cnn_layers, images):
    with pytest.raises(ModelError, match=r"never built.*model.build\(\(None, height, width, channels\)\)"):
        xk.explain(keras.Sequential(small_cnn_layers()), images, method="gradcam")


def test_subclassed_model(keras, images):
    from keras import layers

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(3, 3, activation="relu", name="sub_conv")
            self.pool = layers.GlobalAveragePooling2D(name="sub_gap")
            self.head = layers.Dense(4, activation="softmax", name="sub_dense")

        def call(self, x):
            return self.head(self.pool(self.conv(x)))

    keras.utils.set_random_seed(0)
    net = Net()
    net(images[:1])
    exp = xk.explain(net, images, method="gradcam")
    assert exp.layer == "sub_conv" and exp.score == "output"  # xaikit cannot see the last activation: says so
    with pytest.raises(InputError, match="score='output'"):
        xk.explain(net, images, method="vanilla_gradients", score="logit")
    with pytest.raises(InputError, match="Use score='output'"):
        xk.explain(net, images, method="vanilla_gradients", score="probability")
    with pytest.raises(LayerError, match="subclassed"):
        xk.explain(net, images, method="expected_gradients", background=images, layer="sub_conv")
    assert set(xk.activations(net, images).layers) == {"sub_conv"}


def test_nested_model_layers_are_reachable(nested_model, images):
    exp = xk.explain(nested_model, images, method="gradcam", layer="base_conv1")
    assert exp.layer_attributions.shape == (3, 18, 26)
    auto = xk.explain(nested_model, images, method="gradcam")
    assert auto.layer == "base_conv2"  # the deepest real layer, not the container
    acts = xk.activations(nested_model, images)
    assert acts.layers == ["base_conv1", "base_conv2"]
    at_base = xk.explain(nested_model, images, method="expected_gradients", background=images, n_samples=4, seed=0,
                         layer="base")
    assert at_base.layer_attributions.shape == (3, 16, 24)
    with pytest.raises(LayerError, match="inside a nested model.*base, gap, head"):
        xk.explain(nested_model, images, method="expected_gradients", background=images, layer="base_conv1")


def test_residual_model_cannot_be_split_inside_a_block(keras, images):
    from keras import layers

    inp = keras.Input((20, 28, 3))
    a = layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner")(a)
    c = layers.Add(name="add")([a, b])
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(c))
    model = keras.Model(inp, out)
    with pytest.raises(LayerError, match="cannot be computed from that layer's output alone"):
        xk.explain(model, images, method="expected_gradients", background=images, layer="inner")
    exp = xk.explain(model, images, method="expected_gradients", background=images, layer="add", n_samples=4, seed=0)
    assert exp.layer == "add"
    assert xk.explain(model, images, method="gradcam", layer="inner").layer == "inner"  # capture works anywhere


@pytest.mark.parametrize("last, activation", [("softmax_layer", "softmax"), ("activation", "sigmoid")])
def test_separate_activation_layers_give_logits(keras, images, last, activation):
    from keras import layers

    inp = keras.Input((20, 28, 3))
    z = layers.Dense(3 if activation == "softmax" else 1, name="logits")(layers.Flatten()(inp))
    out = layers.Softmax(name="sm")(z) if last == "softmax_layer" else layers.Activation("sigmoid", name="sig")(z)
    model = keras.Model(inp, out)
    logit_model = keras.Model(inp, z)
    target = 1
    a = xk.explain(model, images, method="vanilla_gradients", targets=target)
    b = xk.explain(logit_model, images, method="vanilla_gradients", targets=target)  # a 1-unit logit is binary too
    assert a.score == "logit"
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)


def test_linear_and_unknown_output_activations(keras, images):
    from keras import layers

    inp = keras.Input((20, 28, 3))
    linear = keras.Model(inp, layers.Dense(3)(layers.Flatten()(inp)))
    assert xk.explain(linear, images, method="vanilla_gradients").score == "logit"
    with pytest.raises(InputError, match="softmax or sigmoid"):
        xk.explain(linear, images, method="vanilla_gradients", score="probability")
    relu = keras.Model(inp, layers.Dense(3, activation="relu")(layers.Flatten()(inp)))
    assert xk.explain(relu, images, method="vanilla_gradients").score == "output"


def test_model_level_errors(keras, images):
    from keras import layers

    a, b = keras.Input((20, 28, 3)), keras.Input((20, 28, 3))
    two_inputs = keras.Model([a, b], layers.Dense(2)(layers.Flatten()(layers.Add()([a, b]))))
    with pytest.raises(ModelError, match="2 inputs"):
        xk.explain(two_inputs, images, method="gradcam")
    with pytest.raises(ModelError, match="keras.Model"):
        xk.explain(object(), images, method="gradcam", backend="tensorflow")
    vector = keras.Sequential([keras.Input((10,)), layers.Dense(2)])
    with pytest.raises(ModelError, match=r"inputs of shape \(None, 10\); xaikit explains image classifiers "
                                         r"taking \(N, H, W, C\) or \(N, C, H, W\)"):
        xk.explain(vector, images, method="gradcam")


def test_input_and_parameter_errors(functional_cnn, images):
    with pytest.raises(InputError, match=r"expects images of height x width 20 x 28 but images are 28 x 20"):
        xk.explain(functional_cnn, images.transpose(0, 2, 1, 3), method="gradcam")
    with pytest.raises(InputError, match="single image"):
        xk.explain(functional_cnn, images[0], method="gradcam")
    with pytest.raises(LayerError, match=r"no layer 'conv2d_3'; layers gradcam can use: conv_a, bn, bn_relu, pool_a"):
        xk.explain(functional_cnn, images, method="gradcam", layer="conv2d_3")
    with pytest.raises(LayerError, match=r"'flat' outputs shape \(N, 462\), not a spatial"):
        xk.explain(functional_cnn, images, method="gradcam", layer="flat")
    with pytest.raises(InputError, match=r"targets\[0\] = 5 is out of range"):
        xk.explain(functional_cnn, images, method="gradcam", targets=[5, 0, 0])
    with pytest.raises(InputError, match="background="):
        xk.explain(functional_cnn, images, method="expected_gradients")
    with pytest.raises(InputError, match="height x width 20 x 28 but background are 8 x 8"):
        xk.explain(functional_cnn, images, method="expected_gradients", background=np.zeros((2, 8, 8, 3)))
    with pytest.raises(InputError, match="larger than the images"):
        xk.explain(functional_cnn, images, method="occlusion", patch_size=30)
    with pytest.raises(InputError, match="n_samples must be an integer >= 1"):
        xk.explain(functional_cnn, images, method="smoothgrad", n_samples=0)
    with pytest.raises(InputError, match="noise must be a finite number >= 0"):
        xk.explain(functional_cnn, images, method="smoothgrad", noise=-0.1)
    with pytest.raises(InputError, match="channel_reduce must be one of"):
        xk.explain(functional_cnn, images, method="vanilla_gradients", channel_reduce="mean")
    with pytest.raises(InputError, match="integration must be one of"):
        xk.explain(functional_cnn, images, method="integrated_gradients", integration="simpson")
    with pytest.raises(InputError, match="baseline must be a number, a per-channel array of shape \\(3,\\)"):
        xk.explain(functional_cnn, images, method="integrated_gradients", baseline=np.zeros(5))
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        xk.explain(functional_cnn, images, method="gradcam", batch_size=0)
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        xk.explain(functional_cnn, bad, method="gradcam")


def test_uint8_images_and_grayscale_models(keras):
    from keras import layers

    model = keras.Sequential([keras.Input((12, 10, 1)), layers.Conv2D(2, 3, name="c"), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).integers(0, 256, (2, 12, 10, 1), dtype=np.uint8)
    a = xk.explain(model, x, method="gradient_x_input")
    b = xk.explain(model, x.astype(np.float32), method="gradient_x_input")
    np.testing.assert_array_equal(a.attributions, b.attributions)


def test_view_is_rebuilt_when_the_model_changes(keras, images):
    from keras import layers

    model = keras.Sequential([keras.Input((20, 28, 3)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    first = xk.explain(model, images, method="vanilla_gradients")
    assert first.outputs.shape == (3, 3)
    model.pop()
    model.add(layers.Dense(5, activation="softmax"))
    second = xk.explain(model, images, method="vanilla_gradients", targets=4)
    assert second.outputs.shape == (3, 5)
    model.layers[-1].activation = keras.activations.linear  # the "remove the softmax" trick
    third = xk.explain(model, images, method="vanilla_gradients", targets=4)
    np.testing.assert_allclose(third.outputs, model(images).numpy(), rtol=1e-6)
    with pytest.raises(InputError, match="softmax or sigmoid"):
        xk.explain(model, images, method="vanilla_gradients", score="probability")


def test_single_logit_output_is_a_binary_model(make_linear):
    rng = np.random.default_rng(3)
    weights, bias = rng.normal(size=(20 * 28 * 3, 1)).astype(np.float32), np.zeros(1, np.float32)
    model = make_linear(weights, bias, (20, 28, 3))  # Dense(1), trained with from_logits=True
    x = rng.uniform(0, 1, (4, 20, 28, 3)).astype(np.float32)
    z = x.reshape(4, -1) @ weights[:, 0]
    exp = xk.explain(model, x, method="vanilla_gradients")
    assert exp.predictions.tolist() == (z > 0).astype(int).tolist() == exp.targets.tolist()
    neg = xk.explain(model, x, method="vanilla_gradients", targets=0)
    np.testing.assert_allclose(neg.channel_attributions[0].ravel(), -weights[:, 0], rtol=1e-5, atol=1e-6)


def test_logit_hook_leaves_the_layer_as_it_was(functional_cnn, images):
    pred = functional_cnn.get_layer("pred")
    activation = pred.activation
    xk.explain(functional_cnn, images, method="gradcam")
    assert pred.activation is activation and "call" not in pred.__dict__


def test_more_parameter_errors(functional_cnn, images):
    with pytest.raises(InputError, match="stride .* larger than patch_size"):
        xk.explain(functional_cnn, images, method="occlusion", patch_size=4, stride=8)
    with pytest.raises(InputError, match="trapezoid' needs steps >= 2"):
        xk.explain(functional_cnn, images, method="integrated_gradients", steps=1)
    assert xk.explain(functional_cnn, images, method="integrated_gradients", steps=1, integration="right")
    with pytest.raises(InputError, match="beyond the float32 range"):
        xk.explain(functional_cnn, images.astype(np.float64) * 1e39, method="gradcam")
    with pytest.raises(InputError, match="no pair takes the parameter.*'n_sample'"):
        xk.compare(functional_cnn, images, pairs=[("smoothgrad", "tensorflow")], n_sample=4)
    exp = xk.explain(functional_cnn, images, method="gradcam")
    with pytest.raises(IndexError):
        exp[3]
