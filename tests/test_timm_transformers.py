"""timm and Hugging Face ``transformers`` image classifiers (small configs, random weights, no downloads) through the
native torch backend and the Captum and pytorch-grad-cam adapters.

``test_native_and_both_adapters`` names its CAM layer: a convolution stage, or the transformers' patch embedding (a
channels-first map in every model). ``test_default_cam_layer_through_both_adapters`` uses the transformers' default
CAM layer, a token layer read as a map (issue 18 item 2: ``layer_layout`` ``tokens:1``,
``tokens:2`` for DeiT's distillation token, Swin's ``(N, h, w, C)`` or Hugging Face's ``(N, T, C)`` tokens),
passed to pytorch-grad-cam as the equivalent ``reshape_transform`` and to Captum as a grid module. The token-layer
rules themselves are tested on torchvision's ViT and Swin in tests/test_layer_layouts.py; the default layer of every
architecture is listed in docs/architectures.md (``python docs/architectures.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")

X = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
TINY_VIT = {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}
HF_VIT = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
          "intermediate_size": 64, "num_labels": 5}


def _timm(name, **kw):
    return lambda: timm.create_model(name, pretrained=False, num_classes=5, **kw)


def _hf(model, config, **kw):
    return lambda: getattr(transformers, model)(getattr(transformers, config)(**kw))


#: id -> (builder, CAM layer that is a map today, has attention the attention methods read)
MODELS = {
    "timm-resnet18": (_timm("resnet18"), "layer3", False),
    "timm-convnext_atto": (_timm("convnext_atto"), "stages.2", False),
    "timm-efficientnet_b0": (_timm("efficientnet_b0"), "blocks.2", False),
    "timm-vit": (_timm("vit_tiny_patch16_224", **TINY_VIT), "patch_embed.proj", True),
    "timm-deit": (_timm("deit_tiny_distilled_patch16_224", **TINY_VIT), "patch_embed.proj", True),
    "timm-swin": (_timm("swin_tiny_patch4_window7_224", img_size=32, window_size=4, embed_dim=16, depths=(1, 1),
                        num_heads=(2, 2)), "patch_embed.proj", False),
    "hf-vit": (_hf("ViTForImageClassification", "ViTConfig", **HF_VIT), "vit.embeddings.patch_embeddings.projection",
               True),
    "hf-deit": (_hf("DeiTForImageClassificationWithTeacher", "DeiTConfig", **HF_VIT),
                "deit.embeddings.patch_embeddings.projection", True),
    "hf-swin": (_hf("SwinForImageClassification", "SwinConfig", image_size=32, patch_size=4, embed_dim=16,
                    depths=[1, 1], num_heads=[2, 2], window_size=4, num_labels=5),
                "swin.embeddings.patch_embeddings.projection", False),
    "hf-convnext": (_hf("ConvNextForImageClassification", "ConvNextConfig", hidden_sizes=[16, 32], depths=[1, 1],
                        num_stages=2, num_labels=5), "convnext.encoder.stages.1", False),
    "hf-resnet": (_hf("ResNetForImageClassification", "ResNetConfig", embedding_size=16, hidden_sizes=[16, 32],
                      depths=[1, 1], num_labels=5), "resnet.encoder.stages.1", False),
}


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    build, layer, attention = MODELS[request.param]
    torch.manual_seed(0)
    return build().eval(), layer, attention


def _r(a, b):
    a, b = a.ravel(), b.ravel()
    assert a.std() > 0 and b.std() > 0, "a constant map"
    return float(np.corrcoef(a, b)[0, 1])


def test_default_cam_layer_through_both_adapters(case, request):
    if not request.node.callspec.params["case"].endswith(("vit", "deit", "swin")):
        pytest.skip("a convolution stage: test_native_and_both_adapters")
    model = case[0]
    native = xk.explain(model, X, "gradcam")
    assert native.layer_attributions.shape[1] * native.layer_attributions.shape[2] > 1
    for backend, kw in (("pytorch-grad-cam", {}), ("captum", {"relu": True})):
        other = xk.explain(model, X, "gradcam", backend=backend, **kw)
        assert other.layer == native.layer and _r(other.attributions, native.attributions) > 0.99, backend


def test_native_and_both_adapters(case):
    model, layer, attention = case
    native = xk.explain(model, X, "gradcam", layer=layer)
    assert native.attributions.shape == (1, 32, 32) and native.layer == layer and native.outputs.shape == (1, 5)
    assert _r(xk.explain(model, X, "gradcam", layer=layer, backend="pytorch-grad-cam").attributions,
              native.attributions) > 0.99
    captum = xk.explain(model, X, "gradcam", layer=layer, backend="captum", relu=True)
    assert _r(captum.attributions, native.attributions) > 0.99
    grads = xk.explain(model, X, "vanilla_gradients")
    np.testing.assert_allclose(xk.explain(model, X, "vanilla_gradients", backend="captum", abs=False).attributions,
                               grads.attributions, rtol=1e-4, atol=1e-6)
    if attention:
        assert xk.explain(model, X, "attention_rollout").layer_attributions.shape == (1, 4, 4)
    expected_output = "logits" if type(model).__module__.startswith("transformers") else None
    assert native.params.get("output") == expected_output
