"""VarGrad and SquareGrad: SmoothGrad's noisy samples, another statistic (as Xplique's gradient statistics)."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.kernels import ImageStreams

pytestmark = pytest.mark.tensorflow


def _gradients_at_the_same_points(model, images, targets, n_samples, noise, seed):
    """The gradients SmoothGrad's streams give: per image, n_samples normals times noise * (max - min)."""
    engine = xk.registry.get_services("tensorflow").engine(model)
    streams = ImageStreams(seed, images, "noise", "NHWC")
    out = []
    for i, (x, t) in enumerate(zip(images, targets)):
        sigma = noise * (float(x.max()) - float(x.min()))
        points = x + streams.normal(i, n_samples, x.shape, sigma)
        out.append(engine.input_gradients(points.astype(np.float32), np.full(n_samples, t, np.int32), "logit")[0])
    return np.stack(out).astype(np.float64)  # (N, n_samples, H, W, C)


def test_vargrad_and_squaregrad_are_the_variance_and_mean_square_of_the_gradients(functional_cnn, images):
    targets = [0, 3, 1]
    g = _gradients_at_the_same_points(functional_cnn, images, targets, 6, 0.2, 5)
    params = {"n_samples": 6, "noise": 0.2, "seed": 5, "batch_size": 4}  # chunks of 2 rows: the sums are streamed
    var = xk.explain(functional_cnn, images, method="vargrad", targets=targets, **params)
    square = xk.explain(functional_cnn, images, method="squaregrad", targets=targets, **params)
    smooth = xk.explain(functional_cnn, images, method="smoothgrad", targets=targets, **params)
    scale = np.abs(g).max() ** 2
    np.testing.assert_allclose(var.channel_attributions, g.var(axis=1), atol=1e-5 * scale)  # population variance
    np.testing.assert_allclose(square.channel_attributions, (g ** 2).mean(axis=1), atol=1e-5 * scale)
    np.testing.assert_allclose(smooth.channel_attributions, g.mean(axis=1), atol=1e-5 * np.abs(g).max())
    # one set of samples, three statistics: Var = E[g^2] - E[g]^2
    np.testing.assert_allclose(var.channel_attributions,
                               square.channel_attributions - smooth.channel_attributions ** 2, atol=1e-5 * scale)
    assert var.attributions.min() >= 0 and var.attributions.max() > 0
    # Xplique's VarGrad is the unbiased variance: n / (n - 1) times this one
    np.testing.assert_allclose(var.channel_attributions * 6 / 5, g.var(axis=1, ddof=1), atol=2e-5 * scale)


def test_without_noise_vargrad_is_zero_and_squaregrad_the_squared_gradient(functional_cnn, images):
    var = xk.explain(functional_cnn, images, method="vargrad", n_samples=4, noise=0.0, seed=0)
    square = xk.explain(functional_cnn, images, method="squaregrad", n_samples=4, noise=0.0, seed=0)
    vanilla = xk.explain(functional_cnn, images, method="vanilla_gradients")
    g2 = vanilla.channel_attributions ** 2
    np.testing.assert_allclose(square.channel_attributions, g2, rtol=1e-5, atol=1e-7 * g2.max())
    assert np.abs(var.channel_attributions).max() <= 1e-6 * g2.max()


def test_vargrad_is_streamed_memory_free_of_n_samples(functional_cnn, images):
    """The same samples in chunks of 1 and of 64 rows give the same statistics."""
    a = xk.explain(functional_cnn, images[:1], method="vargrad", n_samples=9, seed=2, batch_size=1)
    b = xk.explain(functional_cnn, images[:1], method="vargrad", n_samples=9, seed=2, batch_size=64)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-9)
