"""Default CAM layers on real architectures: a representative fast subset of torchvision and keras.applications.

Each model is built with random weights, explained once with Grad-CAM on one small random image, and must get a
default layer whose map has more than 1x1 locations and a map that is not constant. One model per family of head: a
plain pool-Linear head (ResNet), a classifier of Dropout/Linear (MobileNetV3, EfficientNet), a 1x1-convolution head
(SqueezeNet), 1x1 convolutions after the pool (Keras MobileNetV3Small, which picked its ``logits`` layer before).
LayerNorm2d after the pool (ConvNeXt), a channels-last stage with a permute back (Swin) and class-token
transformers (ViT) are in tests/test_layer_layouts.py, on the same torchvision classes built narrow. Every
torchvision and keras.applications architecture (convnext_tiny, swin_t, Keras ConvNeXtTiny...) is run by
``benchmarks/default_layers.py`` (the table in docs/default-layers.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xaikit as xk

TORCHVISION = {  # name: (constructor keywords, image size, expected default layer)
    "resnet18": ({}, 64, "layer4.1"),
    "mobilenet_v3_small": ({}, 64, "features.12.2"),
    "squeezenet1_1": ({}, 64, "classifier.2"),
    "efficientnet_b0": ({}, 64, "features.8.2"),
}
KERAS = {"MobileNetV3Small": 64}


def check(model, x, expected=None):
    with warnings.catch_warnings():
        warnings.simplefilter("error", xk.DegenerateMapWarning)
        exp = xk.explain(model, x, "gradcam")
    assert exp.layer_attributions.shape[1] * exp.layer_attributions.shape[2] > 1, exp.layer
    assert np.ptp(exp.attributions[0]) > 0, exp.layer
    if expected is not None:
        assert exp.layer == expected
    return exp


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_torchvision_default_layer_is_a_map_before_the_head(name):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    kwargs, size, expected = TORCHVISION[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
        if hasattr(model, "heads"):  # torchvision's ViT head starts at zero: every class would score its bias
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    x = np.random.default_rng(0).normal(size=(1, 3, size, size)).astype(np.float32)
    check(model, x, expected)


@pytest.mark.parametrize("name", list(KERAS))
def test_keras_default_layer_is_a_map_before_the_head(keras, name):
    keras.utils.set_random_seed(0)
    size = KERAS[name]
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(0, 255, size=(1, size, size, 3)).astype(np.float32)
    exp = check(model, x)
    info = xk.get_explainer(model, "gradcam")._describe(x).layer(exp.layer)
    assert info.kind != "dense" and exp.layer != "logits"
