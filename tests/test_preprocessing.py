"""xaikit.preprocessing: forward transforms, their inverses, and Keras' own preprocess_input."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
import xaikit.viz as xv
from xaikit.preprocessing import SCHEMES, get_scheme, preprocess, unpreprocess


def _pixels(channels=3, n=2, h=5, w=7):
    return np.random.default_rng(channels).uniform(0, 255, (n, h, w, channels)).astype(np.float32)


@pytest.mark.parametrize("name", list(SCHEMES))
def test_forward_then_inverse_is_identity(name):
    x = _pixels()
    y = preprocess(x, name)
    assert y.dtype == np.float32 and y.shape == x.shape and y is not x
    np.testing.assert_allclose(unpreprocess(y, name), x, atol=1e-3)
    np.testing.assert_array_equal(x, _pixels())  # the input is never modified


@pytest.mark.parametrize("name", ["none", "scale255", "tf"])
def test_grayscale_schemes(name):
    x = _pixels(channels=1)
    np.testing.assert_allclose(unpreprocess(preprocess(x, name), name), x, atol=1e-3)


@pytest.mark.parametrize("name", ["caffe", "torch"])
def test_rgb_schemes_refuse_grayscale(name):
    with pytest.raises(xk.InputError, match="RGB"):
        preprocess(_pixels(channels=1), name)


def test_known_values():
    x = np.full((1, 1, 1, 3), [255.0, 0.0, 127.5], np.float32)  # R, G, B
    np.testing.assert_allclose(preprocess(x, "caffe")[0, 0, 0], [127.5 - 103.939, -116.779, 255 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(preprocess(x, "tf")[0, 0, 0], [1.0, -1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(preprocess(x, "scale255")[0, 0, 0], [1.0, 0.0, 0.5], atol=1e-6)
    torch = (np.array([1.0, 0.0, 0.5]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(preprocess(x, "torch")[0, 0, 0], torch, rtol=1e-5)


def test_unknown_scheme_lists_the_choices_without_importing_keras():
    import subprocess
    import sys

    code = ("import sys\nfrom xaikit.preprocessing import get_scheme\nfrom xaikit.errors import UnknownNameError\n"
            "try:\n    get_scheme('cafe')\nexcept UnknownNameError as e:\n    assert \"'caffe'\" in str(e), e\n"
            "else:\n    raise SystemExit('no error')\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(xk.UnknownNameError, match="vgg16"):
        get_scheme("bogus scheme")


# --------------------------------------------------------------------------- Keras' own
@pytest.fixture(scope="module")
def apps():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    return keras.applications


def test_caffe_matches_keras_vgg16(apps):
    x = _pixels()
    np.testing.assert_allclose(preprocess(x, "caffe"), apps.vgg16.preprocess_input(x.copy()), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("family, base", [("vgg16", "caffe"), ("resnet50", "caffe"), ("xception", "tf"),
                                          ("mobilenet_v2", "tf"), ("densenet", "torch"), ("efficientnet", "none")])
def test_keras_families(apps, family, base):
    scheme = get_scheme(family)
    assert scheme.base == base and family in scheme.description
    x = _pixels()
    y = scheme.forward(x)
    np.testing.assert_array_equal(x, _pixels())  # keras modifies float arrays in place; xaikit passes a copy
    np.testing.assert_allclose(y, getattr(apps, family).preprocess_input(x.copy()), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(scheme.inverse(y), x, atol=1e-3)


def test_overlay_undoes_a_keras_family(apps):
    x = _pixels(n=1, h=8, w=12)
    shown = xv.to_display_rgb(preprocess(x, "vgg16"), undo="vgg16")
    np.testing.assert_allclose(shown * 255, x, atol=1e-2)
    with pytest.raises(xk.InputError, match="not preprocessed this way"):
        xv.to_display_rgb(preprocess(x, "vgg16"), undo="xception")
