"""Parity with the libraries that implement the new methods, on the same network built in both frameworks.

These run where PyTorch with pytorch-grad-cam (``grad-cam`` on PyPI) or Captum is installed and skip cleanly
elsewhere; the libraries' formulas are also written out in NumPy in ``test_methods_cam.py``, which always runs.
The network is a 1x1 convolution with ReLU, global average pooling and a dense layer: its layer is at the input's
resolution, so no upsampling convention enters the comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk

pytestmark = pytest.mark.tensorflow

SHAPE = (6, 8, 3)


def _weights(seed=0, channels=4, classes=3):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1, (3, channels)).astype(np.float32), rng.normal(0, 0.1, channels).astype(np.float32),
            rng.normal(0, 1, (channels, classes)).astype(np.float32), rng.normal(0, 0.1, classes).astype(np.float32))


def _keras_net(keras, wc, bc, wd, bd):
    inp = keras.Input(SHAPE)
    conv = keras.layers.Conv2D(wc.shape[1], 1, activation="relu", name="conv")
    dense = keras.layers.Dense(wd.shape[1], name="out")
    model = keras.Model(inp, dense(keras.layers.GlobalAveragePooling2D()(conv(inp))))
    conv.set_weights([wc.reshape(1, 1, *wc.shape), bc])
    dense.set_weights([wd, bd])
    return model


def _torch_net(torch, wc, bc, wd, bd):
    net = torch.nn.Sequential(torch.nn.Conv2d(wc.shape[0], wc.shape[1], 1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(*wd.shape))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(wc.T.copy()[:, :, None, None]))
        net[0].bias.copy_(torch.from_numpy(bc))
        net[4].weight.copy_(torch.from_numpy(wd.T.copy()))
        net[4].bias.copy_(torch.from_numpy(bd))
    return net.eval()


def _away_from_kinks(x, wc, bc):
    """The comparisons are exact only where no ReLU input is within rounding of 0 (there a gradient jumps: one
    framework's rounding would switch it off, the other's on); the fixed inputs are measured at >= 1e-3 from it."""
    margin = float(np.abs(x @ wc + bc).min())
    assert margin > 1e-4, f"an input of the test lies {margin:.1e} from a ReLU kink: choose other seeds"


def _scaled(maps):
    """pytorch-grad-cam's scale_cam_image: each map minus its minimum, over 1e-7 + its maximum."""
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    return maps / (1e-7 + maps.max(axis=(1, 2), keepdims=True))


@pytest.mark.parametrize("method, name", [("gradcam", "GradCAM"), ("xgradcam", "XGradCAM"), ("hirescam", "HiResCAM"),
                                          ("layercam", "LayerCAM"), ("scorecam", "ScoreCAM"),
                                          ("ablationcam", "AblationCAM"), ("eigencam", "EigenCAM")])
def test_cams_match_pytorch_grad_cam(keras, method, name):
    torch = pytest.importorskip("torch")
    grad_cam = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    weights = _weights(seed=3)
    model, net = _keras_net(keras, *weights), _torch_net(torch, *weights)
    x = np.random.default_rng(1).uniform(0, 1, (3, *SHAPE)).astype(np.float32)
    _away_from_kinks(x, *weights[:2])
    t = [0, 2, 1]
    cam = getattr(grad_cam, name)(model=net, target_layers=[net[1]])
    theirs = cam(input_tensor=torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                 targets=[ClassifierOutputTarget(k) for k in t])
    ours = xk.explain(model, x, method=method, layer="conv", targets=t)
    if method == "eigencam":  # pytorch-grad-cam keeps the SVD's sign: either orientation
        flipped = xk.explain(model, x, method=method, layer="conv", targets=t, relu=False).attributions
        candidates = [_scaled(ours.attributions), _scaled(np.maximum(-flipped, 0))]
        for i in range(len(x)):
            assert min(np.abs(c[i] - theirs[i]).max() for c in candidates) < 1e-4, i
        return
    np.testing.assert_allclose(_scaled(ours.attributions), theirs, atol=1e-4)


@pytest.mark.parametrize("method, name", [("guided_backprop", "GuidedBackprop"), ("deconvnet", "Deconvolution"),
                                          ("vanilla_gradients", "Saliency")])
def test_modified_backward_passes_match_captum(keras, method, name):
    torch = pytest.importorskip("torch")
    attr = pytest.importorskip("captum.attr")
    weights = _weights(seed=5)
    model, net = _keras_net(keras, *weights), _torch_net(torch, *weights)
    x = np.random.default_rng(2).normal(0, 1, (3, *SHAPE)).astype(np.float32)
    _away_from_kinks(x, *weights[:2])
    t = [1, 0, 2]
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_(True)
    extra = {"abs": False} if name == "Saliency" else {}
    theirs = getattr(attr, name)(net).attribute(xt, target=t, **extra).detach().numpy().transpose(0, 2, 3, 1)
    ours = xk.explain(model, x, method=method, targets=t)
    np.testing.assert_allclose(ours.channel_attributions, theirs, rtol=1e-4, atol=1e-6)
