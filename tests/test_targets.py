"""Targets beyond a class index: score functions and the ready-made targets of :mod:`xaikit.targets`.

Parity with the libraries' own ways of explaining a function of the output (pytorch-grad-cam's
``SemanticSegmentationTarget``, a Captum forward wrapper), analytic references on linear heads
(regression, multi-label), and the errors a wrong score function gets.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import InputError
from xaikit.metrics import deletion, target_predict
from xaikit.targets import ClassScore, EmbeddingSimilarity, MultiLabel, Region, Regression, describe_target


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# --------------------------------------------------------------------------- framework-free
def test_ready_made_targets_on_numpy_outputs():
    out = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)  # (N, K, H, W)
    mask = np.array([[True, False], [False, True]])
    np.testing.assert_array_equal(Region(1, mask)(out), [4 + 7, 16 + 19])
    np.testing.assert_array_equal(Region(1, mask, class_axis=-1)(out.transpose(0, 2, 3, 1)), [4 + 7, 16 + 19])
    flat = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]], np.float32)
    np.testing.assert_array_equal(MultiLabel([0, 2])(flat), [4.0, 4.0])
    np.testing.assert_array_equal(Regression(1)(flat), [2.0, -1.0])
    np.testing.assert_array_equal(ClassScore(2)(flat), [3.0, 4.0])
    np.testing.assert_allclose(EmbeddingSimilarity([0, 0, 2])(flat), [3 / np.sqrt(14), 4 / np.sqrt(17)], rtol=1e-6)
    assert Region(1, mask) == Region(1, mask.copy()) and hash(Region(1, mask)) == hash(Region(1, mask.copy()))
    assert Region(1, mask) != Region(2, mask)
    assert describe_target(MultiLabel([0, 2])) == "MultiLabel(labels=[0, 2])"
    with pytest.raises(InputError, match="mask is 3x3 but the model's output has shape"):
        Region(0, np.ones((3, 3), bool))(out)


def test_black_box_takes_a_numpy_score_function():
    w = np.random.default_rng(0).normal(size=(8 * 8 * 3, 3)).astype(np.float32)

    def model(x):
        return x.reshape(len(x), -1) @ w

    x = np.random.default_rng(1).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    via_function = xk.explain(model, x, method="occlusion", backend="callable", targets=MultiLabel([0, 2]),
                              patch_size=4)
    by_class = [xk.explain(model, x, method="occlusion", backend="callable", targets=c, score="output", patch_size=4)
                for c in (0, 2)]
    np.testing.assert_allclose(via_function.attributions, by_class[0].attributions + by_class[1].attributions,
                               rtol=1e-5, atol=1e-6)
    assert via_function.target == "MultiLabel(labels=[0, 2])" and via_function.score == "function"
    assert via_function.targets.tolist() == [-1, -1] and via_function.params["target"] == via_function.target


# --------------------------------------------------------------------------- PyTorch
@pytest.fixture(scope="module")
def segmentation(torch):
    """torchvision's DeepLabV3 (MobileNetV3 backbone, random weights) returning its ``out`` tensor, and one image."""
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    class Out(torch.nn.Module):  # until output= selection lands: the segmentation logits (N, 21, H, W)
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)["out"]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None)
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[16:40, 24:56] = True
    return Out(net).eval(), x, mask


def test_region_gradcam_equals_pytorch_grad_cam_semantic_segmentation_target(torch, segmentation):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    model, x, mask = segmentation
    layer = "model.backbone.16"  # the backbone's last block, 4x4 at 64x64
    native = xk.explain(model, x, method="gradcam", targets=Region(7, mask), layer=layer)
    assert native.target.startswith("Region(k=7, mask=<float32 array (64, 64)") and native.targets.tolist() == [-1]
    assert native.outputs.shape == (1, 21, 64, 64) and native.predictions.tolist() == [-1]
    cam = GradCAM(model=model, target_layers=[model.model.backbone["16"]])
    try:
        library = cam(input_tensor=torch.from_numpy(x),
                      targets=[SemanticSegmentationTarget(7, mask.astype(np.float32))])
    finally:
        cam.activations_and_grads.release()
    assert pearson(native.attributions, library) >= 0.99
    adapter = xk.explain(model, x, method="gradcam", backend="pytorch-grad-cam", targets=Region(7, mask), layer=layer)
    np.testing.assert_allclose(adapter.layer_attributions, native.layer_attributions, rtol=1e-4,
                               atol=1e-5 * np.abs(native.layer_attributions).max())
    rgb = native.overlay(x, image_range=(-4.0, 4.0))
    assert rgb.shape == (1, 64, 64, 3) and rgb.dtype == np.uint8
    with pytest.raises(InputError, match=r"returns \(N, 21, 64, 64\), not \(N, K\) class scores"):
        xk.explain(model, x, method="gradcam", layer=layer)


def test_deletion_on_a_region_score(segmentation):
    model, x, mask = segmentation
    maps = np.random.default_rng(0).uniform(size=(1, 64, 64))
    predict = target_predict(model, Region(7, mask))
    curve = deletion(predict, x.transpose(0, 2, 3, 1), maps, targets=0, steps=3, score="function", substrate=0.0)
    start = Region(7, mask)(xk.explain(model, x, method="gradcam", targets=Region(7, mask),
                                       layer="model.backbone.16").outputs)
    np.testing.assert_allclose(curve.curves[0, 0], start[0], rtol=1e-4)


def tiny_torch_net(torch):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return torch.nn.Sequential(OrderedDict(
            conv=torch.nn.Conv2d(3, 4, 3, padding=1), relu=torch.nn.ReLU(), flat=torch.nn.Flatten(),
            pred=torch.nn.Linear(4 * 6 * 8, 3), softmax=torch.nn.Softmax(dim=1))).eval()


def test_integrated_gradients_with_a_score_function_equals_captum_forward_wrapper(torch):
    from captum.attr import IntegratedGradients

    model = tiny_torch_net(torch)
    x = np.random.default_rng(2).uniform(size=(2, 3, 6, 8)).astype(np.float32)

    def log_odds(out):  # a user's score function: log p_1 - log p_2 of the softmax output
        return torch.log(out[:, 1]) - torch.log(out[:, 2])

    native = xk.explain(model, x, method="integrated_gradients", targets=log_odds, steps=16, integration="left")
    assert native.target == f"{__name__}.test_integrated_gradients_with_a_score_function_equals_captum_forward_" \
                            "wrapper.<locals>.log_odds"
    ig = IntegratedGradients(lambda images: log_odds(model(images)))
    library = ig.attribute(torch.from_numpy(x), baselines=0.0, n_steps=16, method="riemann_left").detach().numpy()
    assert pearson(native.attributions, library.sum(axis=1)) >= 0.999
    adapter = xk.explain(model, x, method="integrated_gradients", backend="captum", targets=log_odds, steps=16,
                         integration="riemann_left")
    np.testing.assert_allclose(adapter.attributions, library.sum(axis=1), rtol=1e-4, atol=1e-6)


def test_regression_and_multi_label_heads_have_the_analytic_gradients(torch, tmp_path):
    """On linear heads f(x) = W x + b the gradient of output i is W_i, of a sum of labels the sum of their rows."""
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        regression = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 2)).eval()
        multi_label = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 4)).eval()  # logits of 4 labels
    x = np.random.default_rng(0).uniform(size=(2, 3, 4, 5)).astype(np.float32)
    w = regression[1].weight.detach().numpy().reshape(2, 3, 4, 5)
    exp = xk.explain(regression, x, method="vanilla_gradients", targets=Regression(1))
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(w[1].sum(0), (2, 4, 5)), rtol=1e-5, atol=1e-6)
    w = multi_label[1].weight.detach().numpy().reshape(4, 3, 4, 5)
    exp = xk.explain(multi_label, x, method="vanilla_gradients", targets=MultiLabel([0, 3]))
    np.testing.assert_allclose(exp.attributions, np.broadcast_to((w[0] + w[3]).sum(0), (2, 4, 5)), rtol=1e-5,
                               atol=1e-6)
    assert exp.overlay(x).shape == (2, 4, 5, 3)
    cmp = xk.compare(multi_label, x, pairs=[("vanilla_gradients", "torch"), ("gradient_x_input", "torch")],
                     targets=MultiLabel([0, 3]))
    assert cmp.targets.tolist() == [-1, -1]
    np.testing.assert_array_equal(cmp.explanations["vanilla_gradients (torch)"].attributions, exp.attributions)
    loaded = xk.Explanation.load(exp.save(tmp_path / "multi.npz"))
    assert loaded.target == "MultiLabel(labels=[0, 3])" and loaded.score == "function"
    np.testing.assert_array_equal(loaded.attributions, exp.attributions)


def test_a_wrong_score_function_is_named_with_what_it_returned(torch):
    model = tiny_torch_net(torch)
    x = np.random.default_rng(2).uniform(size=(2, 3, 6, 8)).astype(np.float32)

    def explain(fn, method="vanilla_gradients", **params):
        return xk.explain(model, x, method=method, targets=fn, **params)

    with pytest.raises(InputError, match=r"returned shape \(2, 3\) for 2 image\(s\): more than one value per image"):
        explain(lambda out: out * 2)
    with pytest.raises(InputError, match=r"returned shape \(\) for 2 image\(s\): a single number"):
        explain(lambda out: out[:, 0].sum())
    with pytest.raises(InputError, match=r"returned shape \(3,\) for 2 image\(s\)"):
        explain(lambda out: out[0])
    with pytest.raises(InputError, match=r"returned torch.int64 values of shape \(2,\)"):
        explain(lambda out: out.argmax(dim=1))
    with pytest.raises(InputError, match="detached from the graph.*no gradient"):
        explain(lambda out: out[:, 0].detach())
    with pytest.raises(InputError, match="score='probability' chooses a class score"):
        explain(Regression(0), score="probability")
    assert explain(ClassScore(2)).targets.tolist() == [2, 2]  # a ClassScore is its class: score= applies


# --------------------------------------------------------------------------- Keras
@pytest.mark.tensorflow
def test_keras_score_functions_and_refusals(keras):
    import tensorflow as tf

    inputs = keras.Input((6, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(3, name="pred")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).uniform(size=(2, 6, 8, 3)).astype(np.float32)
    via_function = xk.explain(model, x, method="gradcam", targets=MultiLabel([0, 1]), layer="conv", relu=False)
    parts = [xk.explain(model, x, method="gradcam", targets=c, layer="conv", relu=False).layer_attributions
             for c in (0, 1)]
    np.testing.assert_allclose(via_function.layer_attributions, parts[0] + parts[1], rtol=1e-4, atol=1e-6)
    with pytest.raises(InputError, match=r"returned shape \(N, 3\) for N image\(s\): more than one value"):
        xk.explain(model, x, method="vanilla_gradients", targets=lambda out: out * 2)
    with pytest.raises(InputError, match="no gradient with respect to the model's output"):
        xk.explain(model, x, method="vanilla_gradients", targets=lambda out: tf.stop_gradient(out[:, 0]))
    if "tf-explain" in xk.list_backends():
        with pytest.raises(InputError, match=r"\(tf-explain\) cannot explain a score function"):
            xk.explain(model, x, method="vanilla_gradients", backend="tf-explain", targets=MultiLabel([0, 1]))


def test_cli_explains_a_segmentation_region(torch, tmp_path):
    import cv2
    from click.testing import CliRunner

    from xaikit.cli import main

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a tiny fully convolutional segmentation model: (N, 3, H, W) class scores per pixel
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 1))
    torch.save(net, tmp_path / "seg.pt")
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    mask = np.zeros((16, 16), np.uint8)
    mask[4:10, 6:12] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)

    def run(*args):
        return CliRunner().invoke(main, ["explain", "--model", str(tmp_path / "seg.pt"), "--unsafe", "-i",
                                         str(tmp_path / "img0.png"), "-i", str(tmp_path / "img1.png"),
                                         "--method", "vanilla_gradients", *map(str, args)])

    result = run("--target-mask", tmp_path / "mask.png", "--target-class", 2, "-o", tmp_path / "seg.png",
                 "--save-npz", tmp_path / "seg.npz")
    assert result.exit_code == 0, result.output
    assert "explained Region(k=2, mask=<float32 array (16, 16), sum 36" in result.output
    assert (tmp_path / "seg.png").stat().st_size > 0
    saved = xk.Explanation.load(tmp_path / "seg.npz")
    assert saved.target.startswith("Region(k=2") and saved.outputs.shape == (2, 3, 16, 16)
    refused = run("--target-class", 2)
    assert refused.exit_code != 0 and "give the mask too" in refused.output
    classless = run("-o", tmp_path / "none.png")
    assert classless.exit_code != 0 and "not (N, K) class scores" in classless.output


@pytest.mark.tensorflow
def test_region_is_one_target_for_a_keras_segmentation_model_and_its_torch_twin(keras, torch):
    """The same fully convolutional network in both frameworks (classes last in Keras, first in PyTorch): Region finds
    the class axis from the mask and gives the same maps."""
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, name="head")(h))
    twin = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 1)).eval()
    with torch.no_grad():
        for k_layer, t_layer in (("conv", twin[0]), ("head", twin[2])):
            kernel, bias = model.get_layer(k_layer).get_weights()
            t_layer.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            t_layer.bias.copy_(torch.from_numpy(bias))
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype(np.float32)
    mask = np.zeros((8, 8), bool)
    mask[2:6, 3:7] = True
    target = Region(1, mask)
    for method, keras_params, torch_params in (("gradcam", {"layer": "conv"}, {"layer": "1"}),
                                               ("vanilla_gradients", {}, {})):
        a = xk.explain(model, x, method=method, targets=target, **keras_params)
        b = xk.explain(twin, x.transpose(0, 3, 1, 2).copy(), method=method, targets=target, **torch_params)
        assert a.target == b.target and a.outputs.shape == (2, 8, 8, 3) and b.outputs.shape == (2, 3, 8, 8)
        np.testing.assert_allclose(b.attributions, a.attributions, rtol=1e-4,
                                   atol=1e-5 * np.abs(a.attributions).max())
    with pytest.raises(InputError, match=r"returns \(N, 8, 8, 3\), not \(N, K\) class scores"):
        xk.explain(model, x, method="gradcam", targets=1, layer="conv")


@pytest.mark.tensorflow
def test_bulk_explanation_refuses_a_score_function_by_name(keras, tmp_path):
    pytest.importorskip("zarr", minversion="3")
    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr

    pixels = np.asarray(zoo.load_data("shapes_cnn4", "test", n=2).images, np.float32) * np.float32(255)
    with pytest.raises(InputError, match="does not take a score function"):
        explain_to_zarr("zoo:shapes_cnn4", pixels, tmp_path / "m.zarr", method="gradcam", targets=MultiLabel([0, 1]))
    assert not (tmp_path / "m.zarr").exists()
