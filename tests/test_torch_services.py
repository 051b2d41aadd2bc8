"""PyTorch model services: recognising models, class scores, model files, the randomizer."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import FileFormatError, InputError, LayerError, UnknownNameError

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def services():
    from xaikit_torch.services import SERVICES

    return SERVICES


def test_accepts_without_importing_torch():
    code = ("import sys\n"
            "from xaikit_torch.services import SERVICES\n"
            "class Module: pass\n"
            "Module.__module__ = 'torch.nn.modules.module'\n"
            "class Net(Module): pass\n"
            "assert SERVICES.accepts(Net()) and not SERVICES.accepts(object())\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backend_is_chosen_for_torch_modules(torch_cnn, functional_cnn):
    from xaikit.registry import backend_for_model

    assert backend_for_model(torch_cnn) == "torch"
    assert backend_for_model(functional_cnn) == "tensorflow"
    status = {b.name: b for b in xk.list_backends()}["torch"]
    assert status.available and "expected_gradients" in status.methods and "activations" in status.methods


def test_describe_class_scores_and_parameter_count(services, torch_cnn, torch_images):
    spec = services.describe(torch_cnn, torch_images)
    assert spec.layout == "NCHW" and spec.input_shape == (3, 20, 28) and spec.output_activation == "softmax"
    assert spec.top_layers[0] == "conv_a" and spec.layer("pool_a").output_shape == (4, 9, 13)
    probs = services.class_scores(torch_cnn, torch_images, batch_size=2)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
    logits = services.class_scores(torch_cnn, torch_images, score="logit")
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), probs, rtol=1e-5)
    assert services.parameter_count(torch_cnn) == sum(p.numel() for p in torch_cnn.parameters())
    with pytest.raises(InputError, match="channels-last.*transpose"):
        services.class_scores(torch_cnn, torch_images.transpose(0, 2, 3, 1))


def test_randomizer_is_seeded_exactly_restored_and_leaves_torch_rng_alone(torch, services, torch_cnn):
    model = copy.deepcopy(torch_cnn)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    randomizer = services.randomizer(model)
    assert randomizer.layers() == ["pred", "conv_b", "bn", "conv_a"]  # top first
    rng = torch.random.get_rng_state().clone()
    randomizer.randomize("conv_b", seed=5)
    first = model.conv_b.weight.detach().clone()
    assert not torch.equal(first, original["conv_b.weight"])
    assert randomizer.initializers_used["conv_b"]["weight"] == "Conv2d.reset_parameters"
    randomizer.randomize("bn", seed=6)
    assert torch.equal(model.bn.running_var, torch.ones(4))  # BatchNorm's own reset: fresh statistics
    randomizer.restore()
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key
    with randomizer:
        randomizer.randomize("conv_b", seed=5)
        assert torch.equal(model.conv_b.weight, first)  # the same seed, the same values
    assert torch.equal(model.conv_b.weight, original["conv_b.weight"])
    assert torch.equal(torch.random.get_rng_state(), rng)
    with pytest.raises(LayerError, match="pred, conv_b, bn, conv_a"):
        randomizer.randomize("relu_a", seed=0)


def test_randomisation_sanity_check_runs_on_torch(services, torch_cnn, torch_images):
    from xaikit.metrics import cascading_randomisation

    model = copy.deepcopy(torch_cnn)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # the metrics take channels-last images (as pictures are): the explain function gives the model its layout
    result = cascading_randomisation(
        lambda x, t: xk.explain(model, x.transpose(0, 3, 1, 2), method="gradcam", layer="conv_b", targets=t),
        services.randomizer(model), torch_images.transpose(0, 2, 3, 1), np.array([0, 1, 2]), seed=0)
    assert result.spearman.shape == (4, 3)
    for key, value in model.state_dict().items():
        assert (value == before[key]).all(), key


def test_sanity_check_without_targets_on_logit_models(torch, torch_cnn_custom, torch_images):
    """Regression: the predicted-class step asked for probabilities, which every logit model (every PyTorch
    classifier) refuses; the targets are the model's own predictions (its score rule, binary models included)."""
    net = torch_cnn_custom
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        binary = torch.nn.Linear(net.pred.in_features, 1)
    for head in (net.pred, binary):  # K logits; one logit (binary)
        body = [m for name, m in net.named_children() if name not in ("pred", "softmax")]
        logits = copy.deepcopy(torch.nn.Sequential(*body, head)).eval()
        check = xk.sanity_check(logits, torch_images, ["vanilla_gradients"], layers="top:1", seed=0)
        predicted = xk.explain(logits, torch_images, method="vanilla_gradients").predictions
        np.testing.assert_array_equal(check.targets, predicted)


# ----------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def resnet_state(torch, tmp_path_factory):
    torchvision = pytest.importorskip("torchvision")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    path = tmp_path_factory.mktemp("files") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return model, path


def test_state_dict_into_a_torchvision_architecture(torch, services, resnet_state, tmp_path):
    model, path = resnet_state
    rng = torch.random.get_rng_state().clone()
    loaded = services.load(path, arch="resnet18", num_classes=3)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the throw-away initialisation used a forked RNG
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, checkpoint)
    assert torch.equal(services.load(checkpoint, arch="resnet18", num_classes=3).fc.weight, model.fc.weight)
    with pytest.raises(InputError, match="weights only.*arch="):
        services.load(path)
    with pytest.raises(InputError, match="num_classes=3"):
        services.load(path, arch="resnet18")  # 1000 classes by default
    with pytest.raises(InputError, match="do not fit torchvision's resnet34"):
        services.load(path, arch="resnet34", num_classes=3)
    with pytest.raises(UnknownNameError, match="resnet18"):
        services.load(path, arch="resnet_18")


def test_code_carrying_files_need_unsafe(torch, services, torch_cnn, torch_images, tmp_path):
    model = copy.deepcopy(torch_cnn).eval()
    pickled = tmp_path / "whole.pt"
    torch.save(model, pickled)
    with pytest.raises(InputError, match="pickled Python objects.*unsafe=True"):
        services.load(pickled)
    loaded = services.load(pickled, unsafe=True)
    np.testing.assert_array_equal(services.class_scores(loaded, torch_images),
                                  services.class_scores(model, torch_images))
    scripted = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        torch.jit.save(torch.jit.script(model), scripted)
        with pytest.raises(InputError, match="TorchScript.*unsafe=True"):
            services.load(scripted)
        script = services.load(scripted, unsafe=True)
    # compiled code: the output is all that is known (score="output"), its layers cannot be hooked
    exp = xk.explain(script, torch_images, method="vanilla_gradients", score="output", targets=1)
    ref = xk.explain(model, torch_images, method="vanilla_gradients", score="probability", targets=1)
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-8)
    with pytest.raises(LayerError, match="TorchScript"):
        xk.explain(script, torch_images, method="gradcam", layer="conv_b")


@pytest.mark.parametrize("damage,message", [
    (lambda data: b"", "the file is empty"),
    (lambda data: data[: len(data) // 2], "truncated"),
    (lambda data: b"GIF89a" + data, "neither a zip archive.*nor a pickle"),
    (lambda data: data[:200] + bytes([data[200] ^ 0xFF]) + data[201:], "fails its checksum|damaged"),
])
def test_damaged_files_are_named(services, resnet_state, tmp_path, damage, message):
    _, path = resnet_state
    bad = tmp_path / "bad.pth"
    bad.write_bytes(damage(path.read_bytes()))
    with pytest.raises(FileFormatError, match=message) as info:
        services.load(bad, arch="resnet18", num_classes=3)
    assert str(bad) in str(info.value)


def test_other_suffixes_and_missing_files(services, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        services.load(tmp_path / "missing.pt")
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match=r"\.pt, \.pth"):
        services.load(other)


# ----------------------------------------------------------------------------- primitives of the methods to come
@pytest.mark.parametrize("custom", [False, True])
def test_masked_and_head_scores_are_the_model_on_those_inputs(torch_cnn, torch_cnn_custom, torch_images, custom):
    from xaikit_torch.engine import engine_for

    model = torch_cnn_custom if custom else torch_cnn
    engine = engine_for(model)
    engine.describe(torch_images.shape[1:])
    masks = np.random.default_rng(0).uniform(size=(5, 20, 28)).astype(np.float32)
    seg, t = np.array([0, 0, 1, 2, 2]), np.array([0, 3, 1, 4, 2])
    fill = np.full((3, 20, 28), 0.5, np.float32)
    rows = torch_images[seg] * masks[:, None] + fill[None] * (1 - masks[:, None])
    expected = engine.class_scores(rows, "logit")[np.arange(5), t]
    np.testing.assert_allclose(engine.masked_scores(torch_images, seg, masks, fill, t, "logit"), expected, rtol=1e-5)
    _, scores, features = engine.probe(torch_images, "probability", "pool_a")
    np.testing.assert_allclose(engine.head_scores(features, np.array([1, 2, 3]), "probability", "pool_a"),
                               scores[np.arange(3), [1, 2, 3]], rtol=1e-5)


def test_second_moments_of_path_gradients(torch_cnn, torch_images):
    from xaikit_torch.engine import engine_for

    engine = engine_for(torch_cnn)
    grads, _, _, _ = engine.input_gradients(torch_images, np.array([1, 2, 3], np.int32), "logit")
    zero = np.zeros((1, *torch_images.shape[1:]), np.float32)
    seg, w = np.array([0, 1, 1, 2], np.int32), np.array([0.5, 1.0, 2.0, 1.0], np.float32)
    t = np.array([[1], [2], [2], [3]], np.int32)
    sums = engine.path_gradient_sums(torch_images, seg, zero, zero, np.ones(4, np.float32), w, t, "logit",
                                     second_moment=True)
    assert sums.shape == (2, 1, *torch_images.shape)
    weight = np.array([0.5, 3.0, 1.0])[:, None, None, None]
    np.testing.assert_allclose(sums[0, 0], weight * grads, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(sums[1, 0], weight * grads ** 2, rtol=1e-5, atol=1e-10)


def test_a_forward_writing_into_its_input_changes_neither_it_nor_the_maps(torch, torch_cnn_custom, torch_images):
    """Regression: ``x.sub_(0.5)`` in forward changed the caller's tensor and the maps; vanilla gradients raised
    autograd's RuntimeError (a leaf that requires grad changed in place)."""

    class Shifted(torch.nn.Module):
        def __init__(self, in_place):
            super().__init__()
            self.net, self.in_place = torch_cnn_custom, in_place

        def forward(self, x):
            return self.net(x.sub_(0.5) if self.in_place else x - 0.5)

    images = torch.from_numpy(torch_images[:1].copy())
    for method, params in [("occlusion", {"patch_size": 8}), ("rise", {"n_samples": 8, "grid_size": 2, "seed": 0}),
                           ("kernel_shap", {"n_samples": 8, "n_segments": 4, "seed": 0}),
                           ("gradcam", {"layer": "net.conv_b"}), ("vanilla_gradients", {})]:
        given = images.clone()
        got = xk.explain(Shifted(True), given, method=method, targets=1, **params)
        expected = xk.explain(Shifted(False), images, method=method, targets=1, **params)
        assert torch.equal(given, images), method
        np.testing.assert_allclose(got.attributions, expected.attributions, rtol=1e-6, atol=1e-7, err_msg=method)


def test_the_input_invariance_check_leaves_the_images_of_a_forward_writing_into_its_input(torch, torch_cnn_custom,
                                                                                         torch_images):
    """Regression: the check's search for the first layer ran the model on a tensor sharing the caller's images'
    memory: ``x.sub_(0.5)`` in forward changed the caller's tensor (and NumPy array)."""

    class Shifted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch_cnn_custom

        def forward(self, x):
            return self.net(x.sub_(0.5))

    for given in (torch.from_numpy(torch_images[:1].copy()), torch_images[:1].copy()):
        xk.input_invariance_check(Shifted().eval(), given, "vanilla_gradients")
        np.testing.assert_array_equal(np.asarray(given), torch_images[:1])


def test_description_without_images(torch_cnn):
    from xaikit_torch.engine import engine_for

    spec = engine_for(torch_cnn).describe(None)
    assert spec.input_shape == (3, None, None) and spec.n_outputs == 0 and spec.layout == "NCHW"
    assert spec.layer("conv_b").kind == "conv" and spec.layer("conv_b").output_shape is None


def test_architectures_zoo_and_kernels(torch, services, torch_cnn, tmp_path):
    assert "resnet18" in services.architectures() and "cnn4" in services.architectures()
    rng = torch.random.get_rng_state().clone()
    a = services.architecture("resnet18", classes=3, seed=1)
    b = services.architecture("resnet18", classes=3, seed=1)
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert not a.training and torch.equal(a.fc.weight, b.fc.weight) and a.fc.out_features == 3
    path = tmp_path / "r.pth"
    torch.save(a.state_dict(), path)
    assert torch.equal(services.architecture("resnet18", weights=str(path), classes=3).fc.weight, a.fc.weight)
    assert services.architecture_preprocess("resnet18") == "torch"
    with pytest.raises(InputError, match="unknown architecture"):
        services.architecture("resnet_18")
    twin = services.zoo_model("shapes_binary")
    assert next(iter(twin._modules)) == "conv2d"
    assert services.zoo_record("shapes_binary")["test_accuracy"] > 0.9
    assert services.kernel_layers(torch_cnn) == ["conv_a", "conv_b"]
    filters = services.conv_filters(torch_cnn, "conv_b")
    assert filters.shape == (3, 3, 4, 6)  # (kh, kw, in, out), as Keras keeps kernels
    np.testing.assert_array_equal(filters[..., 5], torch_cnn.conv_b.weight[5].detach().numpy().transpose(1, 2, 0))
    with pytest.raises(LayerError, match="conv_a, conv_b"):
        services.conv_filters(torch_cnn, "pred")
