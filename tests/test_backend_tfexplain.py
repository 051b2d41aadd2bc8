"""The tf-explain adapter: the xaikit contract, fidelity to tf-explain, and parity with the native backend.

Three kinds of evidence:

1. *Contract*: the same shapes, dtypes, targets and recorded params as the native backend,
   on Functional and Sequential (never called symbolically) models and non-square images.
2. *Fidelity*: where tf-explain 0.3.1 itself works under Keras 3 (a Functional model, square
   images for occlusion), the adapter returns exactly what tf-explain's own functions return.
3. *Parity*: with both backends configured to compute the same thing, they agree; where the
   definitions differ, the documented relationship holds.

Tolerances: both backends run the same float32 Keras graph, so results agree to float32
round-off. Comparisons use ``assert_allclose(rtol=1e-5, atol=1e-6 * scale)`` where ``scale``
is the largest magnitude of the reference (measured max relative differences are ~3e-7,
see docs/backends/tf-explain.md); formulas that add or divide per-sample terms (IG,
SmoothGrad) get ``rtol=1e-4`` because the two sides sum the same float32 terms in a
different order.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import close

import xaikit as xk
from xaikit.errors import InputError, LayerError, ModelError
from xaikit.imaging import resize_maps

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tf_explain")

METHODS = ["occlusion", "gradcam", "vanilla_gradients", "gradient_x_input", "smoothgrad", "integrated_gradients"]
TARGETS = [1, 2, 3]


def method_params(method: str) -> dict:
    """Small but non-trivial settings (baseline 0.5: grey for these [0, 1] images)."""
    return {
        "occlusion": {"patch_size": 4, "baseline": 0.5},
        "gradcam": {"layer": "conv_b"},
        "vanilla_gradients": {},
        "gradient_x_input": {},
        "smoothgrad": {"n_samples": 3, "noise_std": 0.2, "seed": 3},
        "integrated_gradients": {"steps": 4},
    }[method]


def tfx(model, images, method, **params):
    return xk.explain(model, images, method=method, backend="tf-explain", **params)


def native(model, images, method, **params):
    return xk.explain(model, images, method=method, backend="tensorflow", **params)


# ----------------------------------------------------------------------------------------------- contract
def test_backend_is_registered_and_lazy():
    row = next(b for b in xk.list_backends() if b.name == "tf-explain")
    assert row.available and set(row.methods) == {"activations", *METHODS} and row.versions["tf-explain"] == "0.3.1"


@pytest.mark.parametrize("method", METHODS)
def test_contract_on_functional_and_sequential(method, functional_cnn, sequential_cnn, images):
    params = method_params(method)
    n, h, w = images.shape[:3]
    exp = tfx(functional_cnn, images, method, **params)
    assert isinstance(exp, xk.Explanation) and exp.method == method and exp.backend == "tf-explain"
    assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0
    assert exp.outputs.shape == (n, 5)
    np.testing.assert_array_equal(exp.targets, exp.outputs.argmax(1))  # None -> predicted class
    for key, value in params.items():
        assert exp.params[key] == ([value, value] if key == "patch_size" else value), key
    expected_score = {"occlusion": "1-probability", "smoothgrad": "cross_entropy_loss"}.get(method, "probability")
    assert exp.score == exp.params["score"] == expected_score  # tf-explain's own choice, recorded
    assert exp.info["tf-explain"] == "0.3.1" and exp.elapsed > 0
    if method == "gradcam":
        assert exp.layer == "conv_b" and exp.layer_attributions.shape == (n, 7, 11)
        assert exp.params["guided"] is True and exp.params["relu"] is False
    # a Sequential model never called symbolically (tf-explain itself fails on it) gives the same numbers
    seq = tfx(sequential_cnn, images, method, **params)
    np.testing.assert_allclose(seq.attributions, exp.attributions, rtol=1e-5, atol=1e-7)
    # targets: an int for all, one per image
    assert tfx(functional_cnn, images, method, targets=4, **params).targets.tolist() == [4, 4, 4]
    per_image = tfx(functional_cnn, images, method, targets=TARGETS, **params)
    assert per_image.targets.tolist() == TARGETS
    # per-image results: explaining one image alone gives its row of the batch (SmoothGrad's noise comes from one
    # stream in image order, as tf-explain's after np.random.seed, so there the row depends on the position)
    if method != "smoothgrad":
        alone = tfx(functional_cnn, images[2:3], method, targets=TARGETS[2], **params)
        np.testing.assert_allclose(alone.attributions[0], per_image.attributions[2], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_batch_size_invariance(method, functional_cnn, images):
    params = method_params(method)
    reference = tfx(functional_cnn, images, method, targets=[1, 1, 3], batch_size=64, **params)
    other = tfx(functional_cnn, images, method, targets=[1, 1, 3], batch_size=2, **params)
    np.testing.assert_allclose(other.attributions, reference.attributions, rtol=1e-5, atol=1e-7)


def test_activations(functional_cnn, sequential_cnn, images):
    from tf_explain.core.activations import ExtractActivations

    acts = xk.activations(functional_cnn, images, backend="tf-explain")
    assert acts.backend == "tf-explain" and acts.layers == ["conv_a", "pool_a", "conv_b"]
    reference = ExtractActivations.generate_activations_graph(functional_cnn, ["conv_a", "conv_b"]).predict(images,
                                                                                                          verbose=0)
    np.testing.assert_array_equal(acts["conv_a"], reference[0])  # raw floats, not tf-explain's uint8 grid
    np.testing.assert_array_equal(acts["conv_b"], reference[1])
    seq = xk.activations(sequential_cnn, images, layers=["conv_b", "bn_relu"], backend="tf-explain", batch_size=2)
    assert seq.layers == ["bn_relu", "conv_b"]
    np.testing.assert_allclose(seq["conv_b"], acts["conv_b"], rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------------------------- fidelity
def test_fidelity_to_tfexplain_functions(functional_cnn, images):
    """On a Functional model (where tf-explain works under Keras 3) the adapter returns tf-explain's numbers."""
    from tf_explain.core.grad_cam import GradCAM
    from tf_explain.core.gradients_inputs import GradientsInputs
    from tf_explain.core.integrated_gradients import IntegratedGradients
    from tf_explain.core.vanilla_gradients import VanillaGradients

    c = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf-explain's [model.inputs] structure warning
        conv, grads = GradCAM.get_gradients_and_filters(functional_cnn, images, "conv_b", c, True)
    cams = np.stack([m.numpy() for m in GradCAM.generate_ponderated_output(conv, grads)])
    exp = tfx(functional_cnn, images, "gradcam", layer="conv_b", targets=c)
    np.testing.assert_array_equal(exp.layer_attributions, cams)
    close(exp.extras["weights"], np.mean(grads.numpy(), axis=(1, 2)))

    vanilla = VanillaGradients.compute_gradients(images, functional_cnn, c).numpy()
    np.testing.assert_array_equal(tfx(functional_cnn, images, "vanilla_gradients", targets=c).channel_attributions,
                                  vanilla)
    gxi = GradientsInputs.compute_gradients(images, functional_cnn, c).numpy()
    exp = tfx(functional_cnn, images, "gradient_x_input", targets=c)
    np.testing.assert_array_equal(exp.channel_attributions, gxi)
    np.testing.assert_array_equal(exp.attributions, np.abs(gxi).sum(-1))  # tf-explain's |.| summed over channels

    paths = IntegratedGradients.generate_interpolations(images, 5)
    ig = IntegratedGradients.get_integrated_gradients(paths, functional_cnn, c, 5).numpy()
    close(tfx(functional_cnn, images, "integrated_gradients", steps=5, targets=c).channel_attributions, ig)


def test_smoothgrad_seed_is_tfexplain_noise_without_global_state(functional_cnn, images):
    from tf_explain.core.smoothgrad import SmoothGrad

    seed, n, noise = 11, 3, 0.2
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    exp = tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, seed=seed, targets=2, batch_size=4)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # NumPy's global generator untouched
    again = tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, seed=seed, targets=2, batch_size=4)
    np.testing.assert_array_equal(again.attributions, exp.attributions)
    assert not np.allclose(tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, seed=seed + 1,
                               targets=2).attributions, exp.attributions)
    drawn = tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, targets=2)
    assert isinstance(drawn.params["seed"], int)
    np.testing.assert_array_equal(tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, targets=2,
                                      seed=drawn.params["seed"]).attributions, drawn.attributions)
    # seed = what a tf-explain user gets with np.random.seed(seed) before explaining the whole batch
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        noisy = SmoothGrad.generate_noisy_images(images, n, noise)
    finally:
        np.random.set_state(state)
    reference = SmoothGrad.get_averaged_gradients(noisy, functional_cnn, 2, n).numpy()
    close(exp.channel_attributions, reference)


@pytest.mark.filterwarnings("ignore:tf-explain occlusion fills")  # tf-explain's grey 127.5 on [0, 6.4] images
def test_occlusion_equals_get_sensitivity_map_on_square_images(keras):
    """tf-explain's occlusion is right for square images: there the adapter reproduces it."""
    from keras import layers
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

    keras.utils.set_random_seed(5)
    inp = keras.Input((12, 12, 3))
    h = layers.Conv2D(3, 3, activation="relu")(inp)
    model = keras.Model(inp, layers.Dense(3, activation="softmax")(layers.Flatten()(h)))
    x = np.random.default_rng(1).uniform(0, 255, (2, 12, 12, 3)).astype(np.float32) / 40
    for patch in (4, 5):  # 5: the last row/column of patches is clipped at the border
        exp = tfx(model, x, "occlusion", patch_size=patch, targets=[0, 2], batch_size=7)
        for i, c in enumerate([0, 2]):
            reference = OcclusionSensitivity().get_sensitivity_map(model, x[i], c, patch)
            close(exp.attributions[i], reference)
        assert exp.extras["sensitivity_grid"].shape == (2, 3, 3) and exp.params["baseline"] == 127.5


# ------------------------------------------------------------------------------------------------- parity
def test_gradcam_unguided_equals_native_without_relu(functional_cnn, images):
    exp = tfx(functional_cnn, images, "gradcam", layer="conv_b", guided=False, targets=TARGETS)
    ref = native(functional_cnn, images, "gradcam", layer="conv_b", relu=False, score="probability", targets=TARGETS)
    close(exp.layer_attributions, ref.layer_attributions)
    close(exp.attributions, ref.attributions)  # the same bilinear, correctly oriented upsampling
    logit = tfx(functional_cnn, images, "gradcam", layer="conv_b", guided=False, relu=True, score="logit",
                targets=TARGETS)
    close(logit.attributions, native(functional_cnn, images, "gradcam", layer="conv_b", targets=TARGETS).attributions)


def test_gradcam_guided_differs_only_by_the_gradient_mask(keras):
    """Linear head on a 1x1 conv: d logit / dA = W_c exactly, so both maps are known in closed form."""
    from keras import layers

    rng = np.random.default_rng(0)
    inp = keras.Input((6, 8, 2))
    feat = layers.Conv2D(3, 1, name="feat")
    head = layers.Dense(4, name="out")
    model = keras.Model(inp, head(layers.Flatten()(feat(inp))))
    kernel, bias = rng.normal(size=(1, 1, 2, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    feat.set_weights([kernel, bias])
    weights = rng.normal(size=(6 * 8 * 3, 4)).astype(np.float32)
    head.set_weights([weights, np.zeros(4, np.float32)])
    x = rng.normal(size=(2, 6, 8, 2)).astype(np.float32)
    c = 1
    a = x @ kernel[0, 0] + bias  # (2, 6, 8, 3) activations, both signs
    g = weights[:, c].reshape(6, 8, 3)  # gradient of the (linear) output w.r.t. A, both signs
    mask = (a > 0) & (g > 0)
    unguided = (a * g.mean(axis=(0, 1))).sum(-1)
    guided = (a * (mask * g).mean(axis=(1, 2))[:, None, None, :]).sum(-1)
    exp_u = tfx(model, x, "gradcam", layer="feat", guided=False, targets=c)
    exp_g = tfx(model, x, "gradcam", layer="feat", targets=c)
    assert exp_g.score == "output"  # a linear model: its output is what tf-explain differentiates
    close(exp_u.layer_attributions, unguided)
    close(exp_g.layer_attributions, guided)
    assert exp_u.attributions.min() < 0  # tf-explain does not rectify


@pytest.mark.parametrize("method", ["vanilla_gradients", "gradient_x_input"])
@pytest.mark.parametrize("score", ["probability", "logit"])
def test_pixel_gradients_equal_native(method, score, functional_cnn, images):
    exp = tfx(functional_cnn, images, method, score=score, targets=TARGETS)
    ref = native(functional_cnn, images, method, score=score, channel_reduce="abs_sum", targets=TARGETS)
    close(exp.channel_attributions, ref.channel_attributions)
    close(exp.attributions, ref.attributions)


@pytest.mark.filterwarnings("ignore:tf-explain occlusion fills")  # 127.5 on [0, 1] images, on purpose
@pytest.mark.parametrize("baseline", [0.5, 127.5])
def test_occlusion_is_one_minus_p_plus_native_drop(baseline, functional_cnn, images):
    exp = tfx(functional_cnn, images, "occlusion", patch_size=4, baseline=baseline, upsample="patch",
              targets=TARGETS)
    ref = native(functional_cnn, images, "occlusion", patch_size=4, stride=4, baseline=baseline,
                 score="probability", targets=TARGETS)
    p = exp.outputs[np.arange(3), TARGETS]
    close(exp.attributions, ref.attributions + (1.0 - p)[:, None, None])  # 1 - p(occ) = (p - p(occ)) + (1 - p)
    # default upsampling: the same relation on the grid, and the map is its bilinear resize
    default = tfx(functional_cnn, images, "occlusion", patch_size=4, baseline=baseline, targets=TARGETS)
    close(default.extras["sensitivity_grid"], ref.attributions[:, ::4, ::4] + (1.0 - p)[:, None, None])
    close(default.attributions, resize_maps(default.extras["sensitivity_grid"], (20, 28)))


def test_integrated_gradients_relation_to_native_right_rule(functional_cnn, images):
    """tf-explain: mean of gradients at k/(n-1), k = 0..n-1. Native 'right' (n-1 steps): points k/(n-1), k = 1..n-1.
    So n * IG_tfx = (n - 1) * IG_right + (x - b) * grad(b), per channel."""
    n, b = 6, 0.25
    exp = tfx(functional_cnn, images, "integrated_gradients", steps=n, baseline=b, multiply_by_input=True,
              targets=TARGETS)
    right = native(functional_cnn, images, "integrated_gradients", steps=n - 1, baseline=b, integration="right",
                   score="probability", targets=TARGETS)
    at_baseline = native(functional_cnn, np.full_like(images, b), "vanilla_gradients", score="probability",
                         targets=TARGETS)
    expected = ((n - 1) * right.channel_attributions + (images - b) * at_baseline.channel_attributions) / n
    close(exp.channel_attributions, expected, rtol=1e-4)
    plain = tfx(functional_cnn, images, "integrated_gradients", steps=n, baseline=b, targets=TARGETS)
    close(plain.channel_attributions * (images - b), exp.channel_attributions)  # only the factor (x - b) differs


def test_smoothgrad_is_mean_gradient_of_cross_entropy(functional_cnn, images):
    """d CE / dx = -(1 / p_c) d p_c / dx at each noisy sample: native probability gradients at the same samples."""
    seed, n, noise = 5, 4, 0.2
    exp = tfx(functional_cnn, images, "smoothgrad", n_samples=n, noise_std=noise, seed=seed, targets=TARGETS)
    noisy = np.repeat(images, n, axis=0) + np.random.RandomState(seed).normal(
        0, noise, (3 * n, *images.shape[1:])).astype(np.float32)
    targets = np.repeat(TARGETS, n)
    grads = native(functional_cnn, noisy, "vanilla_gradients", score="probability", targets=targets)
    p = grads.outputs[np.arange(3 * n), targets]
    expected = -(grads.channel_attributions / p[:, None, None, None]).reshape(3, n, *images.shape[1:]).mean(1)
    close(exp.channel_attributions, expected, rtol=1e-4)
    close(exp.attributions, np.abs(expected).sum(-1), rtol=1e-4)


# ------------------------------------------------------------------------------------------ models, errors
def test_nested_model(nested_model, images):
    exp = tfx(nested_model, images, "gradcam", layer="base_conv1", guided=False, targets=1)
    ref = native(nested_model, images, "gradcam", layer="base_conv1", relu=False, score="probability", targets=1)
    close(exp.layer_attributions, ref.layer_attributions)
    assert tfx(nested_model, images, "gradcam").layer == "base"  # tf-explain's rule: last top-level 4-D layer
    acts = xk.activations(nested_model, images, backend="tf-explain")
    assert acts.layers == ["base_conv1", "base_conv2"]


def test_separate_softmax_layer_gives_logit_gradients_as_tfexplain(keras, images):
    """tf-explain's get_score_model strips a final activation *layer*: vanilla gradients then explain the logit."""
    from keras import layers

    inp = keras.Input((20, 28, 3))
    z = layers.Dense(3, name="logits")(layers.Flatten()(inp))
    model = keras.Model(inp, layers.Softmax(name="softmax")(z))
    exp = tfx(model, images, "vanilla_gradients", targets=1)
    assert exp.score == "logit"
    close(exp.channel_attributions, native(model, images, "vanilla_gradients", targets=1).channel_attributions)


def test_binary_sigmoid_model_explains_both_classes(make_linear):
    rng = np.random.default_rng(4)
    model = make_linear(rng.normal(size=(4 * 6 * 2, 1)) * 0.1, np.zeros(1), (4, 6, 2), activation="sigmoid")
    x = rng.uniform(0, 1, (2, 4, 6, 2)).astype(np.float32)
    pos = tfx(model, x, "vanilla_gradients", targets=1)
    neg = tfx(model, x, "vanilla_gradients", targets=0)  # tf-explain alone cannot: its output has one column
    close(neg.channel_attributions, -pos.channel_attributions)
    close(pos.channel_attributions, native(model, x, "vanilla_gradients", score="probability",
                                           targets=1).channel_attributions)
    # SmoothGrad: tf-explain alone returns zeros here (cross-entropy of one column); with [1 - p, p] it is -grad log p_c
    sg = tfx(model, x, "smoothgrad", n_samples=2, noise_std=0.1, seed=0, targets=[0, 1])
    noisy = np.repeat(x, 2, axis=0) + np.random.RandomState(0).normal(0, 0.1, (4, 4, 6, 2)).astype(np.float32)
    g = native(model, noisy, "vanilla_gradients", score="probability", targets=[0, 0, 1, 1])
    p = g.outputs[:, 0] * np.array([-1, -1, 1, 1]) + np.array([1, 1, 0, 0])  # p_c for c = 0, 0, 1, 1
    close(sg.channel_attributions, -(g.channel_attributions / p[:, None, None, None]).reshape(2, 2, 4, 6, 2).mean(1),
          rtol=1e-4)


def test_subclassed_model_works_where_possible_and_says_why_not(keras, images):
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
    exp = tfx(net, images, "vanilla_gradients", targets=1)  # only the output is needed: works
    close(exp.channel_attributions, native(net, images, "vanilla_gradients", targets=1).channel_attributions)
    with pytest.raises(ModelError, match="subclassed model.*layer.output.*backend='tensorflow'"):
        tfx(net, images, "gradcam")
    with pytest.raises(ModelError, match="subclassed"):
        xk.activations(net, images, backend="tf-explain")


def test_errors_name_the_fix(functional_cnn, images, make_linear, keras):
    with pytest.raises(ModelError, match="keras.Model"):
        tfx(object(), images, "gradcam")
    linear = make_linear(np.ones((20 * 28 * 3, 2), np.float32), np.zeros(2), (20, 28, 3))
    with pytest.raises(InputError, match="cross-entropy.*backend='tensorflow'"):
        tfx(linear, images, "smoothgrad")
    with pytest.raises(InputError, match="one rule, integration='inclusive'.*backend='tensorflow'"):
        tfx(functional_cnn, images, "integrated_gradients", integration="trapezoid")
    with pytest.raises(InputError, match="steps must be an integer >= 2"):
        tfx(functional_cnn, images, "integrated_gradients", steps=1)
    with pytest.raises(InputError, match="one int patch_size"):
        tfx(functional_cnn, images, "occlusion", patch_size=(4, 2))
    with pytest.raises(InputError, match="'1-probability'"):
        tfx(functional_cnn, images, "occlusion", score="1-output")
    with pytest.raises(InputError,
                       match="score must be one of .logit., .probability., .output.; got .cross_entropy_loss."):
        tfx(functional_cnn, images, "gradcam", score="cross_entropy_loss")
    with pytest.raises(LayerError, match="no layer 'nope'"):
        tfx(functional_cnn, images, "gradcam", layer="nope")
    with pytest.raises(LayerError, match="not a spatial"):
        tfx(functional_cnn, images, "gradcam", layer="pred")
    with pytest.raises(InputError, match="has no parameter"):
        tfx(functional_cnn, images, "occlusion", stride=2)


def test_keras3_breakages_the_adapter_avoids(functional_cnn, sequential_cnn, images):
    """Canaries: tf-explain 0.3.1 itself fails (or is wrong) here under Keras 3; the tests above pass anyway."""
    from tf_explain.core.grad_cam import GradCAM
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

    with pytest.raises(AttributeError, match="never been called"):  # Sequential without a symbolic output
        GradCAM.get_gradients_and_filters(sequential_cnn, images, "conv_b", 1, True)
    with pytest.raises(AttributeError, match="output_shape"):  # layer auto-detection
        GradCAM.infer_grad_cam_target_layer(functional_cnn)
    # non-square: the map comes back (W, H) (cv2 takes (width, height)), from a transposed patch grid
    assert OcclusionSensitivity().get_sensitivity_map(functional_cnn, images[0], 1, 4).shape == (28, 20)


def test_the_model_is_left_as_it_was(keras, small_cnn_layers, functional_cnn, images, tmp_path):
    import gc
    import weakref

    before = functional_cnn.predict(images, verbose=0)
    tfx(functional_cnn, images, "gradcam", layer="conv_b", score="logit")  # logit: a linear copy of the head
    assert functional_cnn.get_layer("pred").activation.__name__ == "softmax"
    np.testing.assert_array_equal(functional_cnn.predict(images, verbose=0), before)
    functional_cnn.save(tmp_path / "still_saves.keras")
    model = keras.Sequential(small_cnn_layers())
    model(images[:1])
    ref = weakref.ref(model)
    tfx(model, images, "vanilla_gradients")
    del model
    gc.collect()
    assert ref() is None  # the adapter's graph cache does not keep models alive


def test_parity_table(functional_cnn, images):
    from xaikit_tfexplain.parity import parity_table

    rows = parity_table(functional_cnn, images, TARGETS, layer="conv_b")
    assert [r["method"] for r in rows] == ["gradcam (conv_b)", "vanilla_gradients", "gradient_x_input", "occlusion",
                                           "integrated_gradients", "smoothgrad"]
    assert all(r["max_rel"] < 1e-5 for r in rows), rows


def test_occlusion_warns_when_the_fill_is_outside_the_images_range(functional_cnn, images):
    """tf-explain's default fill 127.5 on [0, 1] inputs saturates the model with no word."""
    import warnings

    with pytest.warns(UserWarning, match=r"baseline=127.5, outside the images' value range \[0.*Set baseline="):
        tfx(functional_cnn, images, "occlusion", patch_size=4)
    with pytest.warns(UserWarning, match="baseline=-1"):
        tfx(functional_cnn, images, "occlusion", patch_size=4, baseline=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tfx(functional_cnn, images, "occlusion", patch_size=4, baseline=0.5)  # grey of [0, 1] inputs: no warning
        tfx(functional_cnn, images * 255, "occlusion", patch_size=4)  # [0, 255] inputs: 127.5 is grey
