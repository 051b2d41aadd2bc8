"""The references of native backends: on a linear model ``f(x) = W x + b`` the methods have closed forms,
compared with the NumPy kernels of the core (see :mod:`xaikit.testing`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ModelError
from ..kernels import (
    accumulate_windows,
    grid_segments,
    jansen_total_indices,
    patch_windows,
    sobol_designs,
    sobol_rows,
    to_layout,
)
from .checks import explain_with
from .factory import IMAGE_SHAPE, N_CLASSES, ModelFactory

__all__ = ["REFERENCES"]


def _linear(factory: ModelFactory, activation: str = "linear") -> tuple[Any, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    weights = rng.normal(0, 1, (*IMAGE_SHAPE, N_CLASSES)).astype(np.float32)
    bias = rng.normal(0, 0.1, N_CLASSES).astype(np.float32)
    return factory.linear(weights, bias, activation), weights, bias


def _canonical(exp: Any, factory: ModelFactory) -> np.ndarray:
    """``channel_attributions`` in canonical channels-last order."""
    return to_layout(exp.channel_attributions, factory.layout, "NHWC")


def _ref_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(3)
    t = np.array([0, 2, 3])
    exp = explain_with(backend, "vanilla_gradients", model, x, targets=t)
    expected = np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.attributions, expected.sum(-1), rtol=1e-5, atol=1e-5)


def _ref_gradient_x_input(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(3)
    t = np.array([1, 1, 0])
    exp = explain_with(backend, "gradient_x_input", model, x, targets=t)
    expected = to_layout(x, factory.layout, "NHWC") * np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-6)


def _ref_smoothgrad(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    exp = explain_with(backend, "smoothgrad", model, x, targets=[3, 1], n_samples=5, noise=0.3, seed=0)
    expected = np.stack([weights[..., 3], weights[..., 1]])  # the gradient of a linear model is constant
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-5)


def _ref_integrated_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([0, 3])
    delta = to_layout(x, factory.layout, "NHWC") - 0.25
    expected = delta * np.stack([weights[..., k] for k in t])
    for rule in ("trapezoid", "left", "right", "midpoint"):
        exp = explain_with(backend, "integrated_gradients", model, x, targets=t, steps=4, baseline=0.25,
                       integration=rule)
        np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-5, err_msg=rule)
        np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-4, err_msg=rule)


def _ref_expected_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    reference = factory.images(1, seed=5)
    t = np.array([2, 0])
    exp = explain_with(backend, "expected_gradients", model, x, targets=t, background=reference, n_samples=16, seed=0)
    delta = to_layout(x - reference, factory.layout, "NHWC")
    expected = delta * np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-3)


def _ref_occlusion(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([1, 2])
    exp = explain_with(backend, "occlusion", model, x, targets=t, patch_size=(2, 3), stride=(1, 2), baseline=0.5)
    h, w = IMAGE_SHAPE[:2]
    windows = patch_windows(h, w, (2, 3), (1, 2))
    contrib = (to_layout(x, factory.layout, "NHWC") - 0.5) * np.stack([weights[..., k] for k in t])
    drops = np.stack([[contrib[i, top:bottom, left:right].sum() for top, left, bottom, right in windows]
                      for i in range(len(x))])
    np.testing.assert_allclose(exp.attributions, accumulate_windows(drops, windows, (h, w)), rtol=1e-4, atol=1e-5)


def _ref_modified_backward(backend: str, factory: ModelFactory) -> None:
    model, _, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([3, 0])
    for method in ("guided_backprop", "deconvnet"):  # no ReLU to modify: the gradient under another name, refused
        try:
            explain_with(backend, method, model, x, targets=t)
        except ModelError as exc:
            if "vanilla_gradients" not in str(exc):
                raise AssertionError(f"{method} on a network without ReLU: the refusal does not name "
                                     f"vanilla_gradients: {exc}") from None
        else:
            raise AssertionError(f"{method} on a network without ReLU returned a result instead of refusing")


def _ref_gradient_statistics(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([1, 2])
    w = np.stack([weights[..., k] for k in t])
    var = explain_with(backend, "vargrad", model, x, targets=t, n_samples=5, noise=0.3, seed=0)
    square = explain_with(backend, "squaregrad", model, x, targets=t, n_samples=5, noise=0.3, seed=0)
    np.testing.assert_allclose(_canonical(var, factory), 0.0, atol=1e-6 * float((w ** 2).max()))
    np.testing.assert_allclose(_canonical(square, factory), w ** 2, rtol=1e-5, atol=1e-6)


def _segment_values(contribution: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each pixel's segment's total of ``contribution`` (per-pixel, channels summed)."""
    totals = np.bincount(labels.ravel(), weights=contribution.ravel(), minlength=int(labels.max()) + 1)
    return totals[labels]


def _ref_surrogates(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([2, 1])
    contribution = ((to_layout(x, factory.layout, "NHWC") - 0.25) * np.stack([weights[..., k] for k in t])).sum(-1)
    for method, extra in (("kernel_shap", {}), ("lime", {"ridge_alpha": 0.0})):
        exp = explain_with(backend, method, model, x, targets=t, segmentation="grid", n_segments=6, n_samples=40,
                       baseline=0.25, seed=0, **extra)
        labels = grid_segments(IMAGE_SHAPE[:2], (2, 3))
        np.testing.assert_array_equal(exp.extras["segments"], np.stack([labels, labels]))
        expected = np.stack([_segment_values(c, labels) for c in contribution])
        np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-4, err_msg=method)


def _ref_rise(backend: str, factory: ModelFactory) -> None:
    model, _, _ = _linear(factory)
    x = factory.images(2)
    exp = explain_with(backend, "rise", model, x, targets=[0, 3], n_samples=3, p_keep=1.0, seed=0)
    expected = exp.outputs[[0, 1], [0, 3]][:, None, None]  # every mask keeps every pixel
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(expected, exp.attributions.shape), rtol=1e-5)


def _ref_sobol(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(1)
    exp = explain_with(backend, "sobol", model, x, targets=2, grid_size=2, n_designs=16, baseline=0.5)
    labels = grid_segments(IMAGE_SHAPE[:2], (2, 2))
    contribution = ((to_layout(x, factory.layout, "NHWC")[0] - 0.5) * weights[..., 2]).sum(-1)
    cells = np.bincount(labels.ravel(), weights=contribution.ravel(), minlength=4)
    a, b = sobol_designs(4, 16)
    expected = jansen_total_indices(sobol_rows(a, b, np.arange(16 * 5)) @ cells, 16)  # f = f(b) + cells . mask
    np.testing.assert_allclose(exp.layer_attributions[0].ravel(), expected, rtol=1e-3, atol=1e-5)


REFERENCES: dict[str, Callable[[str, ModelFactory], None]] = {
    "vanilla_gradients": _ref_gradients,
    "gradient_x_input": _ref_gradient_x_input,
    "smoothgrad": _ref_smoothgrad,
    "integrated_gradients": _ref_integrated_gradients,
    "expected_gradients": _ref_expected_gradients,
    "occlusion": _ref_occlusion,
    "guided_backprop": _ref_modified_backward,
    "vargrad": _ref_gradient_statistics,
    "kernel_shap": _ref_surrogates,
    "rise": _ref_rise,
    "sobol": _ref_sobol,
}
