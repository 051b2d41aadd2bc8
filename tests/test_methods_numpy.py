"""The core's methods on the NumPy analytic engine (:mod:`numpy_engine`): closed forms, no framework.

A linear model ``z = flatten(x) W + b`` and a 1x1-convolution + ReLU + global-average-pooling
net have hand-computable gradients, layer maps and head scores, so every method written on the
engine primitives is checked against its formula without TensorFlow or PyTorch
(``test_these_tests_import_no_framework`` runs this module in a fresh process to hold that).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy_engine import bind, explain, gap_net, linear_net

from xaikit.errors import InputError, ModelError
from xaikit.imaging import resize_maps
from xaikit.kernels import grid_segments, jansen_total_indices, principal_projection, sobol_designs, sobol_rows

SHAPE = (4, 6, 2)  # the linear model's images: non-square, two channels
CAM_SHAPE = (6, 8, 3)  # the GAP net's
HW = CAM_SHAPE[0] * CAM_SHAPE[1]


def _images(shape, n=2, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


def _linear():
    """``(model, x, w_img, f)``: ``w_img[c]`` is the gradient of class ``c`` as an image, ``f(images, c)`` its logit."""
    model = linear_net(SHAPE, classes=3, seed=3)
    w_img = model.weights.T.reshape(3, *SHAPE)

    def f(images, c):
        return images.reshape(len(images), -1) @ model.weights[:, c] + model.bias[c]

    return model, _images(SHAPE), w_img, f


#: Module-level rather than a fixture: :func:`test_these_tests_import_no_framework` calls the tests without pytest.
LINEAR = _linear()


# ----------------------------------------------------------------------------- gradients on a linear model
def test_vanilla_gradients_are_the_weights():
    model, x, w_img, _ = LINEAR
    exp = explain(model, x, "vanilla_gradients", targets=[0, 2])
    np.testing.assert_allclose(exp.channel_attributions, w_img[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(exp.attributions[1], w_img[2].sum(-1), rtol=1e-5, atol=1e-6)
    assert exp.score == "logit" and exp.backend == "numpy"
    peak = explain(model, x, "vanilla_gradients", targets=1, channel_reduce="max_abs")
    np.testing.assert_allclose(peak.attributions[0], np.abs(w_img[1]).max(-1), rtol=1e-6)


def test_the_predicted_class_is_explained_by_default():
    model, x, w_img, f = LINEAR
    exp = explain(model, x, "vanilla_gradients")
    predicted = np.stack([f(x, c) for c in range(3)], 1).argmax(1)
    assert exp.targets.tolist() == exp.predictions.tolist() == predicted.tolist()
    np.testing.assert_allclose(exp.channel_attributions, w_img[predicted], rtol=1e-6)


def test_gradient_x_input():
    model, x, w_img, _ = LINEAR
    exp = explain(model, x, "gradient_x_input", targets=1)
    np.testing.assert_allclose(exp.channel_attributions, x * w_img[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("integration", ["trapezoid", "left", "right", "midpoint"])
def test_integrated_gradients_of_a_linear_model_are_exact_and_complete(integration):
    model, x, w_img, f = LINEAR
    baseline = np.full(SHAPE, 0.25, np.float32)
    exp = explain(model, x, "integrated_gradients", targets=2, steps=7, baseline=baseline, integration=integration,
                  batch_size=5)
    np.testing.assert_allclose(exp.channel_attributions, (x - baseline) * w_img[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.attributions.reshape(2, -1).sum(1), f(x, 2) - f(baseline[None], 2), rtol=1e-5)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0, atol=1e-5)


def test_expected_gradients_with_one_reference_are_exact():
    model, x, w_img, _ = LINEAR
    reference = _images(SHAPE, 1, seed=5)[0]
    exp = explain(model, x, "expected_gradients", targets=0, background=np.repeat(reference[None], 3, axis=0),
                  n_samples=9, seed=0)
    np.testing.assert_allclose(exp.channel_attributions, (x - reference) * w_img[0], rtol=1e-5, atol=1e-6)


def test_smoothgrad_of_a_linear_model_is_its_gradient():
    model, x, w_img, _ = LINEAR
    exp = explain(model, x, "smoothgrad", targets=[1, 0], n_samples=6, noise=0.5, seed=2)
    np.testing.assert_allclose(exp.channel_attributions, w_img[[1, 0]], rtol=1e-5)


def test_vargrad_of_a_linear_model_is_zero_and_squaregrad_the_squared_weights():
    model, x, w_img, _ = LINEAR
    var = explain(model, x, "vargrad", targets=[2, 1], n_samples=5, noise=0.3, seed=0)
    square = explain(model, x, "squaregrad", targets=[2, 1], n_samples=5, noise=0.3, seed=0)
    np.testing.assert_allclose(var.channel_attributions, 0.0, atol=1e-6 * float((w_img ** 2).max()))
    np.testing.assert_allclose(square.channel_attributions, w_img[[2, 1]] ** 2, rtol=1e-5)


def test_probability_gradients_of_a_softmax_model():
    model = linear_net(SHAPE, classes=3, seed=5, activation="softmax")
    x = _images(SHAPE, 1)
    z = x.reshape(1, -1).astype(np.float64) @ model.weights + model.bias
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    logit = explain(model, x, "vanilla_gradients", targets=1)
    assert logit.score == "logit"
    np.testing.assert_allclose(logit.channel_attributions[0].ravel(), model.weights[:, 1], rtol=1e-6)
    prob = explain(model, x, "vanilla_gradients", targets=1, score="probability")
    expected = p[0, 1] * (model.weights[:, 1] - model.weights @ p[0])  # d softmax_1 / dx
    np.testing.assert_allclose(prob.channel_attributions[0].ravel(), expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(prob.outputs, p, rtol=1e-5)


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_modified_backward_passes_refuse_a_model_without_relu(method):
    model, x, _, _ = LINEAR
    with pytest.raises(ModelError, match="vanilla_gradients"):
        explain(model, x, method)


# ----------------------------------------------------------------------------- perturbations on a linear model
def test_occlusion_of_a_linear_model_is_the_patch_share_of_w_dot_x():
    model, x, w_img, _ = LINEAR
    exp = explain(model, x, "occlusion", targets=2, patch_size=2, baseline=0.1)
    contribution = ((x - 0.1) * w_img[2]).sum(-1)  # per-pixel share of w.(x - baseline)
    expected = np.zeros_like(contribution)
    for top in range(0, 4, 2):
        for left in range(0, 6, 2):
            block = contribution[:, top:top + 2, left:left + 2]
            expected[:, top:top + 2, left:left + 2] = block.sum(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-5, atol=1e-6)


def test_occlusion_overlapping_windows_average():
    model, x, w_img, _ = LINEAR
    exp = explain(model, x[:1], "occlusion", targets=0, patch_size=(2, 3), stride=1, baseline=0.0)
    contribution = (x[0] * w_img[0]).sum(-1)
    total, count = np.zeros((4, 6)), np.zeros((4, 6))
    for top in range(3):
        for left in range(4):
            total[top:top + 2, left:left + 3] += contribution[top:top + 2, left:left + 3].sum()
            count[top:top + 2, left:left + 3] += 1
    np.testing.assert_allclose(exp.attributions[0], total / count, rtol=1e-5, atol=1e-6)
    assert exp.params["n_windows"] == 12


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_surrogates_of_a_linear_model_are_each_segments_contribution(method):
    """KernelSHAP and LIME without ridge: each grid cell gets sum over its pixels of w (x - baseline)."""
    model, x, w_img, _ = LINEAR
    extra = {"ridge_alpha": 0.0} if method == "lime" else {}
    exp = explain(model, x, method, targets=[2, 1], segmentation="grid", n_segments=6, n_samples=40, baseline=0.25,
                  seed=0, **extra)
    labels = grid_segments(SHAPE[:2], (2, 3))
    for i, t in enumerate((2, 1)):
        contribution = ((x[i] - 0.25) * w_img[t]).sum(-1)
        cells = np.bincount(labels.ravel(), weights=contribution.ravel(), minlength=6)
        np.testing.assert_allclose(exp.attributions[i], cells[labels], rtol=1e-4, atol=1e-5, err_msg=method)


@pytest.mark.filterwarnings("ignore:.*returned a constant map")  # constant by design
def test_rise_keeping_every_pixel_gives_the_score_everywhere():
    model, x, _, f = LINEAR
    exp = explain(model, x, "rise", targets=[2, 1], n_samples=4, grid_size=2, p_keep=1.0, seed=0)
    expected = np.array([f(x[:1], 2)[0], f(x[1:], 1)[0]])[:, None, None]
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(expected, exp.attributions.shape), rtol=1e-5)


def test_sobol_is_jansens_estimator_of_the_additive_model():
    """f(M) = f(b) + sum_i c_i M_i on the grid's cells: the estimator on the same designs, which sum to about 1."""
    model, x, w_img, _ = LINEAR
    exp = explain(model, x[:1], "sobol", targets=1, grid_size=2, n_designs=16, baseline=0.1)
    cells = ((x[0] - 0.1) * w_img[1]).sum(-1).reshape(2, 2, 2, 3).sum(axis=(1, 3)).ravel()  # the 2x2 grid's cells
    a, b = sobol_designs(4, 16)
    expected = jansen_total_indices(sobol_rows(a, b, np.arange(16 * 5)) @ cells, 16)
    np.testing.assert_allclose(exp.layer_attributions[0].ravel(), expected, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------- the GAP net: CAMs and layers
def _acts(model, x):
    return model.conv(x)[1]  # relu(x @ wc + bc), (N, H, W, C)


def test_gradcam_is_the_hand_computed_map():
    """dS_t/dA_k = wd[k, t] / (h w) everywhere: Grad-CAM = relu(sum_k wd[k, t] A_k) / (h w)."""
    model = gap_net(CAM_SHAPE, channels=4, seed=0)
    x = _images(CAM_SHAPE, 3)
    acts = _acts(model, x)
    for t in range(3):
        exp = explain(model, x, "gradcam", layer="conv", targets=t)
        linear_map = (acts @ model.weights[:, t]) / HW
        np.testing.assert_allclose(exp.layer_attributions, np.maximum(linear_map, 0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(exp.attributions, resize_maps(np.maximum(linear_map, 0), CAM_SHAPE[:2]),
                                   rtol=1e-5, atol=1e-7)
        signed = explain(model, x, "gradcam", layer="conv", targets=t, relu=False)
        np.testing.assert_allclose(signed.layer_attributions, linear_map, rtol=1e-5, atol=1e-7)
    assert explain(model, x, "gradcam").layer == "conv"  # the default layer: the last map before the head


def test_gradcam_plus_plus_matches_its_closed_form():
    model = gap_net(CAM_SHAPE, channels=4, seed=1)
    x = _images(CAM_SHAPE, 2, seed=2)
    acts, t = _acts(model, x), 1
    g = np.broadcast_to(model.weights[:, t] / HW, acts.shape)
    denominator = 2 * g ** 2 + acts.sum(axis=(1, 2), keepdims=True) * g ** 3
    alpha = np.where(g != 0, g ** 2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(1, 2))
    expected = np.maximum((acts * weights[:, None, None, :]).sum(-1), 0)
    exp = explain(model, x, "gradcam++", layer="conv", targets=t)
    np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.filterwarnings("ignore:.*returned a constant map")  # constant by design
def test_layercam_with_one_channel_is_gradcam_up_to_the_relu_of_the_gradient():
    model = gap_net(CAM_SHAPE, channels=1, classes=2, seed=4)
    model.weights = np.array([[1.5, -0.7]])  # class 0: w > 0, class 1: w < 0
    x = _images(CAM_SHAPE, 3)
    for relu in (True, False):
        layer = explain(model, x, "layercam", layer="conv", targets=0, relu=relu)
        grad = explain(model, x, "gradcam", layer="conv", targets=0, relu=relu)
        np.testing.assert_allclose(layer.attributions, grad.attributions, rtol=1e-5, atol=1e-7)
    negative = explain(model, x, "gradcam", layer="conv", targets=1, relu=False)
    assert negative.attributions.min() < 0 and negative.attributions.max() <= 0
    np.testing.assert_array_equal(explain(model, x, "layercam", layer="conv", targets=1, relu=False).attributions, 0)


@pytest.mark.parametrize("method", ["hirescam", "xgradcam"])
def test_hirescam_and_xgradcam_equal_gradcam_on_a_global_average_pooling_head(method):
    """The gradient is w_k / (h w) at every location, so the three weightings coincide (Draelos & Carin; Fu et al.)."""
    model = gap_net(CAM_SHAPE, channels=5, seed=2)
    x = _images(CAM_SHAPE, 3)
    a = explain(model, x, method, layer="conv", targets=[0, 1, 2], relu=False)
    b = explain(model, x, "gradcam", layer="conv", targets=[0, 1, 2], relu=False)
    np.testing.assert_allclose(a.layer_attributions, b.layer_attributions, rtol=1e-4, atol=1e-7)


def test_scorecam_is_the_softmax_of_the_masked_scores():
    model = gap_net(CAM_SHAPE, channels=4, seed=6)
    x, t = _images(CAM_SHAPE, 3), np.array([2, 0, 1])
    exp = explain(model, x, "scorecam", layer="conv", targets=t, batch_size=3)
    expected = []
    for xi, ti in zip(x, t):
        a = _acts(model, xi[None])[0]
        low, high = a.min(axis=(0, 1)), a.max(axis=(0, 1))
        masks = (a - low) / (high - low + 1e-8)  # (H, W, C): channel k's map scaled to [0, 1]
        scores = np.array([model.logits(model.features(xi[None] * masks[None, ..., k, None]))[0, ti]
                           for k in range(a.shape[-1])])
        w = np.exp(scores - scores.max())
        expected.append(np.maximum((a * (w / w.sum())).sum(-1), 0))
    np.testing.assert_allclose(exp.attributions, np.stack(expected), rtol=1e-4, atol=1e-6)
    assert exp.params["n_channels"] == 4


def test_ablationcam_weights_are_each_channels_share_of_the_score():
    """Zeroing channel k removes mean(A_k) w_kt from the logit y: its weight is mean(A_k) w_kt / y."""
    model = gap_net(CAM_SHAPE, channels=4, seed=7)
    x, t = _images(CAM_SHAPE, 3), np.array([1, 1, 0])
    exp = explain(model, x, "ablationcam", layer="conv", targets=t, relu=False, batch_size=5)
    acts = _acts(model, x)
    pooled = acts.mean(axis=(1, 2))
    y = (pooled * model.weights[:, t].T).sum(1) + model.bias[t]
    expected = (acts * (pooled * model.weights[:, t].T / y[:, None])[:, None, None, :]).sum(-1)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-5)


def test_eigencam_is_the_first_principal_component_with_a_fixed_sign():
    model = gap_net(CAM_SHAPE, channels=6, seed=9)
    x = _images(CAM_SHAPE, 3, seed=3)
    exp = explain(model, x, "eigencam", layer="conv", relu=False)
    np.testing.assert_allclose(exp.layer_attributions, principal_projection(_acts(model, x)), rtol=1e-4, atol=1e-6)
    for got, a in zip(exp.layer_attributions, _acts(model, x)):
        centred = (a - a.mean(axis=(0, 1))).reshape(-1, 6)
        projection = (centred @ np.linalg.svd(centred)[2][0]).reshape(CAM_SHAPE[:2])
        assert np.allclose(got, projection, atol=1e-4) or np.allclose(got, -projection, atol=1e-4)
    np.testing.assert_array_equal(explain(model, x, "eigencam", layer="conv", relu=False, targets=2).attributions,
                                  exp.attributions)  # the class does not matter


@pytest.mark.filterwarnings("ignore:.*returned a constant map")  # constant by design
def test_guided_backprop_and_deconvnet_through_the_relu():
    """The ReLU's backward pass: plain 1[z > 0] g, guided 1[z > 0] 1[g > 0] g, deconvnet relu(g), g = wd_t / (h w)."""
    model = gap_net(CAM_SHAPE, channels=5, seed=11)
    x, t = _images(CAM_SHAPE, 2), np.array([0, 2])
    pre = model.conv(x)[0]
    g = np.broadcast_to((model.weights[:, t].T / HW)[:, None, None, :], pre.shape)
    rules = {"vanilla_gradients": (pre > 0) * g, "guided_backprop": (pre > 0) * (g > 0) * g,
             "deconvnet": np.maximum(g, 0)}
    for method, backward in rules.items():
        exp = explain(model, x, method, targets=t)
        np.testing.assert_allclose(exp.channel_attributions, backward @ model.conv_weights.T, rtol=1e-5, atol=1e-8,
                                   err_msg=method)


def test_guided_gradcam_is_guided_backprop_times_the_upsampled_gradcam():
    model = gap_net(CAM_SHAPE, channels=5, seed=17)
    x = _images(CAM_SHAPE, 2, seed=4)
    exp = explain(model, x, "guided_gradcam", layer="conv", targets=[2, 1])
    guided = explain(model, x, "guided_backprop", targets=[2, 1])
    cam = explain(model, x, "gradcam", layer="conv", targets=[2, 1])
    assert 0 < (cam.attributions > 0).mean() < 1  # a map with a shape, not 0 or positive everywhere
    np.testing.assert_allclose(exp.channel_attributions, guided.channel_attributions * cam.attributions[..., None],
                               rtol=1e-5, atol=1e-9)


def test_layer_conductance_through_a_constant_gradient_is_exact():
    """dS_t/dA_k = wd[k, t] / (h w) is constant: conductance telescopes to wd[k, t] (A_k(x) - A_k(b)) / (h w)."""
    model = gap_net(CAM_SHAPE, channels=3, seed=13)
    x = _images(CAM_SHAPE, 2, seed=5)
    exp = explain(model, x, "layer_conductance", layer="conv", targets=[0, 1], steps=4, baseline=0.2)
    delta = _acts(model, x) - _acts(model, np.full((1, *CAM_SHAPE), 0.2))
    expected = (delta * (model.weights[:, [0, 1]].T / HW)[:, None, None, :]).sum(-1)
    np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0, atol=1e-5)


def test_integrated_gradients_through_the_relu_are_complete():
    """A non-linear path: the attributions sum to S(x) - S(baseline) up to the quadrature's error."""
    model = gap_net(CAM_SHAPE, channels=4, seed=14)
    x = _images(CAM_SHAPE, 2, seed=6)
    exp = explain(model, x, "integrated_gradients", targets=[2, 0], steps=64)
    gain = model.logits(model.features(x))[[0, 1], [2, 0]] - model.logits(model.features(np.zeros_like(x)))[0, [2, 0]]
    total = exp.attributions.reshape(2, -1).sum(1)
    np.testing.assert_allclose(exp.extras["completeness_gap"], total - gain, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(total, gain, rtol=1e-2)  # the kinks of the ReLU: the trapezoids' error


def test_activations_are_the_layer_outputs():
    model = gap_net(CAM_SHAPE, channels=4, seed=15)
    x = _images(CAM_SHAPE, 3)
    acts = bind("activations")(model, layers=["conv", "gap"], batch_size=2).extract(x)
    np.testing.assert_allclose(acts["conv"], _acts(model, x), rtol=1e-6)
    np.testing.assert_allclose(acts["gap"], _acts(model, x).mean(axis=(1, 2)), rtol=1e-6)


def test_a_layer_the_engine_does_not_have_is_refused():
    model = gap_net(CAM_SHAPE, channels=2, seed=0)
    with pytest.raises(InputError):
        explain(model, _images(CAM_SHAPE, 1), "gradcam", layer="nowhere")


# ----------------------------------------------------------------------------- no framework
#: Modules whose framework-free tests run on the NumPy engine: :func:`test_these_tests_import_no_framework` imports
#: them and runs the first's tests (it covers every method family the others use, in about a second).
NUMPY_ONLY = ("test_methods_numpy", "test_methods_blackbox")


def run_module(module: Any) -> None:
    """Every test of ``module`` that takes no fixture, without pytest (parametrized ones for each of their values);
    tests marked ``tensorflow`` and this module's subprocess test are left out."""
    for name, test in list(vars(module).items()):
        if not name.startswith("test_") or name == "test_these_tests_import_no_framework":
            continue
        marks = getattr(test, "pytestmark", [])
        if any(m.name == "tensorflow" for m in marks):
            continue
        grid = [m for m in marks if m.name == "parametrize"]
        if not grid:
            test()
            continue
        names = [n.strip() for n in grid[0].args[0].split(",")]
        for value in grid[0].args[1]:
            test(**dict(zip(names, value if len(names) > 1 else (value,))))


def test_these_tests_import_no_framework():
    """The tests on the NumPy engine import, and run in a fresh process (without conftest.py, which imports PyTorch
    first), leaving neither TensorFlow nor PyTorch in ``sys.modules``."""
    tests = Path(__file__).resolve().parent
    code = ("import importlib, sys, warnings\n"
            "warnings.simplefilter('ignore')\n"
            "from test_methods_numpy import NUMPY_ONLY, run_module\n"
            "modules = [importlib.import_module(name) for name in NUMPY_ONLY]\n"
            "run_module(modules[0])\n"
            "print('LOADED', sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules))\n")
    paths = [str(tests.parent), str(tests.parent / "backends"), str(tests), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tests,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "LOADED []" in res.stdout, res.stdout[-3000:]
