"""DeepLift, DeepLiftShap, LRP and layer conductance on tiny networks, in both native frameworks: the identities that
define them (summation-to-delta, the mean over references, LRP-0 = gradient x input without biases, conservation,
conductance summing to the score difference) and the refusals of layers their rules cannot go through."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import InputError, ModelError

FRAMEWORKS = ["torch", "tensorflow"]


def tiny(framework, *, bias=True, activation="relu"):
    """Conv(3x3, 3 filters) - activation - MaxPool(2) - Flatten - Dense(4) - ReLU - Dense(3): the same weights in both
    frameworks; images (N, 8, 8, 2) channels-last for Keras, (N, 2, 8, 8) for torch."""
    rng = np.random.default_rng(3)
    kernel = rng.normal(0, 0.5, (3, 3, 2, 3)).astype(np.float32)
    w1 = rng.normal(0, 0.5, (3 * 3 * 3, 4)).astype(np.float32)  # flattened (h, w, C) as Keras orders it
    w2 = rng.normal(0, 0.5, (4, 3)).astype(np.float32)
    b0, b1, b2 = (rng.normal(0, 0.3, n).astype(np.float32) * bias for n in (3, 4, 3))
    if framework == "tensorflow":
        keras = pytest.importorskip("keras")
        layers = keras.layers
        model = keras.Sequential([keras.Input((8, 8, 2)), layers.Conv2D(3, 3, activation=activation, use_bias=bias),
                                  layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(4, activation="relu",
                                                                                         use_bias=bias),
                                  layers.Dense(3, use_bias=bias)])
        weights = [kernel, b0, w1, b1, w2, b2] if bias else [kernel, w1, w2]
        model.set_weights(weights)
        return model
    torch = pytest.importorskip("torch")
    from torch import nn

    act = {"relu": nn.ReLU(), "gelu": nn.GELU()}[activation]
    model = nn.Sequential(nn.Conv2d(2, 3, 3, bias=bias), act, nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(27, 4, bias=bias), nn.ReLU(), nn.Linear(4, 3, bias=bias)).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        # torch flattens (C, h, w): reorder the rows of the Keras (h, w, C) weight
        model[4].weight.copy_(torch.from_numpy(w1.reshape(3, 3, 3, 4).transpose(2, 0, 1, 3).reshape(27, 4).T.copy()))
        model[6].weight.copy_(torch.from_numpy(w2.T.copy()))
        if bias:
            model[0].bias.copy_(torch.from_numpy(b0))
            model[4].bias.copy_(torch.from_numpy(b1))
            model[6].bias.copy_(torch.from_numpy(b2))
    return model


def batch(framework, n=2, seed=0):
    x = np.random.default_rng(seed).normal(0.3, 1.0, (n, 8, 8, 2)).astype(np.float32)
    return x if framework == "tensorflow" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def logits(model, x, framework):
    if framework == "tensorflow":
        return np.asarray(model(x)).astype(np.float64)
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).double().numpy()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_deeplift_sums_to_the_score_difference_and_deepliftshap_is_its_mean(framework):
    model, x = tiny(framework), batch(framework)
    references = batch(framework, n=3, seed=1)
    targets = [0, 2]
    base = references[0]
    exp = xk.explain(model, x, method="deeplift", backend=framework, baseline=base, targets=targets,
                     channel_reduce="sum")
    expected = logits(model, x, framework)[[0, 1], targets] - logits(model, base[None], framework)[0, targets]
    np.testing.assert_allclose(exp.attributions.reshape(2, -1).sum(1), expected, rtol=1e-4, atol=1e-5)
    shap = xk.explain(model, x, method="deepliftshap", backend=framework, background=references, targets=targets)
    each = [xk.explain(model, x, method="deeplift", backend=framework, baseline=r, targets=targets).attributions
            for r in references]
    np.testing.assert_allclose(shap.attributions, np.mean(each, axis=0), rtol=1e-4, atol=1e-6)
    assert np.abs(shap.extras["completeness_gap"]).max() < 1e-4
    if framework == "torch":  # (a trace of 2 s in TensorFlow: the option is the same switch there)
        # the max pooling's gradient instead of its rule: the sum is no longer the score difference on these images
        gradient = xk.explain(model, x, method="deepliftshap", backend=framework, background=references,
                              targets=targets, max_pool="gradient")
        assert np.abs(gradient.extras["completeness_gap"]).max() > 1e-3


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lrp_zero_is_gradient_x_input_and_conserves_relevance_without_biases(framework):
    model, x = tiny(framework, bias=False), batch(framework)
    lrp = xk.explain(model, x, method="lrp", backend=framework, targets=[1, 2], epsilon=1e-9)
    gxi = xk.explain(model, x, method="gradient_x_input", backend=framework, targets=[1, 2])
    np.testing.assert_allclose(lrp.channel_attributions, gxi.channel_attributions, rtol=1e-4,
                               atol=1e-6 * np.abs(gxi.channel_attributions).max())
    scores = logits(model, x, framework)[[0, 1], [1, 2]]
    np.testing.assert_allclose(lrp.attributions.reshape(2, -1).sum(1), scores, rtol=1e-4)
    assert np.abs(lrp.extras["relevance_gap"]).max() < 1e-4 * np.abs(scores).max()
    gamma = xk.explain(model, x, method="lrp", backend=framework, targets=[1, 2], rule="gamma", gamma=0.5)
    assert not np.allclose(gamma.attributions, lrp.attributions)  # the rule ran
    np.testing.assert_allclose(gamma.attributions.reshape(2, -1).sum(1), scores, rtol=1e-3)  # still conservative


def test_layer_conductance_sums_to_integrated_gradients_total():
    """(Written once in the core on the engines' layer gradients, whose parity across frameworks is tested.)"""
    framework = "torch"
    model, x = tiny(framework), batch(framework)
    layer = "0"
    cond = xk.explain(model, x, method="layer_conductance", backend=framework, layer=layer, steps=64, targets=[0, 1])
    ig = xk.explain(model, x, method="integrated_gradients", backend=framework, steps=64, targets=[0, 1])
    total = ig.attributions.reshape(2, -1).sum(1)
    np.testing.assert_allclose(cond.layer_attributions.reshape(2, -1).sum(1), total, rtol=0.02,
                               atol=0.02 * np.abs(total).max())
    assert cond.layer_attributions.shape == (2, 6, 6) and cond.attributions.shape == (2, 8, 8)
    assert cond.channel_attributions.shape == (2, 6, 6, 3)


def test_layers_without_a_rule_are_refused_by_name():
    model, x = tiny("torch", activation="gelu"), batch("torch")
    for method in ("deeplift", "lrp"):
        with pytest.raises(ModelError, match=r"'1' \(GELU\)"):
            xk.explain(model, x, method=method, backend="torch")
    keras_model = tiny("tensorflow", activation="gelu")
    with pytest.raises(ModelError, match="activation 'gelu'"):
        xk.explain(keras_model, batch("tensorflow"), method="deeplift", backend="tensorflow")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_score_through_the_final_softmax_is_refused(framework, functional_cnn, torch_cnn, images):
    model, x = (functional_cnn, images) if framework == "tensorflow" else (
        torch_cnn, np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with pytest.raises(ModelError, match="score='logit'"):
        xk.explain(model, x, method="deeplift", backend=framework, score="probability")
    with pytest.raises(InputError, match="propagate a class's score"):
        xk.explain(model, x, method="lrp", backend=framework, targets=xk.targets.MultiLabel([0, 1]))
