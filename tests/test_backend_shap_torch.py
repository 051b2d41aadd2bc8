"""The shap backend on PyTorch modules (GradientExplainer's PyTorch implementation) and shap's Partition explainer
on any model (Keras, PyTorch, a NumPy function).

Expected gradients of a linear model are known whatever the draws: ``(x - r) W_t`` with one reference ``r``, at the
input and, for a model linear above a layer, at that layer. Partition values always sum to the score minus the
fully masked score (shap's efficiency); the same function in both frameworks gives the same values.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_torch_cnn

import xaikit as xk
from xaikit.errors import LayerError, ModelError
from xaikit.testing import IMAGE_SHAPE

pytest.importorskip("shap")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def linear(torch):
    from xaikit_torch.testing import TorchFactory

    weights = np.random.default_rng(42).normal(0, 1, (*IMAGE_SHAPE, 4)).astype(np.float32)
    factory = TorchFactory()
    return factory.linear(weights, np.zeros(4, np.float32), "linear"), weights, factory


def test_gradient_explainer_picks_the_framework(torch, linear, functional_cnn, images):
    from xaikit_shap.expected_gradients import KerasShapExpectedGradients
    from xaikit_shap.torch_gradients import TorchShapExpectedGradients

    model = linear[0]
    assert isinstance(xk.get_explainer(model, "expected_gradients", backend="shap"), TorchShapExpectedGradients)
    assert isinstance(xk.get_explainer(functional_cnn, "expected_gradients", backend="shap"),
                      KerasShapExpectedGradients)
    with pytest.raises(ModelError, match="partition_shap"):
        xk.get_explainer(lambda x: x, "expected_gradients", backend="shap")


def test_torch_expected_gradients_on_a_linear_model(linear):
    model, weights, factory = linear
    x, reference = factory.images(2), factory.images(1, seed=5)
    exp = xk.explain(model, x, "expected_gradients", backend="shap", background=reference, n_samples=9, seed=0,
                     targets=[2, 0])
    assert exp.score == "logit" and exp.info["shap"]  # a torch classifier returning logits: shap explains them
    expected = (x - reference) * weights.transpose(3, 2, 0, 1)[[2, 0]]
    np.testing.assert_allclose(exp.channel_attributions, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-3)


def test_torch_expected_gradients_at_a_layer(torch):
    from collections import OrderedDict

    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 2, 1), flat=nn.Flatten(), out=nn.Linear(2 * 6 * 8, 3)))
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 6, 8)).astype(np.float32)
    reference = np.random.default_rng(1).uniform(0, 1, (1, 3, 6, 8)).astype(np.float32)
    exp = xk.explain(model, x, "expected_gradients", backend="shap", background=reference, layer="conv",
                     n_samples=5, seed=0, targets=[1, 2])
    with torch.no_grad():
        acts = model.conv(torch.from_numpy(x)).numpy()
        ref_acts = model.conv(torch.from_numpy(reference)).numpy()
    w = model.out.weight.detach().numpy().reshape(3, 2, 6, 8)
    expected = ((acts - ref_acts) * w[[1, 2]]).transpose(0, 2, 3, 1)  # channels-last at a layer
    np.testing.assert_allclose(exp.channel_attributions, expected, rtol=1e-4, atol=1e-5)
    assert exp.layer_attributions.shape == (2, 6, 8)
    with pytest.raises(LayerError):
        xk.explain(model, x, "expected_gradients", backend="shap", background=reference, layer="flat")


def test_torch_ranked_outputs_are_shaps(torch_cnn, torch_images, torch_background):
    explainer = xk.get_explainer(torch_cnn, "expected_gradients", backend="shap", background=torch_background,
                                 n_samples=4, seed=1)
    ranked = explainer.explain_ranked(torch_images, 2)
    order = np.argsort(-ranked[0].outputs, axis=1)
    np.testing.assert_array_equal(ranked[0].targets, order[:, 0])
    np.testing.assert_array_equal(ranked[1].targets, order[:, 1])


def test_torch_per_image_draws_do_not_depend_on_the_batch(torch_cnn, torch_images, torch_background):
    kw = {"background": torch_background, "n_samples": 6, "seed": 3, "local_smoothing": 0.1}
    batch = xk.explain(torch_cnn, torch_images, "expected_gradients", backend="shap", targets=[1, 2, 3], **kw)
    alone = xk.explain(torch_cnn, torch_images[2:], "expected_gradients", backend="shap", targets=3, **kw)
    np.testing.assert_allclose(alone.attributions[0], batch.attributions[2], rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------------- Partition
def test_partition_values_sum_to_the_score_change(linear):
    model, _, factory = linear
    x = factory.images(2)
    exp = xk.explain(model, x, "partition_shap", backend="shap", masker="baseline", baseline=0.25, max_evals=100,
                     targets=[1, 2])
    total = exp.attributions.reshape(2, -1).sum(1) + exp.extras["base_value"]
    np.testing.assert_allclose(total, exp.outputs[[0, 1], [1, 2]], rtol=1e-5, atol=1e-5)
    assert exp.params["blur_size"] == [1, 2] and exp.params["shap_batch_size"] is None


def test_partition_is_the_same_in_both_frameworks(keras, linear):
    model, weights, factory = linear
    inp = keras.Input(IMAGE_SHAPE)
    dense = keras.layers.Dense(4)
    keras_model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    dense.set_weights([weights.reshape(-1, 4), np.zeros(4, np.float32)])
    x = factory.images(2)
    kw = {"masker": "blur", "max_evals": 60, "targets": [0, 3]}
    ours = xk.explain(model, x, "partition_shap", backend="shap", **kw)
    theirs = xk.explain(keras_model, x.transpose(0, 2, 3, 1), "partition_shap", backend="shap", **kw)
    np.testing.assert_allclose(ours.attributions, theirs.attributions, rtol=1e-4, atol=1e-5)


def test_partition_images_are_masked_with_their_own_blur():
    """shap's blur masker caches the blurred image under id() of the image array, an id Python reuses: with one
    masker for a batch, a later image was blurred as an earlier one. A constant image blurs to itself, so every
    image's fully masked score (base_value) is its own score."""
    def brightness(images):
        m = images.mean(axis=(1, 2, 3))
        return np.stack([m, -m], axis=1)

    x = np.stack([np.full((8, 8, 3), v, np.float32) for v in (0.0, 1.0, 0.25, 0.75)])
    exp = xk.explain(brightness, x, "partition_shap", backend="shap", masker="blur", max_evals=10, targets=0)
    np.testing.assert_allclose(exp.extras["base_value"], [0.0, 1.0, 0.25, 0.75], atol=1e-6)


def test_partition_on_a_black_box():
    def f(images):  # NumPy in and out: a mean-brightness classifier
        m = images.mean(axis=(1, 2, 3))
        return np.stack([m, -m], axis=1)

    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    exp = xk.explain(f, x, "partition_shap", backend="shap", max_evals=40, masker="baseline")
    assert exp.attributions.shape == (2, 8, 8) and exp.score == "output"
    np.testing.assert_allclose(exp.attributions.reshape(2, -1).sum(1) + exp.extras["base_value"],
                               exp.outputs[np.arange(2), exp.targets], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- the user's model is left as it was
@pytest.mark.parametrize("backend, method, params", [
    ("shap", "expected_gradients", {"n_samples": 4, "seed": 0}),
    ("shap", "partition_shap", {"max_evals": 20}),
    ("captum", "integrated_gradients", {"steps": 4}),
    ("captum", "expected_gradients", {"n_samples": 4, "seed": 0}),
    ("pytorch-grad-cam", "gradcam", {"layer": "conv_b"}),
    ("pytorch-grad-cam", "ablationcam", {"layer": "conv_b"}),
])
def test_adapters_leave_a_training_model_unchanged(torch, backend, method, params, torch_images, torch_background):
    """A model in train mode: every library pass runs in eval mode (BatchNorm's running statistics are not updated,
    Dropout is off, so results are deterministic), and flags, buffers and .grad are as they were afterwards."""
    pytest.importorskip({"captum": "captum", "pytorch-grad-cam": "pytorch_grad_cam"}.get(backend, "shap"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = small_torch_cnn(torch).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if "background" in xk.get_explainer(model, method, backend=backend).param_names():
        params = {**params, "background": torch_background[:4]}
    first = xk.explain(model, torch_images, method, backend=backend, targets=[1, 2, 3], **params)
    again = xk.explain(model, torch_images, method, backend=backend, targets=[1, 2, 3], **params)
    np.testing.assert_array_equal(first.attributions, again.attributions)
    assert all(m.training for m in model.modules()) and all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
