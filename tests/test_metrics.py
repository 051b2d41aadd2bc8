"""Tests of xaikit.metrics against analytic oracles (no deep-learning framework needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from xaikit.errors import InputError
from xaikit.metrics import (
    agreement_table,
    complexity,
    deletion,
    energy_pointing_game,
    insertion,
    mu_fidelity,
    pointing_game,
    sparseness,
    spearman,
    ssim,
    topk_iou,
)
from xaikit.metrics._common import rankdata


# ----------------------------------------------------------------------------- helpers
def positive_images(n: int = 3, h: int = 6, w: int = 7, c: int = 2, seed: int = 0) -> np.ndarray:
    """Images whose pixels are all > 0 (so "zeroed" is detectable)."""
    return (np.random.default_rng(seed).random((n, h, w, c)) + 0.1).astype(np.float32)


def linear_model(weights: np.ndarray):
    """f(x) = [sum(w * x), -sum(w * x)]: two classes, attributions computable by hand."""

    def predict(images: np.ndarray) -> np.ndarray:
        s = (images.astype(np.float64) * weights).sum(axis=(1, 2, 3))
        return np.stack([s, -s], axis=1)

    return predict


def sum_model(images: np.ndarray) -> np.ndarray:
    """f(x) = sum(x), a single output column."""
    return images.astype(np.float64).sum(axis=(1, 2, 3))[:, None]


class BoundedPredict:
    """A predict wrapper that fails if it ever receives more than ``limit`` images."""

    def __init__(self, predict, limit: int) -> None:
        self.predict, self.limit, self.calls, self.largest = predict, limit, 0, 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        assert images.ndim == 4 and images.dtype == np.float32
        assert 1 <= len(images) <= self.limit, f"predict received {len(images)} images (limit {self.limit})"
        self.calls += 1
        self.largest = max(self.largest, len(images))
        return self.predict(images)


def test_import_does_not_load_frameworks():
    code = ("import sys, xaikit.metrics; bad = [m for m in ('tensorflow', 'keras', 'torch', 'scipy', 'skimage') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- MuFidelity
@pytest.mark.parametrize("grid_size", [None, 3, (2, 5)])
def test_mu_fidelity_linear_oracle_single_output(grid_size):
    # Xplique's oracle: f(x) = sum(x) and phi = x gives 1, phi = -x gives -1.
    x = positive_images()
    phi = x.sum(axis=-1)
    good = mu_fidelity(sum_model, x, phi, 0, grid_size=grid_size, n_samples=40, seed=3)
    bad = mu_fidelity(sum_model, x, -phi, 0, grid_size=grid_size, n_samples=40, seed=3)
    np.testing.assert_allclose(good.values, 1.0, atol=1e-9)
    np.testing.assert_allclose(bad.values, -1.0, atol=1e-9)
    assert good.values.shape == (3,) and good.targets.tolist() == [0, 0, 0]


def test_mu_fidelity_linear_oracle_two_classes_and_weights():
    x = positive_images(n=4)
    w = np.random.default_rng(1).normal(size=x.shape[1:])
    predict = linear_model(w)
    phi = (w * x).sum(axis=-1)  # gradient x input of class 0, exact for a linear model
    np.testing.assert_allclose(mu_fidelity(predict, x, phi, 0, grid_size=3, seed=0, n_samples=30).values, 1.0)
    np.testing.assert_allclose(mu_fidelity(predict, x, -phi, 1, grid_size=3, seed=0, n_samples=30).values, 1.0)
    np.testing.assert_allclose(mu_fidelity(predict, x, phi, 1, grid_size=3, seed=0, n_samples=30).values, -1.0)
    noise = np.random.default_rng(2).normal(size=phi.shape)
    r = mu_fidelity(predict, x, noise, 0, grid_size=3, seed=0, n_samples=60).values
    assert np.all(np.abs(r) < 0.9)


def test_mu_fidelity_baseline_value_matters():
    x = positive_images()
    phi = x.sum(axis=-1)
    # with baseline b, the drop is sum_S (x - b): phi = x - b is the exact attribution
    exact = mu_fidelity(sum_model, x, phi - 2 * 0.5, 0, baseline=0.5, grid_size=None, seed=1, n_samples=30)
    np.testing.assert_allclose(exact.values, 1.0)


def square_model(images: np.ndarray) -> np.ndarray:
    """A non-linear model, so chunking or seeds would show."""
    return np.stack([(images.astype(np.float64) ** 2).sum(axis=(1, 2, 3)), images.max(axis=(1, 2, 3))], axis=1)


def test_mu_fidelity_chunking_and_seed():
    x = positive_images(n=5)
    phi = np.random.default_rng(4).normal(size=x.shape[:3])
    small = BoundedPredict(square_model, 1)
    big = BoundedPredict(square_model, 64)
    a = mu_fidelity(small, x, phi, None, grid_size=3, n_samples=20, seed=7, batch_size=1)
    b = mu_fidelity(big, x, phi, None, grid_size=3, n_samples=20, seed=7, batch_size=64)
    np.testing.assert_array_equal(a.values, b.values)
    assert big.largest == 64 and small.largest == 1
    c = mu_fidelity(square_model, x, phi, None, grid_size=3, n_samples=20, seed=8)
    assert not np.array_equal(a.values, c.values)
    auto = mu_fidelity(square_model, x, phi, grid_size=3, n_samples=5, seed=None)
    assert isinstance(auto.params["seed"], int)


def test_mu_fidelity_constant_model_is_nan_not_silent_zero():
    x = positive_images()
    r = mu_fidelity(lambda im: np.ones((len(im), 2)), x, x.sum(-1), 0, grid_size=3, n_samples=10, seed=0)
    assert np.isnan(r.values).all() and np.isnan(r.mean())


def test_mu_fidelity_validation():
    x = positive_images()
    phi = x.sum(-1)
    with pytest.raises(InputError, match="pass 0.2"):
        mu_fidelity(sum_model, x, phi, 0, subset_percent=20, grid_size=3)
    with pytest.raises(InputError, match="finer than"):
        mu_fidelity(sum_model, x, phi, 0, grid_size=9)
    with pytest.raises(InputError, match=r"reduce the channel axis"):
        mu_fidelity(sum_model, x, x, 0, grid_size=3)
    with pytest.raises(InputError, match="resize_maps"):
        mu_fidelity(sum_model, x, phi[:, :3], 0, grid_size=3)
    with pytest.raises(InputError, match="out of range"):
        mu_fidelity(sum_model, x, phi, 1, grid_size=3)


# ----------------------------------------------------------------------------- deletion / insertion
def all_pixels_model(images: np.ndarray) -> np.ndarray:
    """1 while every pixel is non-zero, 0 as soon as one is zeroed."""
    return (images.reshape(len(images), -1) != 0).all(axis=1).astype(np.float64)[:, None]


def positive_fraction_model(images: np.ndarray) -> np.ndarray:
    """The fraction of pixels (over all channels) that are > 0."""
    return (images > 0).all(axis=-1).reshape(len(images), -1).mean(axis=1)[:, None]


def test_deletion_auc_zero_for_model_that_breaks_at_first_pixel():
    x = positive_images(h=10, w=10)
    phi = np.random.default_rng(0).random(x.shape[:3])
    r = deletion(all_pixels_model, x, phi, 0, steps=101, substrate="zero")
    # curve 1, 0, 0, ...: the area is half the first step (1 % of the pixels)
    np.testing.assert_allclose(r.auc, 0.005)
    np.testing.assert_array_equal(r.curves[:, 0], 1.0)
    np.testing.assert_array_equal(r.curves[:, 1:], 0.0)
    np.testing.assert_allclose(r.fractions, np.linspace(0, 1, 101))
    assert r.mode == "deletion" and r.values is r.auc


@pytest.mark.parametrize("substrate", ["zero", -1.0, "array"])
def test_insertion_of_fraction_model_is_one_half(substrate):
    x = positive_images(h=5, w=9)
    if substrate == "array":
        substrate = -np.ones_like(x)
    phi = np.random.default_rng(1).normal(size=x.shape[:3])
    for steps in (2, 7, 46):  # 46 = every pixel
        r = insertion(positive_fraction_model, x, phi, 0, steps=steps, substrate=substrate)
        np.testing.assert_allclose(r.auc, 0.5, atol=1e-12)
        np.testing.assert_allclose(r.curves, np.broadcast_to(r.fractions, r.curves.shape), atol=1e-12)


def test_deletion_curve_of_linear_model_matches_hand_computation():
    x = positive_images(n=2, h=3, w=4, c=1)
    w = np.random.default_rng(5).normal(size=x.shape[1:])
    predict = linear_model(w)
    contrib = (w * x)[..., 0].reshape(2, -1)
    phi = np.random.default_rng(6).normal(size=x.shape[:3])
    r = deletion(predict, x, phi, 0, steps=13)  # one pixel per step
    order = np.argsort(-phi.reshape(2, -1), axis=1)
    expected = np.stack([contrib[i].sum() - np.concatenate([[0], np.cumsum(contrib[i, order[i]])])
                         for i in range(2)])
    np.testing.assert_allclose(r.curves, expected, atol=1e-6)
    np.testing.assert_allclose(r.auc, ((expected[:, 1:] + expected[:, :-1]) / 2).sum(axis=1) / 12, atol=1e-6)
    # the exact attribution (phi = w * x) removes the largest contributions first: lowest deletion AUC
    best = deletion(predict, x, contrib.reshape(2, 3, 4), 0, steps=13).auc
    worst = deletion(predict, x, -contrib.reshape(2, 3, 4), 0, steps=13).auc
    assert np.all(best <= r.auc + 1e-9) and np.all(r.auc <= worst + 1e-9)
    assert np.all(insertion(predict, x, contrib.reshape(2, 3, 4), 0, steps=13, substrate="zero").auc
                  >= insertion(predict, x, phi, 0, steps=13, substrate="zero").auc - 1e-9)


def test_ties_are_broken_in_row_major_order():
    x = positive_images(n=1, h=2, w=3, c=1)
    w = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    r = deletion(linear_model(w), x, np.zeros((1, 2, 3)), 0, steps=7)
    contrib = (w * x).ravel()
    np.testing.assert_allclose(r.curves[0], contrib.sum() - np.concatenate([[0], np.cumsum(contrib)]), atol=1e-6)


def test_blur_and_mean_substrates():
    import cv2

    x = positive_images(n=2, h=12, w=14, c=3)
    phi = np.random.default_rng(0).random(x.shape[:3])
    r = deletion(sum_model, x, phi, 0, steps=3, substrate="blur")
    blurred = np.stack([cv2.GaussianBlur(im, (11, 11), 5) for im in x])
    np.testing.assert_allclose(r.curves[:, -1], blurred.sum(axis=(1, 2, 3)), rtol=1e-5)
    ins = insertion(sum_model, x, phi, 0, steps=3)  # blur is insertion's default, as in RISE
    np.testing.assert_allclose(ins.curves[:, 0], blurred.sum(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(ins.curves[:, -1], x.sum(axis=(1, 2, 3)), rtol=1e-5)
    # the per-image channel mean preserves the sum once every pixel is replaced
    m = deletion(sum_model, x, phi, 0, steps=3, substrate="mean")
    np.testing.assert_allclose(m.curves[:, -1], x.sum(axis=(1, 2, 3)), rtol=1e-5)
    assert m.params["substrate"] == "mean" and r.params["blur_sigma"] == 5.0


@pytest.mark.parametrize("func", [deletion, insertion])
def test_causal_chunking_is_bounded_and_invariant(func):
    x = positive_images(n=5)
    phi = np.random.default_rng(3).normal(size=x.shape[:3])
    results = []
    for batch_size in (1, 7, 64):
        bounded = BoundedPredict(square_model, batch_size)
        results.append(func(bounded, x, phi, None, steps=11, batch_size=batch_size, substrate="mean"))
        assert bounded.largest == min(batch_size, 5 * 11)
    for r in results[1:]:
        np.testing.assert_array_equal(r.curves, results[0].curves)
        np.testing.assert_array_equal(r.auc, results[0].auc)
    np.testing.assert_array_equal(results[0].targets, np.argmax(square_model(x), axis=1))


def test_causal_validation_messages():
    x = positive_images()
    phi = x.sum(-1)
    with pytest.raises(InputError, match="'zero', 'blur', 'mean'"):
        deletion(sum_model, x, phi, 0, substrate="black")
    with pytest.raises(InputError, match="steps"):
        deletion(sum_model, x, phi, 0, steps=1)
    with pytest.raises(InputError, match=r"shape \(n, K\)"):
        deletion(lambda im: im.sum(axis=(1, 2, 3)), x, phi, 0)
    with pytest.raises(InputError, match="single-sigmoid"):
        deletion(sum_model, x, phi, 1)
    with pytest.raises(InputError, match="one map per image"):
        deletion(sum_model, x, phi[:2], 0)
    with pytest.raises(InputError, match="NaN"):
        deletion(sum_model, x, np.full_like(phi, np.nan), 0)
    with pytest.raises(InputError, match="substrate must be one of"):
        deletion(sum_model, x, phi, 0, substrate=np.zeros((2, *x.shape[1:])))
    with pytest.raises(InputError, match="score"):
        deletion(sum_model, x, phi, 0, score="probabilities")
    r = deletion(sum_model, x, phi, 0, score="logit", steps=3)
    assert r.params["score"] == "logit"
    from xaikit.explanation import Explanation

    exp = Explanation(attributions=phi, method="m", backend="b", targets=np.zeros(3, np.int64),
                      outputs=np.zeros((3, 1), np.float32), predictions=np.zeros(3, np.int64), params={}, elapsed=0.0)
    with pytest.raises(InputError, match="explanation.attributions"):
        deletion(sum_model, x, exp, 0)
    np.testing.assert_array_equal(deletion(sum_model, x, exp.attributions, exp.targets, steps=3).curves, r.curves)


# ----------------------------------------------------------------------------- localisation
def box_masks(n=2, h=8, w=9):
    m = np.zeros((n, h, w), dtype=bool)
    m[:, 2:5, 3:6] = True
    return m


def test_pointing_game_inside_outside_and_tolerance():
    masks = box_masks()
    maps = np.zeros((2, 8, 9))
    maps[0, 3, 4] = 1.0  # inside
    maps[1, 7, 8] = 1.0  # outside; nearest mask pixel (4, 5): distance sqrt(9 + 9) = 4.24
    np.testing.assert_array_equal(pointing_game(maps, masks), [1.0, 0.0])
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=4.2), [1.0, 0.0])
    np.testing.assert_array_equal(pointing_game(maps, masks, tolerance=4.25), [1.0, 1.0])
    # a negative-only peak does not count: the signed maximum is used
    signed = -maps.copy()
    signed[1, 3, 4] = 0.5
    assert pointing_game(signed, masks)[1] == 1.0


def test_pointing_game_ties_pick_first_row_major_pixel():
    masks = box_masks(n=1)
    assert pointing_game(np.ones((1, 8, 9)), masks)[0] == 0.0  # (0, 0) is outside
    inside_first = np.zeros((1, 8, 9))
    inside_first[0, 2, 3] = inside_first[0, 7, 8] = 1.0
    assert pointing_game(inside_first, masks)[0] == 1.0


def test_energy_pointing_game():
    masks = box_masks()
    np.testing.assert_allclose(energy_pointing_game(masks.astype(np.float32), masks), [1.0, 1.0])
    maps = np.zeros((2, 8, 9))
    maps[0, 3, 4] = 3.0
    maps[0, 0, 0] = 1.0
    maps[0, 7, 7] = -5.0  # negative energy is ignored
    maps[1] = 1.0
    np.testing.assert_allclose(energy_pointing_game(maps, masks), [0.75, 9 / 72])
    assert np.isnan(energy_pointing_game(-np.ones((1, 8, 9)), masks[:1]))[0]


def test_localisation_validation():
    masks = box_masks()
    maps = np.ones((2, 8, 9))
    with pytest.raises(InputError, match="astype\\(bool\\)"):
        pointing_game(maps, masks.astype(np.uint8))
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(InputError, match=r"\[1\] are empty"):
        energy_pointing_game(maps, empty)
    with pytest.raises(InputError, match="shape"):
        pointing_game(maps, masks[:, :4])
    with pytest.raises(InputError, match="tolerance"):
        pointing_game(maps, masks, tolerance=-1)


# ----------------------------------------------------------------------------- complexity
def test_gini_sparseness():
    one_hot = np.zeros((1, 6, 5))
    one_hot[0, 2, 3] = -4.0
    n = 30
    np.testing.assert_allclose(sparseness(one_hot), [(n - 1) / n])
    np.testing.assert_allclose(sparseness(np.full((2, 6, 5), 0.3)), [0.0, 0.0], atol=1e-12)
    v = np.random.default_rng(0).normal(size=(3, 6, 5))
    # Chalasani et al.'s form: 1 - 2 sum_k (v_(k) / |v|_1) (n - k + 1/2) / n
    s = np.sort(np.abs(v).reshape(3, -1), axis=1)
    k = np.arange(1, n + 1)
    expected = 1 - 2 * ((s / s.sum(axis=1, keepdims=True)) * (n - k + 0.5) / n).sum(axis=1)
    np.testing.assert_allclose(sparseness(v), expected)
    np.testing.assert_allclose(sparseness(7 * v), sparseness(v))
    assert np.isnan(sparseness(np.zeros((1, 3, 3))))[0]


def test_entropy_complexity():
    np.testing.assert_allclose(complexity(np.full((1, 4, 6), -2.0)), [np.log(24)])
    one_hot = np.zeros((1, 4, 6))
    one_hot[0, 1, 1] = 1.0
    np.testing.assert_allclose(complexity(one_hot), [0.0])
    two = np.zeros((1, 4, 6))
    two[0, 0, :2] = [1.0, -3.0]
    p = np.array([0.25, 0.75])
    np.testing.assert_allclose(complexity(two), [-(p * np.log(p)).sum()])
    assert np.isnan(complexity(np.zeros((1, 2, 2))))[0]


# ----------------------------------------------------------------------------- agreement
def test_rankdata_average_ties_matches_scipy():
    x = np.array([[30, 10, 20, 20, 10], [1, 1, 1, 1, 1], [5, 4, 3, 2, 1]], dtype=float)
    expected = np.array([[5, 1.5, 3.5, 3.5, 1.5], [3, 3, 3, 3, 3], [5, 4, 3, 2, 1]])
    np.testing.assert_array_equal(rankdata(x), expected)
    stats = pytest.importorskip("scipy.stats")
    y = np.random.default_rng(0).integers(0, 5, size=(4, 50)).astype(float)
    np.testing.assert_array_equal(rankdata(y), stats.rankdata(y, axis=1))


def test_spearman():
    a = np.random.default_rng(0).normal(size=(3, 5, 6))
    np.testing.assert_allclose(spearman(a, a), 1.0)
    np.testing.assert_allclose(spearman(a, -a), -1.0)
    np.testing.assert_allclose(spearman(a, np.exp(a)), 1.0)  # rank-based: any increasing map
    np.testing.assert_allclose(spearman(a, -a, absolute=True), 1.0)
    c = np.array(a)
    c[1] = 0.0
    assert np.isnan(spearman(a, c)[1]) and not np.isnan(spearman(a, c)[0])
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(4, 6, 7)), 1)  # many ties
    y = np.round(x + rng.normal(size=x.shape), 1)
    expected = [stats.spearmanr(x[i].ravel(), y[i].ravel())[0] for i in range(4)]
    np.testing.assert_allclose(spearman(x, y), expected, atol=1e-12)
    expected_abs = [stats.spearmanr(np.abs(x[i]).ravel(), np.abs(y[i]).ravel())[0] for i in range(4)]
    np.testing.assert_allclose(spearman(x, y, absolute=True), expected_abs, atol=1e-12)


def test_topk_iou():
    a = np.arange(20.0).reshape(1, 4, 5)
    np.testing.assert_allclose(topk_iou(a, a, fraction=0.2), [1.0])
    np.testing.assert_allclose(topk_iou(a, -a, fraction=0.2), [0.0])  # top 4 vs bottom 4
    b = a.copy()
    b[0, 3, 4] = -1.0  # drop the best pixel of a from b's top 4: 3 shared, union 5
    np.testing.assert_allclose(topk_iou(a, b, fraction=0.2), [3 / 5])
    np.testing.assert_allclose(topk_iou(a, -a, fraction=0.2, absolute=True), [1.0])
    np.testing.assert_allclose(topk_iou(a, -a, fraction=1.0), [1.0])
    with pytest.raises(InputError, match="pass 0.1"):
        topk_iou(a, a, fraction=10)


def test_ssim():
    rng = np.random.default_rng(0)
    a = rng.random((3, 16, 18))
    b = a + 0.3 * rng.random((3, 16, 18))
    np.testing.assert_allclose(ssim(a, a), 1.0)
    np.testing.assert_allclose(ssim(a, 5 * a + 2), 1.0)  # normalised: scale-free
    assert np.all(ssim(a, b) < 1.0) and np.all(ssim(a, b) > ssim(a, rng.random((3, 16, 18))))
    np.testing.assert_allclose(ssim(np.zeros((1, 5, 5)), np.ones((1, 5, 5))), [1.0])  # both constant
    small = ssim(a[:, :5, :4], b[:, :5, :4])  # window shrinks to 3 for a 5 x 4 map
    assert small.shape == (3,) and np.all(np.abs(small) <= 1)
    with pytest.raises(InputError, match="normalize=False"):
        ssim(a, b, data_range=1.0)
    metrics = pytest.importorskip("skimage.metrics")
    lo, hi = a.min(axis=(1, 2), keepdims=True), a.max(axis=(1, 2), keepdims=True)
    an = (a - lo) / (hi - lo)
    bn = (b - b.min(axis=(1, 2), keepdims=True)) / np.ptp(b, axis=(1, 2), keepdims=True)
    ref = [metrics.structural_similarity(an[i], bn[i], gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0) for i in range(3)]
    np.testing.assert_allclose(ssim(a, b), ref, atol=1e-7)
    ref = [metrics.structural_similarity(a[i], b[i], gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=2.0) for i in range(3)]
    np.testing.assert_allclose(ssim(a, b, normalize=False, data_range=2.0), ref, atol=1e-7)


def test_agreement_table():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 12, 12))
    maps = {"tf": a, "tf-explain": 2 * a + 0.01 * rng.normal(size=a.shape), "shap": rng.normal(size=a.shape)}
    table = agreement_table(maps)
    assert table.names == ("tf", "tf-explain", "shap")
    for metric, m in table.matrices.items():
        assert m.shape == (3, 3)
        np.testing.assert_allclose(m, m.T)
        np.testing.assert_allclose(np.diag(m), 1.0)
        assert table.per_image[metric].shape == (3, 3, 4)
    assert table.matrices["spearman"][0, 1] > 0.99 and abs(table.matrices["spearman"][0, 2]) < 0.3
    np.testing.assert_allclose(table.matrices["spearman"][0, 2], spearman(a, maps["shap"]).mean())
    assert "| tf |" in table.to_markdown("topk_iou")
    with pytest.raises(InputError, match="same shape"):
        agreement_table({"a": a, "b": a[:, :6]})
    with pytest.raises(InputError, match="choose among"):
        agreement_table(maps, metrics=["pearson"])
    with pytest.raises(InputError, match="at least two"):
        agreement_table({"a": a})


def test_a_predict_writing_into_its_images_changes_neither_them_nor_the_values():
    """Regression: ``images -= 0.5`` inside ``predict`` changed the caller's images (a batch was a view of them) and
    pixel flipping's values (its cumulative copies were changed between steps: -181 against 584)."""
    from xaikit.metrics import faithfulness_correlation, pixel_flipping, region_perturbation, road

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 6, 6, 3)).astype(np.float32)
    maps = rng.uniform(0, 1, (2, 6, 6)).astype(np.float32)
    weights = rng.normal(size=(6 * 6 * 3, 3)).astype(np.float32)

    def writing(v):
        v -= 0.5
        return v.reshape(len(v), -1) @ weights

    def reading(v):
        return (v - 0.5).reshape(len(v), -1) @ weights

    for metric, params in [(pixel_flipping, {"features_in_step": 6}), (deletion, {"steps": 4}),
                           (faithfulness_correlation, {"subset_size": 4, "n_samples": 5, "seed": 0}),
                           (region_perturbation, {"patch_size": 3}), (road, {"fractions": [0.2, 0.5], "seed": 0})]:
        given = images.copy()
        got = metric(writing, given, maps, [0, 1], **params)
        expected = metric(reading, images, maps, [0, 1], **params)
        np.testing.assert_array_equal(given, images, err_msg=metric.__name__)
        np.testing.assert_allclose(got.values, expected.values, rtol=1e-6, err_msg=metric.__name__)
