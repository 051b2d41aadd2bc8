"""The CAM family beyond Grad-CAM (XGrad-CAM, HiResCAM, LayerCAM, Score-CAM, Ablation-CAM, Eigen-CAM) and the
modified backward passes (guided backpropagation, deconvnet, Guided Grad-CAM): analytic references on tiny
networks, the formulas of pytorch-grad-cam, Captum and the papers written out in NumPy. The references on the
1x1-conv + global-average-pooling net are checked on the NumPy engine (test_methods_numpy.py); the TensorFlow engine's
primitives are compared with it here."""

from __future__ import annotations

import numpy as np
import pytest
from numpy_engine import TinyNet, engine_for

import xaikit as xk
from xaikit.kernels import principal_projection, upsample_bilinear

pytestmark = pytest.mark.tensorflow

SHAPE = (6, 8, 3)


def _gap_net(keras, channels: int, classes: int = 3, seed: int = 0, activation: str = "relu"):
    """x -> Conv2D(channels, 1x1, activation) "conv" -> global average pooling -> Dense(classes) "out" (logits)."""
    rng = np.random.default_rng(seed)
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(channels, 1, activation=activation, name="conv")
    dense = keras.layers.Dense(classes, name="out")
    model = keras.Model(inp, dense(keras.layers.GlobalAveragePooling2D(name="gap")(conv(inp))))
    wc = rng.normal(0, 1, (SHAPE[2], channels)).astype(np.float32)
    bc = rng.normal(0, 0.1, channels).astype(np.float32)
    wd = rng.normal(0, 1, (channels, classes)).astype(np.float32)
    bd = rng.normal(0, 0.1, classes).astype(np.float32)
    conv.set_weights([wc.reshape(1, 1, *wc.shape), bc])
    dense.set_weights([wd, bd])
    return model, (wc, bc, wd, bd)


def _images(n=3, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype(np.float32)


def _acts(x, wc, bc):
    return np.maximum(x @ wc + bc, 0.0)  # the 1x1 convolution with ReLU, (N, H, W, C)


@pytest.fixture(scope="module")
def pooled_cnn(keras):
    """Conv (ReLU) -> max pooling -> conv "conv_b" (ReLU) -> flatten -> dense: gradients vary over locations."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 16, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv_b")(h)
    out = keras.layers.Dense(4, name="out")(keras.layers.Flatten(name="flat")(h))
    return keras.Model(inp, out)


# ----------------------------------------------------------------------------- gradient CAMs
def test_the_engines_cam_primitives_are_the_numpy_engines_on_a_gap_net(keras):
    """The CAM family's references on the 1x1-conv + GAP net are checked on the NumPy engine (test_methods_numpy.py);
    here the TensorFlow engine's primitives on the same weights give what the NumPy engine gives."""
    model, (wc, bc, wd, bd) = _gap_net(keras, channels=4, seed=6)
    twin = TinyNet.gap(wc, bc, wd, bd, SHAPE[:2])
    engine, reference = xk.registry.get_services("tensorflow").engine(model), engine_for(twin)
    x, t = _images(3), np.array([2, 0, -1], np.int32)
    for got, expected in zip(engine.layer_gradients(x, t, "logit", "conv"),
                             reference.layer_gradients(x, t, "logit", "conv")):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    for got, expected in zip(engine.probe(x, "logit", "conv"), reference.probe(x, "logit", "conv")):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    for rule in ("plain", "guided", "deconvnet"):
        for got, expected in zip(engine.input_gradients(x, t, "logit", rule=rule),
                                 reference.input_gradients(x, t, "logit", rule=rule)):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7, err_msg=rule)
    ablated = _acts(x, wc, bc) * np.array([1, 0, 1, 1], np.float32)  # Ablation-CAM's head runs
    np.testing.assert_allclose(engine.head_scores(ablated, np.array([1, 1, 0], np.int32), "logit", "conv"),
                               reference.head_scores(ablated, np.array([1, 1, 0], np.int32), "logit", "conv"),
                               rtol=1e-5, atol=1e-6)


def _pytorch_grad_cam(method: str, acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's get_cam_weights / get_cam_image (channels-last here), before its ReLU and scaling."""
    if method == "xgradcam":
        weights = (grads * acts / (acts.sum(axis=(1, 2))[:, None, None, :] + 1e-7)).sum(axis=(1, 2))
        return (weights[:, None, None, :] * acts).sum(-1)
    if method == "hirescam":
        return (grads * acts).sum(-1)
    return (np.maximum(grads, 0) * acts).sum(-1)  # layercam


@pytest.mark.parametrize("method", ["xgradcam", "hirescam", "layercam"])
def test_gradient_cams_follow_pytorch_grad_cams_formulas(pooled_cnn, method):
    x = np.random.default_rng(5).uniform(0, 1, (3, 12, 16, 3)).astype(np.float32)
    engine = xk.registry.get_services("tensorflow").engine(pooled_cnn)
    acts, grads, _, _ = engine.layer_gradients(x, np.array([0, 2, 3], np.int32), "logit", "conv_b")
    exp = xk.explain(pooled_cnn, x, method=method, layer="conv_b", targets=[0, 2, 3])
    expected = np.maximum(_pytorch_grad_cam(method, acts, grads), 0)
    np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-4, atol=1e-6)
    assert exp.layer_attributions.max() > 0


# ----------------------------------------------------------------------------- gradient-free CAMs
def test_scorecam_masks_follow_pytorch_grad_cam_up_to_its_align_corners_upsampling(pooled_cnn):
    """pytorch-grad-cam upsamples the masks with align_corners=True; the same formula with half-pixel centres (every
    other map's upsampling here) is reproduced exactly, and the library's differs by little."""
    x = np.random.default_rng(8).uniform(0, 1, (2, 12, 16, 3)).astype(np.float32)
    engine = xk.registry.get_services("tensorflow").engine(pooled_cnn)
    _, scores, acts = engine.probe(x, "logit", "conv_b")
    t = scores.argmax(1)

    def reference(upsample):
        maps = []
        for xi, ai, ti in zip(x, acts, t):
            up = upsample(np.moveaxis(ai, -1, 0))  # (C, H, W)
            low, high = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
            masks = (up - low) / (high - low + 1e-8)
            s = engine.class_scores((xi[None] * masks[..., None]).astype(np.float32), "logit")[:, ti]
            w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            maps.append(np.maximum((ai * w).sum(-1), 0))
        return np.stack(maps)

    def align_corners(maps):  # torch.nn.UpsamplingBilinear2d
        def matrix(n_in, n_out):
            src = np.arange(n_out) * (n_in - 1) / (n_out - 1)
            low = np.minimum(np.floor(src).astype(int), n_in - 2)
            m = np.zeros((n_out, n_in))
            m[np.arange(n_out), low] = 1 - (src - low)
            m[np.arange(n_out), low + 1] = src - low
            return m
        return np.einsum("hi,cij,wj->chw", matrix(maps.shape[1], 12), maps, matrix(maps.shape[2], 16))

    exp = xk.explain(pooled_cnn, x, method="scorecam", layer="conv_b")
    np.testing.assert_allclose(exp.layer_attributions, reference(lambda m: upsample_bilinear(m, (12, 16))),
                               rtol=1e-4, atol=1e-6)
    library = reference(align_corners)
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(exp.layer_attributions, library)]
    assert min(corr) > 0.9, corr


def test_ablationcam_needs_a_model_that_splits_at_the_layer(keras):
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(2, 1, name="conv")(inp)
    skip = keras.layers.Add(name="add")([conv, keras.layers.Conv2D(2, 1, name="side")(inp)])
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(skip)))
    with pytest.raises(xk.LayerError, match="cannot be computed from that layer's output alone"):
        xk.explain(model, _images(1), method="ablationcam", layer="conv")


def test_principal_projection_sign_follows_the_mean_activation():
    """A blob along a positive direction: the map is the blob, whatever sign the SVD returned."""
    rng = np.random.default_rng(0)
    blob = np.zeros((5, 7))
    blob[1:3, 2:5] = 1.0
    direction = rng.uniform(0.5, 1.0, 4)
    acts = blob[..., None] * direction + rng.normal(0, 0.01, (5, 7, 4))
    for sign in (1, -1):  # the same data, channels negated: the dominant direction changes sign, the rule holds
        m = principal_projection((sign * acts)[None])[0]
        corr = np.corrcoef(m.ravel(), (sign * acts).mean(-1).ravel())[0, 1]
        assert corr > 0.99


# ----------------------------------------------------------------------------- modified backward passes
def _mlp(keras, weights, biases):
    """Flatten -> Dense(ReLU) ... -> Dense (logits) on (1, 2, 2) images, with the given weights."""
    inp = keras.Input((1, 2, 2))
    h = keras.layers.Flatten()(inp)
    dense = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        last = i == len(weights) - 1
        layer = keras.layers.Dense(w.shape[1], activation=None if last else "relu", name=f"d{i}")
        h = layer(h)
        dense.append((layer, w, b))
    model = keras.Model(inp, h)
    for layer, w, b in dense:
        layer.set_weights([w.astype(np.float32), b.astype(np.float32)])
    return model


def test_guided_backprop_and_deconvnet_on_a_known_sign_pattern(keras):
    """Hidden units (pre-activation sign, outgoing weight sign): (+, +), (+, -), (-, +), (-, -).

    The input weights are the identity, so the gradient at input i is what hidden unit i passes back:
    plain: 1[z > 0] w = (2, -3, 0, 0); guided: 1[z > 0] 1[w > 0] w = (2, 0, 0, 0); deconvnet: ReLU(w) = (2, 0, 5, 0).
    """
    out = np.array([[2.0, 0.0], [-3.0, 0.0], [5.0, 0.0], [-7.0, 0.0]])  # two classes (one unit would be binary)
    model = _mlp(keras, [np.eye(4), out], [np.zeros(4), np.zeros(2)])
    x = np.array([1.0, 0.5, -1.0, -2.0], np.float32).reshape(1, 1, 2, 2)
    expected = {"vanilla_gradients": [2, -3, 0, 0], "guided_backprop": [2, 0, 0, 0], "deconvnet": [2, 0, 5, 0]}
    for method, values in expected.items():
        exp = xk.explain(model, x, method=method, targets=0, score="output")
        np.testing.assert_array_equal(exp.channel_attributions.ravel(), np.array(values, np.float32), err_msg=method)
    assert xk.explain(model, x, method="guided_backprop", targets=0).outputs[0, 0] == pytest.approx(2 * 1 - 3 * 0.5)


def test_guided_backprop_and_deconvnet_through_two_relu_layers(keras):
    rng = np.random.default_rng(11)
    w = [rng.normal(0, 1, (4, 6)), rng.normal(0, 1, (6, 5)), rng.normal(0, 1, (5, 3))]
    b = [rng.normal(0, 0.3, 6), rng.normal(0, 0.3, 5), np.zeros(3)]
    model = _mlp(keras, w, b)
    x = rng.normal(0, 1, (4, 1, 2, 2)).astype(np.float32)
    t = np.array([0, 1, 2, 1])

    def backward(rule):
        out = []
        for xi, ti in zip(x.reshape(4, -1).astype(np.float64), t):
            z1 = xi @ w[0] + b[0]
            z2 = np.maximum(z1, 0) @ w[1] + b[1]
            r = w[2][:, ti]
            for z, weight in ((z2, w[1]), (z1, w[0])):
                r = (z > 0) * (r > 0) * r if rule == "guided" else np.maximum(r, 0)  # else: deconvnet
                r = weight @ r
            out.append(r)
        return np.stack(out).reshape(x.shape)

    for method, rule in (("guided_backprop", "guided"), ("deconvnet", "deconvnet")):
        exp = xk.explain(model, x, method=method, targets=t)
        np.testing.assert_allclose(exp.channel_attributions, backward(rule), rtol=1e-5, atol=1e-6, err_msg=method)


def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam(pooled_cnn):
    x = np.random.default_rng(2).uniform(0, 1, (2, 12, 16, 3)).astype(np.float32)
    exp = xk.explain(pooled_cnn, x, method="guided_gradcam", layer="conv_b", targets=[1, 3])
    guided = xk.explain(pooled_cnn, x, method="guided_backprop", targets=[1, 3])
    cam = xk.explain(pooled_cnn, x, method="gradcam", layer="conv_b", targets=[1, 3])
    np.testing.assert_allclose(exp.channel_attributions, guided.channel_attributions * cam.attributions[..., None],
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(exp.extras["gradcam"], cam.layer_attributions, rtol=1e-6)
    assert np.abs(exp.attributions).max() > 0


def test_guided_passes_leave_the_model_and_other_threads_alone(pooled_cnn):
    """The modified ReLUs exist only inside the explanation's pass: plain gradients afterwards are plain."""
    x = np.random.default_rng(4).uniform(0, 1, (2, 12, 16, 3)).astype(np.float32)
    before = xk.explain(pooled_cnn, x, method="vanilla_gradients", targets=[0, 1])
    xk.explain(pooled_cnn, x, method="guided_backprop", targets=[0, 1])
    after = xk.explain(pooled_cnn, x, method="vanilla_gradients", targets=[0, 1])
    np.testing.assert_array_equal(before.attributions, after.attributions)
    np.testing.assert_array_equal(pooled_cnn.predict(x, verbose=0), before.outputs)


def test_tensorflow_backend_declares_what_its_engine_computes():
    """The plugin's capabilities (read without importing TensorFlow, declared nowhere else) offer what its engine
    computes (guided_backprop was not offered while "guided" was missing from the declaration)."""
    from xaikit_tensorflow import BACKEND

    assert {"guided_backprop", "deconvnet", "guided_gradcam", "ablationcam"} <= set(BACKEND.offered())
