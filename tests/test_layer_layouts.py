"""Layer layouts (:mod:`xaikit.layer_layout`): channels-first, channels-last and token layers read as maps by every
CAM method, natively and through pytorch-grad-cam (its ``reshape_transform``) and Captum; the default CAM layer;
and the refusals and warnings of issue 26 / issue 18 item 6.

Models are small: torchvision's Swin and ConvNeXt architectures built by their constructors with narrow stages
(the same modules, permutations and norms as swin_t and convnext_tiny, one block per stage), on one 64x64 image,
and a two-layer torchvision ``VisionTransformer`` (hidden width 32) whose head is re-initialised (torchvision
starts it at zero). The full swin_t, convnext_tiny and every other torchvision / keras.applications architecture
at their usual sizes are run by ``benchmarks/default_layers.py``, which writes docs/default-layers.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import InputError, LayerError, ModelError
from xaikit.layer_layout import LayerLayout, decide_layout, parse_layout, token_layout

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


def corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# --------------------------------------------------------------------------- the core's rules
def test_token_count_is_read_against_the_grids_seen():
    assert token_layout((197, 768), (224, 224), [(14, 14)]) == LayerLayout("tokens", (14, 14), 768, 1)
    assert token_layout((198, 768), (224, 224), [(14, 14)]).prefix == 2  # DeiT: class + distillation token
    assert token_layout((201, 384), (224, 224), [(14, 14)]).prefix == 5  # class + 4 registers
    assert token_layout((196, 64), (224, 224), []).grid == (14, 14)  # no class token, no other map: the aspect
    why = token_layout((17, 32), (32, 32), [])  # 16 + 1 or 9 + 8: no map of the model says which
    assert isinstance(why, str) and "4x4" in why and "3x3" in why
    assert token_layout((17, 32), (32, 32), [(4, 4)]).prefix == 1
    assert token_layout((7, 5), (32, 32), [(4, 4)]) is None
    # Hugging Face Swin: (T, C) tokens after patch merging, a grid the patch embedding's halved or quartered
    assert token_layout((64, 32), (64, 64), [(16, 16)]) == LayerLayout("tokens", (8, 8), 32, 0)
    assert token_layout((16, 64), (64, 64), [(16, 16)]).grid == (4, 4)
    assert token_layout((197, 768), (224, 224), [(14, 14)]).prefix == 1  # a grid seen still comes first
    assert token_layout((68, 32), (64, 64), [(16, 16)]) is None  # a merged grid is read without class tokens only


def test_three_d_shapes_without_structure_are_read_by_the_input_aspect():
    assert decide_layout((7, 7, 768), None, (224, 224)).kind == "channels_last"
    assert decide_layout((768, 7, 7), None, (224, 224)).kind == "channels_first"
    assert decide_layout((5, 7, 64), None, (160, 224)).grid == (5, 7)
    assert isinstance(decide_layout((8, 8, 8), None, (64, 64)), str)  # either way: undecided, never guessed
    assert decide_layout((8, 8, 8), "channels_last", (64, 64)).kind == "channels_last"


def test_maps_go_both_ways_and_dropped_tokens_cannot_go_back():
    a = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)  # 1 class token + 2x2 grid, 3 channels
    layout = LayerLayout("tokens", (2, 2), 3, 1)
    m = layout.to_map(a)
    assert m.shape == (2, 2, 2, 3) and np.array_equal(m[0, 0, 1], a[0, 2])  # row-major grid after the class token
    with pytest.raises(LayerError, match="token"):
        layout.from_map(m, "Ablation-CAM")
    first = LayerLayout("channels_first", (2, 2), 3)
    b = np.random.default_rng(0).normal(size=(2, 3, 2, 2))
    assert np.array_equal(first.from_map(first.to_map(b), "x"), b)
    assert parse_layout("tokens:2") == ("tokens", 2) and parse_layout("channels-last") == ("channels_last", None)
    with pytest.raises(InputError, match="layer_layout"):
        parse_layout("nhwc")


# --------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def swin():
    """swin_t's architecture (patches of 4, four stages, PatchMerging, a final norm and permute), narrow and shallow."""
    from torchvision.models import SwinTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                               window_size=[4, 4], num_classes=10).eval()


@pytest.fixture(scope="module")
def convnext():
    """convnext_tiny's architecture (CNBlocks with Permute/LayerNorm/Linear inside, LayerNorm2d head), narrow."""
    from torchvision.models import ConvNeXt
    from torchvision.models.convnext import CNBlockConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        stages = [CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1),
                  CNBlockConfig(64, None, 1)]
        return ConvNeXt(stages, layer_scale=0.5, num_classes=10).eval()


def tiny_vit(image_size=32, patch_size=8, head=True):
    from torchvision.models import VisionTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VisionTransformer(image_size=image_size, patch_size=patch_size, num_layers=2, num_heads=2,
                                  hidden_dim=32, mlp_dim=64, num_classes=10).eval()
        if head:  # torchvision initialises the head at zero: every class would score 0
            torch.nn.init.normal_(model.heads.head.weight, std=0.2)
    return model


@pytest.fixture(scope="module")
def vit():
    return tiny_vit()


@pytest.fixture(scope="module")
def image64():
    return np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def image32():
    return np.random.default_rng(1).normal(size=(2, 3, 32, 32)).astype(np.float32)


def library_gradcam(model, x, layer, transform, target):
    """pytorch-grad-cam's own GradCAM with a hand-written reshape_transform, as its tutorials write it."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = GradCAM(model=model, target_layers=[model.get_submodule(layer)], reshape_transform=transform)
    try:
        return cam(input_tensor=torch.from_numpy(x.copy()), targets=[ClassifierOutputTarget(int(target))])
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------- issue 26: stage outputs as maps
@pytest.mark.parametrize("name, layers, transform", [
    ("swin", ["features.1", "features.3", "features.5", "features.7", "norm"], lambda t: t.permute(0, 3, 1, 2)),
    ("convnext", ["features.1", "features.3", "features.5", "features.7"], None),
])
def test_every_stage_output_is_a_square_map_natively_and_through_pytorch_grad_cam(request, image64, name, layers,
                                                                                  transform):
    pytest.importorskip("pytorch_grad_cam")
    model = request.getfixturevalue(name)
    for i, layer in enumerate(layers):
        side = 64 // 4 // 2 ** min(i, 3)
        native = xk.explain(model, image64, "gradcam", layer=layer, targets=3)
        assert native.layer_attributions.shape == (1, side, side), layer
        adapter = xk.explain(model, image64, "gradcam", layer=layer, targets=3, backend="pytorch-grad-cam")
        assert corr(native.layer_attributions, adapter.layer_attributions) >= 0.99, layer
        assert native.params["layer_layout"] == ("channels_last" if name == "swin" else "channels_first")
    # the library itself, with the reshape_transform its users write, gives the same map (it min-max scales it)
    theirs = library_gradcam(model, image64, layers[-1], transform, 3)
    assert corr(native.attributions, theirs) >= 0.99


def test_default_layers_are_the_last_maps_before_the_head(swin, convnext, vit, image64, image32):
    assert xk.explain(convnext, image64, "gradcam").layer == "features.7.0"  # not classifier.0 (1x1)
    assert xk.explain(swin, image64, "gradcam").layer == "norm"  # not the permute back, not the pool
    exp = xk.explain(vit, image32, "gradcam")
    # the last token layer the class token still reads: its patch tokens reach the head through the attention
    assert exp.layer == "encoder.layers.encoder_layer_1.ln_1"
    assert exp.params["layer_layout"] == "tokens:1" and exp.params["layer_grid"] == [4, 4]
    assert exp.layer_attributions.shape == (2, 4, 4) and np.ptp(exp.attributions[0]) > 0


# --------------------------------------------------------------------------- issue 18 item 2: token layers
@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam"])
@pytest.mark.parametrize("layer", [None, "encoder.layers.encoder_layer_0"])
def test_token_layers_agree_with_pytorch_grad_cam(vit, image32, method, layer):
    pytest.importorskip("pytorch_grad_cam")
    native = xk.explain(vit, image32, method, layer=layer)
    adapter = xk.explain(vit, image32, method, layer=layer, backend="pytorch-grad-cam")
    assert native.layer_attributions.shape == (2, 4, 4) and adapter.params["layer_layout"] == "tokens:1"
    for ours, theirs in zip(native.layer_attributions, adapter.layer_attributions):
        assert corr(ours, theirs) >= 0.99


def test_score_cam_and_eigen_cam_on_token_layers_agree_with_pytorch_grad_cam():
    """Patches of one pixel: the layer's grid is the image's, where both libraries' upsampling is the identity."""
    pytest.importorskip("pytorch_grad_cam")
    model = tiny_vit(image_size=8, patch_size=1)
    x = np.random.default_rng(2).normal(size=(1, 3, 8, 8)).astype(np.float32)
    layer = "encoder.layers.encoder_layer_0"
    native = xk.explain(model, x, "scorecam", layer=layer, batch_size=64)
    adapter = xk.explain(model, x, "scorecam", layer=layer, batch_size=64, backend="pytorch-grad-cam")
    assert native.layer_attributions.shape == (1, 8, 8) and corr(native.layer_attributions,
                                                                  adapter.layer_attributions) >= 0.99
    native = xk.explain(model, x, "eigencam", layer=layer, relu=False)
    adapter = xk.explain(model, x, "eigencam", layer=layer, relu=False, backend="pytorch-grad-cam")
    assert abs(corr(native.layer_attributions, adapter.layer_attributions)) >= 0.99  # the library's sign is arbitrary


def test_score_cam_on_a_coarse_token_grid_differs_from_pytorch_grad_cam_only_by_its_mask_upsampling(vit, monkeypatch):
    """A 4x4 token grid upsampled 8x: the library's masks (align_corners=True) against the native half-pixel ones
    (the authors' code) are the whole difference, and compare(align=True) names it (docs/methods/scorecam.md)."""
    pytest.importorskip("pytorch_grad_cam")
    from xaikit.alignment import align_params
    from xaikit.methods import cam_free

    x = np.random.default_rng(3).random((1, 3, 32, 32), dtype=np.float32)
    adapter = xk.explain(vit, x, "scorecam", batch_size=64, backend="pytorch-grad-cam")

    def align_corners(maps, size):  # torch.nn.UpsamplingBilinear2d, the library's
        t = torch.from_numpy(np.ascontiguousarray(maps, np.float32))[:, None]
        return torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=True)[:, 0].numpy()

    monkeypatch.setattr(cam_free, "upsample_bilinear", align_corners)
    native = xk.explain(vit, x, "scorecam", batch_size=64, targets=adapter.targets)
    assert corr(native.layer_attributions, adapter.layer_attributions) >= 0.9999
    limits = align_params(vit, x, "scorecam", "pytorch-grad-cam").limits
    assert any("align_corners=True" in limit for limit in limits)


def test_captum_reads_token_and_channels_last_layers_as_maps(vit, swin, image32, image64):
    pytest.importorskip("captum")
    for model, x, layer in [(vit, image32, None), (swin, image64, "features.5")]:
        native = xk.explain(model, x, "gradcam", layer=layer, targets=1)
        captum = xk.explain(model, x, "gradcam", layer=layer, targets=1, backend="captum", relu=True)
        assert captum.layer_attributions.shape == native.layer_attributions.shape
        np.testing.assert_allclose(captum.layer_attributions, native.layer_attributions, rtol=1e-4,
                                   atol=1e-5 * np.abs(native.layer_attributions).max())


def test_layer_layout_overrides_and_is_checked(vit, image32):
    layer = "encoder.layers.encoder_layer_0"
    given = xk.explain(vit, image32, "gradcam", layer=layer, layer_layout="tokens:1")
    decided = xk.explain(vit, image32, "gradcam", layer=layer)
    np.testing.assert_array_equal(given.layer_attributions, decided.layer_attributions)
    with pytest.raises(LayerError, match="layer_layout"):
        xk.explain(vit, image32, "gradcam", layer=layer, layer_layout="channels_last")  # (17, 32) is not 3-D
    with pytest.raises(LayerError, match="tokens:K"):
        xk.explain(vit, image32, "gradcam", layer=layer, layer_layout="tokens:0")  # 17 tokens form no grid
    with pytest.raises(LayerError, match="class/distillation/register"):
        xk.explain(vit, image32, "ablationcam", layer=layer)  # the class token cannot be rebuilt from a map


def test_an_undecided_layout_asks_instead_of_guessing():
    class ChannelsLast(torch.nn.Module):  # no structure to read: (8, 8, 8) is (C, h, w) or (h, w, C)
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.to_last = ChannelsLast()
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.to_last(self.conv(x)).mean(dim=(1, 2)))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Net().eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 8, 8)).astype(np.float32)
    with pytest.raises(LayerError, match="layer_layout="):
        xk.explain(model, x, "gradcam", layer="to_last")
    given = xk.explain(model, x, "gradcam", layer="to_last", layer_layout="channels_last", targets=0)
    conv = xk.explain(model, x, "gradcam", layer="conv", targets=0)
    np.testing.assert_allclose(given.layer_attributions, conv.layer_attributions, rtol=1e-5, atol=1e-7)


def test_a_module_called_without_the_image_is_not_a_map():
    class Table(torch.nn.Module):  # Hugging Face Swin's relative position bias: forward() reads parameters only
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Parameter(torch.ones(1, 2, 8, 8))

        def forward(self):
            return self.table * 1.0

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bias = Table()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc((self.conv(x) + self.bias().mean()).mean(dim=(2, 3)))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Net().eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 8, 8)).astype(np.float32)
    assert xk.explain(model, x, "gradcam").layer == "conv"  # not "bias", the last (1, 2, 8, 8) output
    with pytest.raises(LayerError, match="not a spatial map"):
        xk.explain(model, x, "gradcam", layer="bias")


# --------------------------------------------------------------------------- issue 26: the other bullets
def test_guided_backprop_refuses_a_network_without_relu(convnext, image64):
    with pytest.raises(ModelError, match="vanilla_gradients"):
        xk.explain(convnext, image64, "guided_backprop")
    with pytest.raises(ModelError, match="GELU"):
        xk.explain(convnext, image64, "deconvnet")


def test_spatial_activations_select_only_usable_layers(swin, image64):
    extractor = xk.get_extractor(swin, layers="spatial")
    layers = extractor.layers_for(image64)
    spec = xk.get_explainer(swin, "gradcam")._describe(image64)
    assert layers and all(spec.layer(n).calls == 1 for n in layers)
    assert not any(n.endswith("stochastic_depth") for n in layers)  # runs twice per block
    acts = xk.activations(swin, image64, layers=[n for n in layers if n.startswith("features.7")])
    assert acts  # no LayerError


def test_a_torch_model_given_flat_rows_is_told_the_torch_layout(convnext):
    with pytest.raises(InputError, match=r"\(N, 3, 32, 32\) \(channels first\)"):
        xk.explain(convnext, np.zeros((2, 3072), np.float32), "gradcam")


def test_not_a_map_error_lists_the_stage_outputs_and_how_to_list_all(swin, image64):
    with pytest.raises(LayerError) as info:
        xk.explain(swin, image64, "gradcam", layer="head")
    message = str(info.value)
    assert "features.1.0 (16x16)" in message and "norm (2x2)" in message and "layers_for" in message
    assert "features.1.0.attn" not in message  # not every spatial layer


def test_integrated_gradients_names_the_baseline_when_it_is_the_cause():
    class NormThenLinear(torch.nn.Module):  # sqrt(sum x^2): finite at 0, its gradient is not
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(12, 2)

        def forward(self, x):
            flat = x.flatten(1)
            return self.fc(flat) + torch.sqrt((flat ** 2).sum(dim=1, keepdim=True))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = NormThenLinear().eval()
    x = np.random.default_rng(0).normal(size=(1, 3, 2, 2)).astype(np.float32)
    with pytest.raises(ModelError, match="baseline=0.0"):
        xk.explain(model, x, "integrated_gradients", steps=4)
    assert np.isfinite(xk.explain(model, x, "integrated_gradients", steps=4, baseline=0.1).attributions).all()


# --------------------------------------------------------------------------- issue 18 item 6
def test_a_constant_map_for_every_image_warns_with_its_likely_causes(image32):
    model = tiny_vit(head=False)  # torchvision's zero-initialised head: every score is its bias
    with pytest.warns(xk.DegenerateMapWarning, match="zero-initialised"):
        xk.explain(model, image32, "gradcam", layer="encoder.layers.encoder_layer_1.ln_1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", xk.DegenerateMapWarning)
        xk.explain(tiny_vit(), image32, "gradcam")


# --------------------------------------------------------------------------- Keras: the same rules
def test_keras_token_layers_are_maps_too(keras):
    """A patch embedding, a reshape to (16, C) tokens, a Dense on the tokens: the tokens are the 4x4 grid."""
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 4, strides=4, name="patches")(inputs)
    x = layers.Reshape((16, 8), name="tokens")(x)
    x = layers.Dense(8, activation="gelu", name="mlp")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(inputs, layers.Dense(3, name="head")(x))
    images = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    exp = xk.explain(model, images, "gradcam", targets=1)
    assert exp.layer == "mlp" and exp.params["layer_layout"] == "tokens:0"
    assert exp.layer_attributions.shape == (2, 4, 4)
    # the tokens are the patches' map reshaped: Grad-CAM at "tokens" equals Grad-CAM at "patches"
    tokens = xk.explain(model, images, "gradcam", layer="tokens", targets=1)
    patches = xk.explain(model, images, "gradcam", layer="patches", targets=1)
    np.testing.assert_allclose(tokens.layer_attributions, patches.layer_attributions, rtol=1e-5, atol=1e-7)
