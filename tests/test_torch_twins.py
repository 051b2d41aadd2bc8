"""The same network in two frameworks: the zoo's Keras models and their PyTorch twins give the same maps.

The twins compute the same function with the same weights, so every method must give
the same maps on both backends, up to float32 rounding (the convolutions sum in another
order). Random methods draw the same noise and references on both: the streams are
keyed and drawn channels-last (:mod:`xaikit.kernels.rng`).
"""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import FileFormatError, UnknownNameError
from xaikit.spec import default_cam_layer

pytestmark = pytest.mark.tensorflow
pytest.importorskip("torch")

#: Methods evaluated at the images themselves (or occluded copies): float32 rounding only.
EXACT = ("occlusion", "gradcam", "gradcam++", "vanilla_gradients", "gradient_x_input")


@pytest.fixture(scope="module")
def pair(keras, torch):
    """name -> (Keras model, PyTorch twin, images NHWC, background NHWC)."""
    from xaikit_tensorflow import zoo as keras_zoo
    from xaikit_torch import zoo as torch_zoo

    cache = {}

    def get(name):
        if name not in cache:
            data = keras_zoo.load_data(name, n=10).images
            cache[name] = (keras_zoo.load_model(name), torch_zoo.load_twin(name), data[:3], data[3:])
        return cache[name]

    return get


def nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def pearson(a, b):
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


@pytest.mark.parametrize("name", ["shapes_cnn4", "shapes_binary", "digits_bn"])
def test_twin_predicts_what_the_keras_model_predicts(pair, torch, name):
    from xaikit_tensorflow import zoo as keras_zoo

    keras_model, twin, _, _ = pair(name)
    images = keras_zoo.load_data(name, n=32).images
    expected = np.asarray(keras_model(images, training=False))
    with torch.no_grad():
        got = twin(torch.from_numpy(nchw(images))).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert list(twin._modules) == [layer.name for layer in keras_model.layers if layer.name != "input_layer"]
    from xaikit_tensorflow.engine import engine_for as keras_engine
    from xaikit_torch.engine import engine_for as torch_engine

    keras_spec = keras_engine(keras_model).describe(images.shape[1:])
    torch_spec = torch_engine(twin).describe(nchw(images).shape[1:])
    assert torch_spec.output_activation == keras_spec.output_activation and torch_spec.n_classes == keras_spec.n_classes
    assert default_cam_layer(torch_spec, "gradcam") == default_cam_layer(keras_spec, "gradcam")


CASES = [
    ("shapes_cnn4", "occlusion", {"patch_size": 16, "stride": 8}),
    ("shapes_cnn4", "gradcam", {}),
    ("shapes_cnn4", "gradcam++", {"layer": "conv2d_2"}),
    ("shapes_cnn4", "vanilla_gradients", {}),
    ("shapes_cnn4", "gradient_x_input", {}),
    ("shapes_cnn4", "smoothgrad", {"n_samples": 8, "seed": 3}),
    ("shapes_cnn4", "integrated_gradients", {"steps": 16}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4, "local_smoothing": 0.1}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4, "layer": "max_pooling2d_1"}),
    ("shapes_binary", "gradcam", {}),
    ("shapes_binary", "smoothgrad", {"n_samples": 8, "seed": 3, "score": "probability"}),
    ("shapes_binary", "expected_gradients", {"n_samples": 16, "seed": 4, "targets": 0}),
    ("digits_bn", "gradcam", {}),
    ("digits_bn", "integrated_gradients", {"steps": 16}),
    ("digits_bn", "expected_gradients", {"n_samples": 16, "seed": 4, "layer": "max_pooling2d"}),
]


@pytest.mark.parametrize("name,method,params", CASES, ids=[f"{n}-{m}-{'-'.join(p)}" for n, m, p in CASES])
def test_same_maps_in_both_frameworks(pair, name, method, params):
    keras_model, twin, images, background = pair(name)
    params = dict(params)
    targets = params.pop("targets", None)
    keras_params, torch_params = dict(params), dict(params)
    if method == "expected_gradients":
        keras_params["background"], torch_params["background"] = background, nchw(background)
    a = xk.explain(keras_model, images, method=method, targets=targets, **keras_params)
    b = xk.explain(twin, nchw(images), method=method, targets=targets, **torch_params)
    assert a.backend == "tensorflow" and b.backend == "torch"
    assert a.layer == b.layer and a.score == b.score and a.targets.tolist() == b.targets.tolist()
    np.testing.assert_allclose(b.outputs, a.outputs, rtol=0, atol=1e-5)
    assert pearson(a.attributions, b.attributions).min() >= 0.999
    scale = np.abs(a.attributions).reshape(len(images), -1).max(1)
    relative = np.abs(a.attributions - b.attributions).reshape(len(images), -1).max(1) / scale
    # measured: <= 1.6e-6 for every case but expected gradients at the input of shapes_cnn4 (4e-3, a max-pooling tie
    # on an interpolated point resolved differently after float32 rounding sends one sample's gradient elsewhere)
    assert relative.max() <= (1e-4 if method in EXACT else 1e-2)
    if b.layer_attributions is not None:
        np.testing.assert_allclose(b.layer_attributions, a.layer_attributions, rtol=1e-3,
                                   atol=1e-4 * np.abs(a.layer_attributions).max())


def test_activations_are_the_same_tensors(pair):
    keras_model, twin, images, _ = pair("digits_bn")
    a = xk.activations(keras_model, images, layers=["conv2d", "max_pooling2d_1"])
    b = xk.activations(twin, nchw(images), layers=["conv2d", "max_pooling2d_1"])
    for layer in ("conv2d", "max_pooling2d_1"):
        np.testing.assert_allclose(b[layer].transpose(0, 2, 3, 1), a[layer], rtol=1e-4, atol=1e-5)


def test_load_twin_errors_and_global_rng(torch, tmp_path):
    from xaikit_torch.zoo import load_twin

    state = torch.random.get_rng_state().clone()
    load_twin("digits_bn")
    assert torch.equal(torch.random.get_rng_state(), state)  # the builders' initial values come from a forked RNG
    with pytest.raises(UnknownNameError, match="shapes_cnn4"):
        load_twin("vgg16")
    (tmp_path / "digits_bn.keras").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(FileFormatError, match="digits_bn.keras"):
        load_twin("digits_bn", directory=tmp_path)
