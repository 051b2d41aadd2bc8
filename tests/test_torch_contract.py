"""The Explainer contract on the native PyTorch backend: shapes, targets, params, batching, seeds, no side effects."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from method_params import method_params

import xaikit as xk
from xaikit.errors import InputError, LayerError
from xaikit.methods import CORE_METHODS as ATTRIBUTION_METHODS  # the methods native backends compute

pytest.importorskip("torch")


def state_of(torch, model):
    """Everything an explanation must leave as it was: values, modes, hooks, gradients, torch's RNG."""
    return {
        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()],
        "grads": [p.grad for p in model.parameters()],
        "rng": torch.random.get_rng_state().clone(),
        "grad_mode": torch.is_grad_enabled(),
    }


def assert_unchanged(torch, before, after):
    assert before["tensors"].keys() == after["tensors"].keys()
    for key, value in before["tensors"].items():
        assert torch.equal(value, after["tensors"][key]), key  # BatchNorm running statistics included
    assert before["training"] == after["training"]
    assert after["hooks"] == before["hooks"]
    assert all(g is None for g in after["grads"])
    assert torch.equal(before["rng"], after["rng"])
    assert before["grad_mode"] == after["grad_mode"]


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_contract(method, torch, torch_cnn, torch_images, torch_background):
    params = method_params(method, torch_background)
    before = state_of(torch, torch_cnn)
    exp = xk.explain(torch_cnn, torch_images, method=method, **params)
    assert_unchanged(torch, before, state_of(torch, torch_cnn))
    n, _, h, w = torch_images.shape
    assert exp.method == method and exp.backend == "torch" and exp.layout == "NCHW"
    assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0
    assert exp.outputs.shape == (n, 5) and np.allclose(exp.outputs.sum(1), 1, atol=1e-5)  # softmax outputs
    np.testing.assert_array_equal(exp.targets, exp.outputs.argmax(1))
    assert exp.score == "logit" and exp.params["batch_size"] == 32
    recorded = {"patch_size": [4, 4], "stride": [3, 3]}
    for key, value in params.items():
        if key != "background":
            assert exp.params[key] == recorded.get(key, value), key
    assert exp.info["torch"]
    if method in ("gradcam", "gradcam++"):
        assert exp.layer_attributions is not None and exp.attributions.min() >= 0
    fixed = xk.explain(torch_cnn, torch_images, method=method, targets=4, **params)
    assert fixed.targets.tolist() == [4, 4, 4]
    per_image = xk.explain(torch_cnn, torch_images, method=method, targets=[0, 1, 2], **params)
    assert per_image.targets.tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_batch_size_invariance(method, torch_cnn, torch_images, torch_background):
    params = method_params(method, torch_background)
    reference = xk.explain(torch_cnn, torch_images, method=method, targets=[1, 2, 3], batch_size=64, **params)
    for batch_size in (1, 5):
        other = xk.explain(torch_cnn, torch_images, method=method, targets=[1, 2, 3], batch_size=batch_size, **params)
        np.testing.assert_allclose(other.attributions, reference.attributions, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("method", [*ATTRIBUTION_METHODS, "expected_gradients@pool_a"])
def test_sequential_and_custom_forward_give_identical_results(method, torch_cnn, torch_cnn_custom, torch_images,
                                                              torch_background):
    """nn.Sequential runs the rest of the chain above a layer; other modules replace the layer's output by a hook."""
    name, _, layer = method.partition("@")
    params = {**method_params(name, torch_background), **({"layer": layer} if layer else {})}
    a = xk.explain(torch_cnn, torch_images, method=name, **params)
    b = xk.explain(torch_cnn_custom, torch_images, method=name, **params)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)
    assert a.targets.tolist() == b.targets.tolist()


def test_head_of_a_model_reading_its_batch_size_below_the_layer(torch, torch_cnn, torch_images, torch_background):
    """The part below the layer runs on one zero image only when that gives the same head outputs."""
    from torch import nn
    from xaikit_torch.engine import engine_for

    class ReadsBatchSize(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            n = x.shape[0]  # used above the layer: one image below would make (1, n * features) rows
            h = self.net[:8](x)
            return self.net[9:](h.reshape(n, -1))

    model = ReadsBatchSize(copy.deepcopy(torch_cnn)).eval()
    params = {**method_params("expected_gradients", torch_background), "batch_size": 8}
    a = xk.explain(model, torch_images, method="expected_gradients", layer="net.pool_a", **params)
    b = xk.explain(torch_cnn, torch_images, method="expected_gradients", layer="pool_a", **params)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)
    view = engine_for(model).view
    assert view._one_row_below == {"net.pool_a": False}
    wrapped = nn.Sequential(nn.Identity(), copy.deepcopy(torch_cnn)).eval()  # a chain, but not of the layer's parents
    custom = type("Wrapped", (nn.Module,), {"forward": lambda self, x: self.inner(x)})()
    custom.inner = wrapped
    c = xk.explain(custom, torch_images, method="expected_gradients", layer="inner.1.pool_a", **params)
    np.testing.assert_allclose(c.attributions, b.attributions, rtol=1e-5, atol=1e-7)
    assert engine_for(custom).view._one_row_below == {"inner.1.pool_a": True}


@pytest.mark.parametrize("method", ["smoothgrad", "expected_gradients"])
def test_seed_reproducibility_and_global_rngs_untouched(method, torch, torch_cnn, torch_images, torch_background):
    params = method_params(method, torch_background)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    a = xk.explain(torch_cnn, torch_images, method=method, **params)
    b = xk.explain(torch_cnn, torch_images, method=method, **params)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    other = xk.explain(torch_cnn, torch_images, method=method, **{**params, "seed": params["seed"] + 1})
    assert not np.allclose(other.attributions, a.attributions)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)


@pytest.mark.parametrize("method", ["smoothgrad", "expected_gradients"])
def test_random_methods_do_not_depend_on_the_rest_of_the_batch(method, torch_cnn, torch_images, torch_background):
    params = method_params(method, torch_background)
    together = xk.explain(torch_cnn, torch_images, method=method, targets=[1, 2, 3], **params)
    alone = xk.explain(torch_cnn, torch_images[2:], method=method, targets=[3], **params)
    np.testing.assert_allclose(alone.attributions[0], together.attributions[2], rtol=2e-4, atol=1e-6)


def test_threads_give_the_sequential_results(torch, torch_cnn, torch_images, torch_background):
    """Hooks on the shared modules act only in the thread that installed them."""
    jobs = [(m, method_params(m, torch_background)) for m in ATTRIBUTION_METHODS]
    jobs += [("expected_gradients", {**method_params("expected_gradients", torch_background), "layer": "pool_a"}),
             ("gradcam", {"layer": "conv_b"})]
    before = state_of(torch, torch_cnn)
    sequential = [xk.explain(torch_cnn, torch_images, method=m, batch_size=4, **p).attributions for m, p in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(lambda m=m, p=p: xk.explain(torch_cnn, torch_images, method=m, batch_size=4,
                                                           **p).attributions) for m, p in jobs * 2]
        parallel = [f.result() for f in futures]
    for i, maps in enumerate(parallel):
        np.testing.assert_allclose(maps, sequential[i % len(jobs)], rtol=1e-5, atol=1e-7,
                                   err_msg=jobs[i % len(jobs)][0])
    assert_unchanged(torch, before, state_of(torch, torch_cnn))


def test_hooks_and_modes_are_restored_when_a_pass_fails(torch, torch_cnn, torch_images):
    before = state_of(torch, torch_cnn)
    with pytest.raises(InputError):
        xk.explain(torch_cnn, torch_images[:, :, :10], method="gradcam")  # the Linear layer refuses this size
    with pytest.raises(LayerError, match="not a spatial map"):
        xk.explain(torch_cnn, torch_images, method="gradcam", layer="pred")
    assert_unchanged(torch, before, state_of(torch, torch_cnn))


def test_tensor_inputs_requiring_grad(torch, torch_cnn, torch_images):
    tensor = torch.from_numpy(torch_images).requires_grad_(True)
    exp = xk.explain(torch_cnn, tensor, method="vanilla_gradients")
    ref = xk.explain(torch_cnn, torch_images, method="vanilla_gradients")
    np.testing.assert_array_equal(exp.attributions, ref.attributions)
    assert tensor.grad is None


def test_layer_as_module_object(torch_cnn, torch_images):
    by_object = xk.explain(torch_cnn, torch_images, method="gradcam", layer=torch_cnn.conv_b)
    by_name = xk.explain(torch_cnn, torch_images, method="gradcam", layer="conv_b")
    assert by_object.layer == "conv_b" and by_object.params["layer"] == "conv_b"
    np.testing.assert_array_equal(by_object.attributions, by_name.attributions)
    assert xk.activations(torch_cnn, torch_images, layers=[torch_cnn.pool_a]).layers == ["pool_a"]
    from torch import nn

    with pytest.raises(LayerError, match="not part of model"):
        xk.explain(torch_cnn, torch_images, method="gradcam", layer=nn.Conv2d(4, 4, 3))


def test_activations_are_channels_first_and_in_place_safe(torch_cnn, torch_images):
    acts = xk.activations(torch_cnn, torch_images, layers=["conv_a", "pool_a", "bn"])
    assert acts.layers == ["conv_a", "bn", "pool_a"]
    assert acts["conv_a"].shape == (3, 4, 18, 26) and acts["pool_a"].shape == (3, 4, 9, 13)
    assert acts["conv_a"].min() < 0  # relu_a (in place) ran after it: the copy kept the convolution's output
    assert xk.activations(torch_cnn, torch_images).layers == ["conv_a", "pool_a", "conv_b"]  # conv and pool


def test_default_score_rule(torch):
    """Logits are read before a final Softmax/Sigmoid/LogSoftmax; a plain head is linear; outputs computed later
    are unknown."""
    from torch import nn
    from xaikit_torch.engine import engine_for

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        binary = nn.Sequential(nn.Flatten(), nn.Linear(12, 1), nn.Sigmoid())
    log_softmax = nn.Sequential(nn.Flatten(), linear[1], nn.LogSoftmax(dim=1))  # the same Linear

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = linear[1]

        def forward(self, x):
            return torch.softmax(self.fc(x.flatten(1)), dim=1)

    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32)
    assert engine_for(linear).describe((3, 2, 2)).output_activation == "linear"
    assert engine_for(Functional()).describe((3, 2, 2)).output_activation == "unknown"
    exp = xk.explain(linear, x, method="vanilla_gradients", targets=1)
    assert exp.score == "logit"
    np.testing.assert_allclose(exp.channel_attributions[0], linear[1].weight[1].detach().numpy().reshape(3, 2, 2),
                               rtol=1e-6)
    with pytest.raises(InputError, match="probability"):
        xk.explain(linear, x, method="vanilla_gradients", score="probability")
    with pytest.raises(InputError, match="score='output'"):
        xk.explain(Functional(), x, method="vanilla_gradients", score="logit")
    # binary: two classes, [-z, z]; class 0's map is minus class 1's
    spec = engine_for(binary).describe((3, 2, 2))
    assert spec.binary and spec.n_classes == 2
    pos = xk.explain(binary, x, method="vanilla_gradients", targets=1).channel_attributions
    neg = xk.explain(binary, x, method="vanilla_gradients", targets=0).channel_attributions
    np.testing.assert_allclose(pos[0], binary[1].weight[0].detach().numpy().reshape(3, 2, 2), rtol=1e-6)
    np.testing.assert_allclose(neg, -pos, rtol=1e-6)
    # LogSoftmax: the logit is its input, the probabilities are exp(output)
    a = xk.explain(log_softmax, x, method="vanilla_gradients", targets=2)
    b = xk.explain(linear, x, method="vanilla_gradients", targets=2)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-6)
    probs = xk.get_explainer(log_softmax, "vanilla_gradients")._engine().class_scores(x, "probability")
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)


def test_fingerprint_sees_every_kind_of_weight_change(torch, torch_cnn):
    from xaikit_torch.engine import engine_for

    model = copy.deepcopy(torch_cnn)
    engine = engine_for(model)
    first = engine.fingerprint()
    seen = {first}

    def changed() -> bool:
        stamp = engine.fingerprint()
        new = stamp not in seen
        seen.add(stamp)
        return new

    assert not changed()  # stable while nothing changes
    assert engine_for(copy.deepcopy(model)).fingerprint() in seen  # the content, not the objects: stable across copies
    with torch.no_grad():  # filters permuted in place (the randomisation check's kind of edit)
        model.conv_b.weight.copy_(model.conv_b.weight[[1, 0, 2, 3, 4, 5]])
    assert changed()
    model.bn.running_var.mul_(2.0)  # a buffer
    assert changed()
    model.conv_a.weight.data.mul_(-1.0)  # through .data: torch's version counter does not move
    assert changed()
    model.conv_a.weight.detach().numpy()[0, 0, 0, 0] += 1e-6  # through a NumPy view
    assert changed()
    model.pred.weight = torch.nn.Parameter(model.pred.weight.detach() * 2)  # an assignment
    assert changed()
    model.load_state_dict(torch_cnn.state_dict())
    assert engine.fingerprint() == first  # the original weights again: the original fingerprint


def test_background_terms_are_reused_until_the_weights_change(torch, torch_cnn, torch_images, torch_background):
    from xaikit_torch.engine import engine_for

    model = copy.deepcopy(torch_cnn)
    params = {**method_params("expected_gradients", torch_background), "layer": "pool_a"}
    explainer = xk.get_explainer(model, "expected_gradients", **params)
    first = explainer.explain(torch_images, targets=[0, 1, 2])
    engine = engine_for(model)
    hits = engine.memo_stats["hits"]
    again = explainer.explain(torch_images, targets=[0, 1, 2])
    assert engine.memo_stats["hits"] == hits + 1
    np.testing.assert_array_equal(again.attributions, first.attributions)
    with torch.no_grad():
        model.bn.running_var.mul_(3.0)  # below the layer: the background's activations change
    changed = explainer.explain(torch_images, targets=[0, 1, 2])
    fresh = xk.get_explainer(copy.deepcopy(model), "expected_gradients", **params).explain(torch_images,
                                                                                          targets=[0, 1, 2])
    np.testing.assert_allclose(changed.attributions, fresh.attributions, rtol=1e-5, atol=1e-7)
    assert not np.allclose(changed.attributions, first.attributions)


# ----------------------------------------------------------------------------- torchvision ResNet-18
@pytest.fixture(scope="module")
def resnet(torch):
    torchvision = pytest.importorskip("torchvision")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torchvision.models.resnet18(weights=None, num_classes=6).eval()


@pytest.fixture(scope="module")
def resnet_images():
    return np.random.default_rng(3).normal(size=(2, 3, 48, 48)).astype(np.float32)


def test_resnet_shared_relu_and_default_layer(resnet, resnet_images):
    from xaikit_torch.engine import engine_for

    spec = engine_for(resnet).describe((3, 48, 48))
    assert spec.layer("layer4.1.relu").calls == 2 and spec.layer("layer4.1").kind == "block"
    assert spec.layer("layer4").kind == "container" and spec.layer("avgpool").kind == "global_pool"
    assert spec.top_layers[:2] == ("conv1", "bn1")
    auto = xk.explain(resnet, resnet_images, method="gradcam")
    assert auto.layer == "layer4.1"  # the last residual block, not the shared relu nor the global pool
    whole = xk.explain(resnet, resnet_images, method="gradcam", layer="layer4")  # the container of that block
    np.testing.assert_array_equal(whole.attributions, auto.attributions)
    with pytest.raises(LayerError, match="called 2 times"):
        xk.explain(resnet, resnet_images, method="gradcam", layer="layer4.1.relu")


@pytest.mark.parametrize("layer", ["layer1.0.bn1", "layer3.1.conv2", "layer4"])
def test_resnet_in_place_relus_do_not_change_layer_results(resnet, resnet_images, layer):
    """The same network with out-of-place ReLUs gives the same activations and gradients."""
    from torch import nn

    reference = copy.deepcopy(resnet)
    for module in reference.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    a = xk.explain(resnet, resnet_images, method="gradcam", layer=layer, relu=False)
    b = xk.explain(reference, resnet_images, method="gradcam", layer=layer, relu=False)
    np.testing.assert_allclose(a.layer_attributions, b.layer_attributions, rtol=1e-5, atol=1e-7)
    assert np.abs(a.layer_attributions).max() > 0
    if layer == "layer1.0.bn1":  # followed by an in-place ReLU: the activations keep their negative values
        assert xk.activations(resnet, resnet_images, layers=[layer])[layer].min() < 0


def test_resnet_expected_gradients_at_a_block_output(resnet, resnet_images):
    background = np.random.default_rng(4).normal(size=(4, 3, 48, 48)).astype(np.float32)
    exp = xk.explain(resnet, resnet_images, method="expected_gradients", background=background, n_samples=32, seed=0,
                     layer="layer4", batch_size=16)
    assert exp.channel_attributions.shape == (2, 2, 2, 512)
    assert np.all(np.abs(exp.extras["completeness_gap"]) < 0.2 * np.abs(exp.layer_attributions).sum(axis=(1, 2)))
    with pytest.raises(LayerError, match="bypasses it"):
        xk.explain(resnet, resnet_images, method="expected_gradients", background=background, layer="layer4.0.conv1")


def test_package_metadata_is_read_once_not_per_explanation(monkeypatch, torch_cnn, torch_images):
    """Results record library versions; reading a package's METADATA on every call was ~1 ms of a one-image
    explanation on a small model."""
    import importlib.metadata

    from xaikit.registry import distribution_version

    xk.explain(torch_cnn, torch_images[:1], "vanilla_gradients")
    calls = []
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: calls.append(name) or real(name))
    exp = xk.explain(torch_cnn, torch_images[:1], "vanilla_gradients")
    assert calls == [] and exp.info["torchvision"] == distribution_version("torchvision")
