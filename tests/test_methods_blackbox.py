"""Black-box methods (RISE, KernelSHAP, LIME, Sobol): closed forms on linear and additive models, exact Shapley
values, the libraries' formulas (shap, scikit-learn's Ridge, lime's kernel, Xplique's Jansen estimator), and the
kernels they are made of. The linear models run on the NumPy analytic engine (numpy_engine.py): only the tests
marked ``tensorflow`` need a framework (each backend's own scores on linear models are checked by the conformance
suite, xaikit.testing)."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest
from numpy_engine import TinyNet, explain

import xaikit as xk
from xaikit.errors import InputError
from xaikit.kernels import (
    ImageStreams,
    WeightedMoments,
    bilinear_matrix,
    coalition_masks,
    enumerated_coalitions,
    grid_segments,
    grid_shape,
    jansen_total_indices,
    lime_kernel,
    paired_coalitions,
    rise_cells,
    rise_masks,
    shapley_kernel,
    shapley_size_probabilities,
    slic_segments,
    sobol_designs,
    sobol_rows,
)

SHAPE = (8, 10, 3)


def _linear(seed=0, classes=3):
    """A linear model on the NumPy analytic engine (:mod:`numpy_engine`): the methods need only its scores."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 1, (int(np.prod(SHAPE)), classes)).astype(np.float32)
    b = rng.normal(0, 0.1, classes).astype(np.float32)
    return TinyNet.linear(w, b, SHAPE), w.reshape(*SHAPE, classes), b


def _images(n=2, seed=3):
    return np.random.default_rng(seed).uniform(0, 1, (n, *SHAPE)).astype(np.float32)


def _segment_sums(values, labels):
    """Sum of a per-pixel map over each segment: (M,)."""
    return np.bincount(labels.ravel(), weights=values.ravel(), minlength=int(labels.max()) + 1)


# ----------------------------------------------------------------------------- kernels
def test_bilinear_matrix_is_opencvs_bilinear_resize():
    rng = np.random.default_rng(0)
    for h, w, big_h, big_w in [(7, 7, 32, 40), (3, 5, 20, 28), (2, 3, 13, 7), (5, 5, 5, 5)]:
        a = rng.normal(size=(h, w)).astype(np.float32)
        ours = bilinear_matrix(h, big_h) @ a @ bilinear_matrix(w, big_w).T
        np.testing.assert_allclose(ours, cv2.resize(a, (big_w, big_h), interpolation=cv2.INTER_LINEAR), atol=1e-5)


def test_rise_masks_crop_an_upsampled_grid_at_the_shift():
    size, grid = (8, 10), (3, 3)
    rng = np.random.default_rng(1)
    grids = (rng.uniform(size=(4, *grid)) < 0.5).astype(np.float32)
    cells = rise_cells(size, grid)
    assert cells == (3, 4)
    shifts = np.array([[0, 0], [2, 3], [1, 0], [0, 2]])
    masks = rise_masks(grids, shifts, size)
    for g, (dy, dx), m in zip(grids, shifts, masks):
        up = cv2.resize(g, ((grid[1] + 1) * cells[1], (grid[0] + 1) * cells[0]), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(m, up[dy:dy + size[0], dx:dx + size[1]], atol=1e-6)
    assert masks.min() >= 0 and masks.max() <= 1


def test_grid_segments_and_shape():
    labels = grid_segments((6, 8), (2, 4))
    assert labels.tolist()[0] == [0, 0, 1, 1, 2, 2, 3, 3] and labels.tolist()[5] == [4, 4, 5, 5, 6, 6, 7, 7]
    assert grid_shape(12, (6, 8)) == (3, 4)
    assert grid_shape(1000, (6, 8)) == (6, 8)  # never more cells than pixels
    assert set(np.unique(grid_segments((7, 9), (3, 3)))) == set(range(9))  # uneven: every cell has pixels


def test_slic_segments_are_consecutive_and_follow_edges():
    image = np.zeros((32, 32, 3))
    image[:, 16:] = [200.0, -50.0, 10.0]  # any value range: scaled to [0, 1] first
    labels = slic_segments(image, 8, 0.1)
    assert labels.dtype == np.int32 and set(np.unique(labels)) == set(range(labels.max() + 1))
    assert not set(np.unique(labels[:, :16])) & set(np.unique(labels[:, 16:]))  # no segment crosses the edge


def test_shapley_kernel_sampling_and_enumeration():
    m = 5
    p = shapley_size_probabilities(m)
    np.testing.assert_allclose(p, [1 / 4, 1 / 6, 1 / 6, 1 / 4] / np.sum([1 / 4, 1 / 6, 1 / 6, 1 / 4]))
    draws = np.random.default_rng(0).uniform(size=(20000, m + 1))
    z = paired_coalitions(draws, m)
    np.testing.assert_array_equal(z[0::2] + z[1::2], 1.0)  # each draw is followed by its complement
    sizes = z[0::2].sum(1).astype(int)
    np.testing.assert_allclose(np.bincount(sizes, minlength=m)[1:] / len(sizes), p, atol=0.01)
    assert np.abs(z[0::2].mean(0) - 0.5).max() < 0.02  # no player favoured
    all_z = enumerated_coalitions(m, np.arange(2 ** m - 2))
    assert len({tuple(r) for r in all_z}) == 2 ** m - 2 and all_z.sum(1).min() > 0 and all_z.sum(1).max() < m
    np.testing.assert_allclose(shapley_kernel(m, np.array([1, 2])), [4 / (5 * 1 * 4), 4 / (10 * 2 * 3)])


def test_weighted_moments_ridge_is_scikit_learns_ridge():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(2)
    z = (rng.uniform(size=(60, 7)) < 0.5).astype(float)
    y = z @ rng.normal(size=7) + rng.normal(0, 0.1, 60) + 3.0
    w = lime_kernel(z, 0.25)
    for alpha in (1.0, 0.0):
        mom = WeightedMoments(7)
        for part in np.array_split(np.arange(60), 4):  # streamed in chunks
            mom.add(z[part], y[part], w[part])
        coef, intercept = mom.ridge(alpha)
        ref = sklearn.Ridge(alpha=alpha, fit_intercept=True).fit(z, y, sample_weight=w)
        np.testing.assert_allclose(coef, ref.coef_, rtol=1e-6, atol=1e-8)
        assert intercept == pytest.approx(ref.intercept_, rel=1e-6)


def test_lime_kernel_is_lime_images_kernel_on_the_cosine_distance():
    metrics = pytest.importorskip("sklearn.metrics")
    z = (np.random.default_rng(4).uniform(size=(30, 9)) < 0.5).astype(float)
    z[0] = 1.0
    distance = metrics.pairwise_distances(z, z[0].reshape(1, -1), metric="cosine").ravel()
    np.testing.assert_allclose(lime_kernel(z, 0.25), np.sqrt(np.exp(-(distance ** 2) / 0.25 ** 2)), rtol=1e-12)


def test_jansen_estimator_is_xpliques():
    rng = np.random.default_rng(5)
    a, b = sobol_designs(4, 16)
    rows = sobol_rows(a, b, np.arange(16 * 5))
    np.testing.assert_array_equal(rows[:16], a)
    np.testing.assert_array_equal(rows[16 + 2 * 16 + 3, [0, 1, 3]], a[3, [0, 1, 3]])  # C_2, design 3
    assert rows[16 + 2 * 16 + 3, 2] == b[3, 2]
    scores = rng.normal(size=16 * 5)
    fa, fc = scores[:16], scores[16:].reshape(4, 16)
    expected = ((fa - fc) ** 2).sum(1) / (2 * 16 * fa.var(ddof=1))  # Xplique's JansenEstimator
    np.testing.assert_allclose(jansen_total_indices(scores, 16), expected, rtol=1e-12)
    np.testing.assert_array_equal(jansen_total_indices(np.ones(16 * 5), 16), 0.0)  # a constant model


def test_sobol_designs_need_a_power_of_two():
    with pytest.raises(InputError, match="power of two"):
        sobol_designs(4, 24)


# ----------------------------------------------------------------------------- KernelSHAP


@pytest.mark.parametrize("segmentation, n_segments, n_samples", [("grid", 12, 200), ("slic", 20, 300),
                                                                 ("grid", 4, 1000)])
def test_kernel_shap_on_a_linear_model_gives_each_segments_exact_shapley_value(segmentation, n_segments, n_samples):
    """For f = w . x + b the Shapley value of a segment is sum over its pixels of w (x - baseline), sampled or not."""
    model, w, _ = _linear()
    x = _images()
    t = np.array([2, 0])
    exp = explain(model, x, "kernel_shap", targets=t, segmentation=segmentation, n_segments=n_segments,
                  n_samples=n_samples, baseline=0.3, seed=1, batch_size=7)
    assert exp.params["segmentation"] == segmentation and exp.params["n_segments"] == n_segments
    for i in range(len(x)):
        labels = exp.extras["segments"][i]
        contribution = ((x[i] - 0.3) * w[..., t[i]]).sum(-1)
        values = _segment_sums(contribution, labels)
        np.testing.assert_allclose(exp.attributions[i], values[labels], rtol=1e-4, atol=1e-4)


def _exact_shapley(value, m):
    """Shapley values of a game ``value(frozenset)`` by enumeration."""
    phi = np.zeros(m)
    for i in range(m):
        for size in range(m):
            for s in itertools.combinations([j for j in range(m) if j != i], size):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                phi[i] += weight * (value(frozenset(s) | {i}) - value(frozenset(s)))
    return phi


@pytest.mark.tensorflow
def test_kernel_shap_enumerates_small_games_exactly_and_matches_shaps_kernel_explainer(functional_cnn):
    """On a non-linear CNN with 4 segments all 14 coalitions are evaluated: the exact Shapley values, as brute
    force and shap's KernelExplainer (on the same game) give them."""
    x = np.random.default_rng(6).uniform(0, 1, (1, 20, 28, 3)).astype(np.float32)
    exp = xk.explain(functional_cnn, x, method="kernel_shap", segmentation="grid", n_segments=4, n_samples=14,
                     targets=2, baseline=0.5)
    labels = exp.extras["segments"][0]
    m = int(labels.max()) + 1
    assert m == 4
    engine = xk.registry.get_services("tensorflow").engine(functional_cnn)

    def scores(z):
        masks = coalition_masks(np.atleast_2d(z), labels)[..., None]
        return engine.class_scores((x * masks + 0.5 * (1 - masks)).astype(np.float32), "logit")[:, 2]

    exact = _exact_shapley(lambda s: float(scores(np.isin(np.arange(m), list(s)).astype(float))[0]), m)
    values = np.array([exp.attributions[0][labels == k][0] for k in range(m)])
    np.testing.assert_allclose(values, exact, rtol=1e-4, atol=1e-5)
    shap = pytest.importorskip("shap")
    explainer = shap.KernelExplainer(lambda z: scores(z).astype(np.float64), np.zeros((1, m)))
    reference = np.asarray(explainer.shap_values(np.ones((1, m)), nsamples=100, silent=True)).reshape(-1)
    np.testing.assert_allclose(values, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.tensorflow
def test_kernel_shap_values_sum_to_the_score_gain_when_sampled(functional_cnn, images):
    exp = xk.explain(functional_cnn, images, method="kernel_shap", n_segments=30, n_samples=64, seed=2, targets=1)
    full = xk.registry.get_services("tensorflow").class_scores(functional_cnn, images, "logit")[:, 1]
    values_per_segment = [_segment_sums(a, s) / np.bincount(s.ravel()) for a, s in
                          zip(exp.attributions, exp.extras["segments"])]
    np.testing.assert_allclose([v.sum() for v in values_per_segment], full - exp.extras["base_value"], rtol=1e-4,
                               atol=1e-4)


def test_kernel_shap_with_one_segment_gives_it_the_whole_gain():
    model, w, _ = _linear()
    x = _images(1)
    exp = explain(model, x, "kernel_shap", segmentation="grid", n_segments=1, targets=0, seed=0)
    np.testing.assert_allclose(exp.attributions[0], ((x[0] - 0.0) * w[..., 0]).sum(), rtol=1e-5)


# ----------------------------------------------------------------------------- LIME
def test_lime_without_ridge_on_a_linear_model_recovers_each_segments_contribution():
    model, w, b = _linear(seed=1)
    x = _images()
    t = np.array([1, 2])
    exp = explain(model, x, "lime", targets=t, segmentation="grid", n_segments=12, n_samples=80,
                  ridge_alpha=0.0, seed=3)
    for i in range(len(x)):
        labels = exp.extras["segments"][i]
        values = _segment_sums(((x[i] - 0.0) * w[..., t[i]]).sum(-1), labels)
        np.testing.assert_allclose(exp.attributions[i], values[labels], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(exp.extras["intercept"], b[t], atol=1e-4)  # the score of the baseline image


def test_lime_ridge_shrinks_towards_zero():
    model, _, _ = _linear(seed=1)
    x = _images(1)
    common = {"targets": 0, "segmentation": "grid", "n_segments": 12, "n_samples": 60, "seed": 3}
    free = explain(model, x, "lime", ridge_alpha=0.0, **common)
    ridge = explain(model, x, "lime", ridge_alpha=5.0, **common)
    assert 0 < np.abs(ridge.attributions).sum() < np.abs(free.attributions).sum()


# ----------------------------------------------------------------------------- RISE
def _rise_masks_of(images, seed, n_samples, grid, p_keep):
    """The masks RISE draws for each image, regenerated from the same per-image streams."""
    streams = ImageStreams(seed, images, "masks", "NHWC")
    size = images.shape[1:3]
    cells = np.array(rise_cells(size, (grid, grid)))
    out = []
    for i in range(len(images)):
        draws = streams.uniform(i, n_samples * (grid * grid + 2)).reshape(n_samples, -1)
        grids = (draws[:, :grid * grid] < p_keep).reshape(-1, grid, grid)
        shifts = np.minimum((draws[:, grid * grid:] * cells).astype(int), cells - 1)
        out.append(rise_masks(grids, shifts, size))
    return np.stack(out).astype(np.float64)


def test_rise_on_a_linear_model():
    """f(x M + b (1 - M)) = f(b) + sum_q c_q M(q) with c = w (x - b): the map is f(b) + sum_q c_q K(q, p) with
    K(q, p) = sum_j M_j(q) M_j(p) / sum_j M_j(p) over the masks drawn."""
    model, w, bias = _linear(seed=2)
    x = _images()
    t = np.array([0, 1])
    exp = explain(model, x, "rise", targets=t, n_samples=60, grid_size=3, p_keep=0.4, baseline=0.2, seed=7,
                  batch_size=16)
    masks = _rise_masks_of(x, 7, 60, 3, 0.4)
    for i in range(len(x)):
        c = ((x[i] - 0.2) * w[..., t[i]]).sum(-1)
        base = 0.2 * w[..., t[i]].sum() + bias[t[i]]
        m = masks[i].reshape(60, -1)
        expected = base + (m * (m @ c.ravel())[:, None]).sum(0) / m.sum(0)
        np.testing.assert_allclose(exp.attributions[i].ravel(), expected, rtol=1e-4, atol=1e-4)
    # the expectation: the masks keep each pixel with probability p_keep
    assert abs(masks.mean() - 0.4) < 0.05


def test_rise_keeping_everything_gives_the_score_everywhere():
    model, _, _ = _linear(seed=2)
    x = _images()
    exp = explain(model, x, "rise", targets=[2, 1], n_samples=5, p_keep=1.0, seed=0)
    np.testing.assert_allclose(exp.attributions, exp.outputs[[0, 1], [2, 1]][:, None, None] * np.ones((1, 8, 10)),
                               rtol=1e-5)


# ----------------------------------------------------------------------------- Sobol
def test_sobol_on_an_additive_model():
    """f(M) = f(b) + sum_i c_i M_i: the estimator on the same designs, and the closed form c_i^2 / sum c_j^2."""
    model, w, _ = _linear(seed=4)
    x = _images(1)
    exp = explain(model, x, "sobol", targets=1, grid_size=3, n_designs=256, baseline=0.1, batch_size=256)
    labels = grid_segments(SHAPE[:2], (3, 3))
    c = _segment_sums(((x[0] - 0.1) * w[..., 1]).sum(-1), labels)
    a, b = sobol_designs(9, 256)
    design = sobol_rows(a, b, np.arange(256 * 10))
    np.testing.assert_allclose(exp.layer_attributions[0].ravel(), jansen_total_indices(design @ c, 256), rtol=1e-3,
                               atol=1e-5)
    closed_form = c ** 2 / (c ** 2).sum()  # no interactions: the total indices are the first-order ones, summing to 1
    np.testing.assert_allclose(exp.layer_attributions[0].ravel(), closed_form, atol=0.02 * closed_form.max())
    assert exp.attributions.shape == (1, *SHAPE[:2])


def test_sobol_refuses_a_design_count_that_is_not_a_power_of_two():
    model, _, _ = _linear()
    with pytest.raises(InputError, match="n_designs must be a power of two"):
        explain(model, _images(1), "sobol", n_designs=24)


def test_black_box_methods_fill_with_the_baseline_in_the_model_layout():
    """A per-channel baseline: removing every segment gives the baseline image's score (KernelSHAP's base value)."""
    model, w, bias = _linear(seed=5)
    x = _images(1)
    fill = np.array([0.1, 0.5, 0.9], np.float32)
    exp = explain(model, x, "kernel_shap", segmentation="grid", n_segments=6, baseline=fill, targets=2, n_samples=62)
    assert exp.extras["base_value"][0] == pytest.approx((fill * w[..., 2]).sum() + bias[2], rel=1e-5)


def test_slic_warns_when_an_image_collapses_into_few_segments():
    noise = np.random.default_rng(42).uniform(0, 1, (20, 28, 3))
    with pytest.warns(RuntimeWarning, match="Raise compactness"):
        assert slic_segments(noise, 10, 0.1).max() + 1 < 3
    assert slic_segments(noise, 10, 1.0).max() + 1 >= 8  # the default compactness keeps them
