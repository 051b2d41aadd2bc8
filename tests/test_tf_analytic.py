"""Reference values computed by hand on tiny models: the native backend must match them."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.imaging import resize_maps

pytestmark = pytest.mark.tensorflow

SHAPE = (4, 6, 2)  # non-square, two channels
D = int(np.prod(SHAPE))


@pytest.fixture(scope="module")
def linear_setup(make_linear):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(D, 3)).astype(np.float32)
    bias = np.array([0.3, -0.2, 0.1], np.float32)
    model = make_linear(weights, bias, SHAPE)
    x = rng.uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    w_img = weights.T.reshape(3, *SHAPE)  # gradient of class c, as an image

    def f(images, c):
        return images.reshape(len(images), -1) @ weights[:, c] + bias[c]

    return model, x, w_img, f


def test_vanilla_gradients_equal_w(linear_setup):
    model, x, w_img, _ = linear_setup
    exp = xk.explain(model, x, method="vanilla_gradients", targets=[0, 2])
    np.testing.assert_allclose(exp.channel_attributions[0], w_img[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.channel_attributions[1], w_img[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.attributions[1], w_img[2].sum(-1), rtol=1e-5, atol=1e-6)
    assert exp.score == "logit"  # a linear model's output is its logit
    np.testing.assert_allclose(xk.explain(model, x, method="vanilla_gradients", targets=1,
                                          channel_reduce="max_abs").attributions[0], np.abs(w_img[1]).max(-1),
                               rtol=1e-5)


def test_gradient_x_input(linear_setup):
    model, x, w_img, _ = linear_setup
    exp = xk.explain(model, x, method="gradient_x_input", targets=1)
    np.testing.assert_allclose(exp.channel_attributions, x * w_img[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("integration", ["trapezoid", "left", "right", "midpoint"])
def test_integrated_gradients_linear_is_exact(linear_setup, integration):
    model, x, w_img, f = linear_setup
    baseline = np.full(SHAPE, 0.25, np.float32)
    exp = xk.explain(model, x, method="integrated_gradients", targets=2, steps=7, baseline=baseline,
                     integration=integration, batch_size=5)
    np.testing.assert_allclose(exp.channel_attributions, (x - baseline) * w_img[2], rtol=1e-4, atol=1e-5)
    # completeness: sums to f(x) - f(baseline)
    np.testing.assert_allclose(exp.attributions.reshape(2, -1).sum(1), f(x, 2) - f(baseline[None], 2), rtol=1e-4)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0, atol=1e-4)


def test_expected_gradients_single_reference_is_exact(linear_setup):
    model, x, w_img, _ = linear_setup
    reference = np.random.default_rng(1).uniform(0, 1, SHAPE).astype(np.float32)
    exp = xk.explain(model, x, method="expected_gradients", targets=0,
                     background=np.repeat(reference[None], 4, axis=0), n_samples=16, seed=0)
    np.testing.assert_allclose(exp.channel_attributions, (x - reference) * w_img[0], rtol=1e-4, atol=1e-5)


def test_expected_gradients_sum_to_output_minus_background_mean(linear_setup):
    model, x, _, f = linear_setup
    background = np.random.default_rng(2).uniform(0, 1, (10, *SHAPE)).astype(np.float32)
    exp = xk.explain(model, x, method="expected_gradients", targets=1, background=background,
                     n_samples=4000, seed=0, batch_size=256)
    expected = f(x, 1) - f(background, 1).mean()
    # sum(phi) = f(x) - mean of f over the *sampled* references: the sampling error of a mean of
    # 4000 draws from 10 references is ~ std(f(bg)) / sqrt(4000) ~ 0.02 x std.
    tolerance = 5 * f(background, 1).std() / np.sqrt(4000)
    np.testing.assert_allclose(exp.attributions.reshape(2, -1).sum(1), expected, atol=tolerance)
    assert np.all(np.abs(exp.extras["completeness_gap"]) < tolerance)


def test_occlusion_patch_drop_is_patch_share_of_w_dot_x(linear_setup):
    model, x, w_img, _ = linear_setup
    exp = xk.explain(model, x, method="occlusion", targets=2, patch_size=2, baseline=0.1)
    contribution = ((x - 0.1) * w_img[2]).sum(-1)  # per-pixel share of w.(x - baseline)
    expected = np.zeros_like(contribution)
    for top in range(0, 4, 2):
        for left in range(0, 6, 2):
            block = contribution[:, top:top + 2, left:left + 2]
            expected[:, top:top + 2, left:left + 2] = block.sum(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5)


def test_occlusion_overlapping_windows_average(linear_setup):
    model, x, w_img, _ = linear_setup
    exp = xk.explain(model, x[:1], method="occlusion", targets=0, patch_size=(2, 3), stride=1, baseline=0.0)
    contribution = (x[0] * w_img[0]).sum(-1)
    total, count = np.zeros((4, 6)), np.zeros((4, 6))
    for top in range(3):
        for left in range(4):
            total[top:top + 2, left:left + 3] += contribution[top:top + 2, left:left + 3].sum()
            count[top:top + 2, left:left + 3] += 1
    np.testing.assert_allclose(exp.attributions[0], total / count, rtol=1e-4, atol=1e-5)
    assert exp.params["n_windows"] == 12


def test_occlusion_border_windows_are_clipped_like_tf_explain():
    from xaikit.kernels import patch_windows

    windows = patch_windows(150, 150, (7, 7), (7, 7))
    assert len(windows) == 22 * 22
    assert windows[-1].tolist() == [147, 147, 150, 150]


# ------------------------------------------------------------------- softmax / sigmoid
def test_softmax_logit_and_probability_gradients(make_linear):
    rng = np.random.default_rng(5)
    weights, bias = rng.normal(size=(D, 3)).astype(np.float32), np.zeros(3, np.float32)
    model = make_linear(weights, bias, SHAPE, activation="softmax")
    x = rng.uniform(0, 1, (1, *SHAPE)).astype(np.float32)
    logit = xk.explain(model, x, method="vanilla_gradients", targets=1)
    assert logit.score == "logit" and logit.params["score"] == "logit"
    np.testing.assert_allclose(logit.channel_attributions[0].ravel(), weights[:, 1], rtol=1e-5, atol=1e-6)
    prob = xk.explain(model, x, method="vanilla_gradients", targets=1, score="probability")
    z = x.reshape(1, -1) @ weights
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    expected = p[0, 1] * (weights[:, 1] - weights @ p[0])  # d softmax_1 / dx
    np.testing.assert_allclose(prob.channel_attributions[0].ravel(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(prob.outputs, p, rtol=1e-5)


@pytest.mark.parametrize("sequential", [False, True])
def test_single_sigmoid_binary_model(make_linear, sequential):
    rng = np.random.default_rng(6)
    weights, bias = rng.normal(size=(D, 1)).astype(np.float32), np.array([0.1], np.float32)
    model = make_linear(weights, bias, SHAPE, activation="sigmoid", sequential=sequential)
    x = rng.uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    w = weights[:, 0].reshape(SHAPE)
    pos = xk.explain(model, x, method="vanilla_gradients", targets=1)
    neg = xk.explain(model, x, method="vanilla_gradients", targets=0)
    np.testing.assert_allclose(pos.channel_attributions, np.broadcast_to(w, x.shape), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(neg.channel_attributions, -np.broadcast_to(w, x.shape), rtol=1e-5, atol=1e-6)
    p = 1 / (1 + np.exp(-(x.reshape(2, -1) @ weights[:, 0] + 0.1)))
    prob = xk.explain(model, x, method="vanilla_gradients", targets=1, score="probability")
    np.testing.assert_allclose(prob.channel_attributions, (p * (1 - p))[:, None, None, None] * w, rtol=1e-4, atol=1e-7)
    predicted = xk.explain(model, x, method="vanilla_gradients")
    assert predicted.targets.tolist() == (p > 0.5).astype(int).tolist() == predicted.predictions.tolist()
    with pytest.raises(xk.InputError, match="single-sigmoid"):
        xk.explain(model, x, method="vanilla_gradients", targets=2)


# --------------------------------------------------------------------------- Grad-CAM
@pytest.fixture(scope="module")
def cam_model(keras):
    """x -> 1x1 conv (2 linear filters a_k) -> [maxpool 2] -> GAP -> Dense(3, linear) with weights V.

    S_c = sum_k V[k, c] mean(A^k), so dS_c/dA^k_ij = V[k, c] / (h w) everywhere.
    """
    from keras import layers

    inp = keras.Input((6, 8, 1))
    conv = layers.Conv2D(2, 1, use_bias=False, name="conv")
    a = conv(inp)
    p = layers.MaxPooling2D(2, name="pool")(a)
    gap = layers.GlobalAveragePooling2D(name="gap")(p)
    dense = layers.Dense(3, name="dense")
    model = keras.Model(inp, dense(gap))
    a_k = np.array([1.0, -0.5], np.float32)
    conv.set_weights([a_k.reshape(1, 1, 1, 2)])
    v = np.array([[2.0, -1.0, 0.5], [1.0, 3.0, -2.0]], np.float32)
    dense.set_weights([v, np.zeros(3, np.float32)])
    return model, a_k, v


def _pool2(a):
    n, h, w, c = a.shape
    return a.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def test_gradcam_matches_hand_computation(cam_model):
    model, a_k, v = cam_model
    x = np.random.default_rng(0).uniform(0, 1, (2, 6, 8, 1)).astype(np.float32)
    acts = _pool2(x * a_k)  # (2, 3, 4, 2)
    for c in range(3):
        exp = xk.explain(model, x, method="gradcam", layer="pool", targets=c)
        alpha = v[:, c] / (3 * 4)
        expected = np.maximum((acts * alpha).sum(-1), 0)
        np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(exp.attributions, resize_maps(expected, (6, 8)), rtol=1e-5, atol=1e-6)
        no_relu = xk.explain(model, x, method="gradcam", layer="pool", targets=c, relu=False)
        np.testing.assert_allclose(no_relu.layer_attributions, (acts * alpha).sum(-1), rtol=1e-5, atol=1e-7)
    auto = xk.explain(model, x, method="gradcam")
    assert auto.layer == "conv" and auto.params["layer"] == "conv"  # the conv block, not the pooling after it


def test_gradcam_plus_plus_matches_closed_form(cam_model):
    model, a_k, v = cam_model
    x = np.random.default_rng(1).uniform(0, 1, (2, 6, 8, 1)).astype(np.float32)
    acts = x * a_k  # at the conv layer, h x w = 6 x 8
    c = 1
    # Max-pooling routes the gradient to one pixel per 2x2 window: dS/dA = V[k,c]/(3*4) there, 0 elsewhere.
    pooled = _pool2(acts)
    mask = (acts == np.repeat(np.repeat(pooled, 2, axis=1), 2, axis=2)).astype(np.float32)
    g = mask * (v[:, c] / 12.0)
    g2, g3 = g**2, g**3
    denominator = 2 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
    alpha = np.where(g != 0, g2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    expected = np.maximum((acts * weights[:, None, None, :]).sum(-1), 0)
    exp = xk.explain(model, x, method="gradcam++", layer="conv", targets=c)
    np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-4, atol=1e-6)


def test_activations_are_the_layer_outputs(cam_model):
    model, a_k, _ = cam_model
    x = np.random.default_rng(2).uniform(0, 1, (3, 6, 8, 1)).astype(np.float32)
    acts = xk.activations(model, x, batch_size=2)
    assert acts.layers == ["conv", "pool"]  # conv and pooling layers by default, model order
    np.testing.assert_allclose(acts["conv"], x * a_k, rtol=1e-6)
    np.testing.assert_allclose(acts["pool"], _pool2(x * a_k), rtol=1e-6)
    dense = xk.activations(model, x, layers=["gap", "conv"])
    assert dense.layers == ["conv", "gap"] and dense["gap"].shape == (3, 2)
