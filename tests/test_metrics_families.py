"""The metric families against analytic oracles on NumPy models; memory bounded by
batch_size, values independent of it, reproducible by seed (no framework needed)."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit.metrics as M
from xaikit.errors import InputError
from xaikit.metrics.road import noisy_linear_imputation

N, H, W = 2, 6, 6
RNG = np.random.default_rng(0)
X = (RNG.random((N, H, W, 1)) + 0.1).astype(np.float32)
WEIGHTS = RNG.random((H, W, 1)) + 0.05          # positive: every pixel raises class 0


def linear(images: np.ndarray) -> np.ndarray:
    """f(x) = [sum(w x), -sum(w x)]: removing pixel p lowers class 0 by exactly w_p x_p."""
    s = (np.asarray(images, np.float64) * WEIGHTS).sum(axis=(1, 2, 3))
    return np.stack([s, -s], axis=1)


def square(images: np.ndarray) -> np.ndarray:
    s = (np.asarray(images, np.float64) * WEIGHTS).sum(axis=(1, 2, 3))
    return np.stack([s ** 2, np.tanh(s)], axis=1)


EXACT = (WEIGHTS[..., 0] * X[..., 0]).astype(np.float64)   # gradient x input of class 0: exact for `linear`


class Bounded:
    """Wraps a callable, records the largest batch it was given."""

    def __init__(self, fn, limit: int) -> None:
        self.fn, self.limit, self.largest = fn, limit, 0

    def __call__(self, images, *rest):
        assert len(images) <= self.limit, f"{len(images)} images at once, batch_size is {self.limit}"
        self.largest = max(self.largest, len(images))
        return self.fn(images, *rest)


QUERYING = {
    "faithfulness_correlation": (M.faithfulness_correlation, {"subset_size": 5, "n_samples": 6, "seed": 1}),
    "faithfulness_estimate": (M.faithfulness_estimate, {"features_in_step": 4}),
    "monotonicity": (M.monotonicity, {"features_in_step": 6}),
    "monotonicity_correlation": (M.monotonicity_correlation, {"features_in_step": 6, "n_samples": 2, "seed": 1}),
    "pixel_flipping": (M.pixel_flipping, {"features_in_step": 3}),
    "region_perturbation": (M.region_perturbation, {"patch_size": 2, "regions": 5, "order": "random", "seed": 1}),
    "selectivity": (M.selectivity, {"patch_size": 3}),
    "infidelity": (M.infidelity, {"n_samples": 5, "seed": 1}),
    "road": (M.road, {"fractions": (0.2, 0.5), "seed": 1}),
    "completeness": (M.completeness, {}),
    "irof": (M.irof, {"segments": (np.arange(H * W).reshape(H, W) // 5)[None].repeat(N, 0)}),
    "sensitivity_n": (M.sensitivity_n, {"sizes": (2, 9), "n_samples": 4, "seed": 1}),
    "non_sensitivity": (M.non_sensitivity, {"eps": 0.5}),
}


@pytest.mark.parametrize("name", sorted(QUERYING))
def test_querying_metrics_bounded_by_batch_size_and_invariant(name):
    fn, params = QUERYING[name]
    maps = EXACT + 0.01 * RNG.standard_normal(EXACT.shape)
    results = []
    for batch_size in (1, 3, 64):
        bounded = Bounded(square, batch_size)
        results.append(fn(bounded, X, maps, [0, 1], batch_size=batch_size, **params))
        assert bounded.largest <= batch_size
    for other in results[1:]:
        np.testing.assert_allclose(other.values, results[0].values, rtol=1e-9, equal_nan=True)
    if "seed" in params:
        again = fn(square, X, maps, [0, 1], **params)
        np.testing.assert_array_equal(again.values, results[0].values)
        assert again.params["seed"] == params["seed"]
        moved = fn(square, X, maps, [0, 1], **{**params, "seed": 2})
        assert not np.allclose(moved.values, again.values)


ROBUST = {"max_sensitivity": M.max_sensitivity, "avg_sensitivity": M.avg_sensitivity,
          "local_lipschitz_estimate": M.local_lipschitz_estimate,
          "relative_input_stability": M.relative_input_stability,
          "relative_output_stability": lambda *a, **k: M.relative_output_stability(*a, predict=square, **k)}


def squared_map(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float64)[..., 0] ** 2


@pytest.mark.parametrize("name", sorted(ROBUST))
def test_robustness_bounded_invariant_and_seeded(name):
    fn = ROBUST[name]
    values = []
    for batch_size in (1, 4, 64):
        bounded = Bounded(squared_map, batch_size)
        values.append(fn(bounded, X, [0, 1], n_samples=3, batch_size=batch_size, seed=5).values)
    for v in values[1:]:
        np.testing.assert_allclose(v, values[0], rtol=1e-9)
    assert not np.allclose(fn(squared_map, X, [0, 1], n_samples=3, seed=6).values, values[0])


def test_continuity_bounded_invariant_and_by_hand():
    values = []
    for batch_size in (1, 4, 64):
        bounded = Bounded(squared_map, batch_size)
        values.append(M.continuity(bounded, X, [0, 1], n_steps=4, batch_size=batch_size).values)
    for v in values[1:]:
        np.testing.assert_allclose(v, values[0], rtol=1e-9)
    shifts = M.continuity(squared_map, X, [0, 1], n_steps=4).params["shifts"]
    assert shifts == [-3, 0, 3, 6]                          # (2W + 1) // 4 = 3 pixels apart from -W; 0 is skipped
    expected = []
    for image in X.astype(np.float64):
        padded = np.pad(image, ((0, 0), (W, W), (0, 0)), constant_values=image.min())   # width 3W
        ratios = []
        for d in (-3, 3, 6):
            moved = padded[:, W - d:2 * W - d]
            ratios.append(np.abs(moved ** 2 - image ** 2).sum() / np.linalg.norm(moved - image))
        expected.append(max(ratios))
    np.testing.assert_allclose(values[0], expected, rtol=1e-6)


def test_input_invariance_of_gradients_and_gradient_x_input_on_a_linear_model():
    shift = -0.5

    def gradient(images, targets):
        return np.broadcast_to(WEIGHTS[..., 0], (len(images), H, W))

    def gradient_x_input(images, targets):
        return WEIGHTS[..., 0] * np.asarray(images)[..., 0]

    # a linear first layer with its bias compensating the shift has the same gradient: the maps cannot move
    assert np.array_equal(M.input_invariance(gradient, gradient, X, [0, 1], shift=shift).values, [0.0, 0.0])
    moved = M.input_invariance(gradient_x_input, gradient_x_input, X, [0, 1], shift=shift, batch_size=1)
    expected = [np.abs(shift * WEIGHTS).max() / np.abs(EXACT[i]).max() for i in range(N)]
    np.testing.assert_allclose(moved.values, expected, rtol=1e-6)
    with pytest.raises(InputError, match="non-zero"):
        M.input_invariance(gradient, gradient, X, [0, 1], shift=0)


class ArrayRandomizer:
    """A NumPy 'model' of two weight arrays, re-drawn from the seed and restored (the Randomizer protocol)."""

    def __init__(self) -> None:
        self.weights = {"a": WEIGHTS[..., 0].copy(), "b": np.array(0.5)}
        self.original = {k: v.copy() for k, v in self.weights.items()}

    def layers(self) -> list[str]:
        return ["b", "a"]

    def randomize(self, layer: str, seed: int) -> None:
        self.weights[layer] = np.random.default_rng(seed).standard_normal(self.weights[layer].shape)

    def restore(self) -> None:
        self.weights = {k: v.copy() for k, v in self.original.items()}

    def explain(self, images, targets):
        return self.weights["a"] * np.asarray(images, np.float64)[..., 0] ** 2 + self.weights["b"]


@pytest.mark.parametrize("name", ["smooth_mprt", "efficient_mprt"])
def test_smooth_and_efficient_mprt_bounded_invariant_seeded_and_restored(name):
    def run(batch_size, seed=5):
        randomizer = ArrayRandomizer()
        bounded = Bounded(randomizer.explain, batch_size)
        extra = {"n_samples": 3, "noise_magnitude": 0.2} if name == "smooth_mprt" else {"n_bins": 8}
        res = getattr(M, name)(bounded, randomizer, X, [0, 1], seed=seed, batch_size=batch_size, **extra)
        assert randomizer.weights["a"] is not WEIGHTS and np.array_equal(randomizer.weights["a"], WEIGHTS[..., 0])
        return res.spearman_abs if name == "smooth_mprt" else res.values

    values = [run(b) for b in (1, 4, 64)]
    for v in values[1:]:
        np.testing.assert_allclose(v, values[0], rtol=1e-9)
    assert values[0].shape == ((2, N) if name == "smooth_mprt" else (N,))
    assert not np.allclose(run(4, seed=6), values[0])


def test_smooth_mprt_of_one_sample_is_mprt_bottom_up_and_efficient_mprt_is_zero_without_the_weights():
    randomizer = ArrayRandomizer()
    res = M.smooth_mprt(randomizer.explain, randomizer, X, [0, 1], n_samples=1, seed=0)
    assert res.layers == ("a", "b")                       # from the input up: the reverse of layers()
    plain = M.cascading_randomisation(randomizer.explain, randomizer, X, [0, 1], layers=["a", "b"], seed=0)
    np.testing.assert_allclose(res.spearman_abs, plain.spearman_abs, rtol=1e-6)   # one sample: no smoothing
    edge = M.efficient_mprt(lambda xs, ts: np.asarray(xs)[..., 0] ** 2, ArrayRandomizer(), X, [0, 1], seed=0)
    assert np.array_equal(edge.values, [0.0, 0.0])
    assert edge.params["entropy_original"] == edge.params["entropy_randomised"]


# ----------------------------------------------------------------------------- oracles
def test_faithfulness_of_the_exact_attribution_of_a_linear_model():
    # removing a set S lowers the score by exactly sum_S a: every correlation is 1, infidelity and gap 0
    assert np.allclose(M.faithfulness_correlation(linear, X, EXACT, 0, subset_size=7, n_samples=8, seed=0).values, 1)
    assert np.allclose(M.faithfulness_estimate(linear, X, EXACT, 0, features_in_step=2).values, 1)
    sens_n = M.sensitivity_n(linear, X, EXACT, 0, sizes=(1, 5, 20), n_samples=6, seed=0)
    assert sens_n.curves.shape == (N, 3) and np.allclose(sens_n.curves, 1) and sens_n.params["sizes"] == [1, 5, 20]
    # every pixel matters to a linear model with positive weights: an all-zero row of the map is a violation
    zeroed = EXACT.copy()
    zeroed[:, 0] = 0
    np.testing.assert_array_equal(M.non_sensitivity(linear, X, zeroed, 0, eps=1e-9).values, [W, W])
    assert np.allclose(M.infidelity(linear, X, WEIGHTS[None, ..., 0].repeat(N, 0), 0, seed=0).values, 0, atol=1e-9)
    assert np.allclose(M.completeness(linear, X, EXACT, 0).values, 0, atol=1e-9)
    # putting pixels back only raises class 0
    assert np.array_equal(M.monotonicity(linear, X, EXACT, 0, features_in_step=4).values, [1.0, 1.0])
    assert np.array_equal(M.monotonicity(linear, X, EXACT, 1, features_in_step=4).values, [0.0, 0.0])


def test_pixel_flipping_and_aopc_by_hand():
    flip = M.pixel_flipping(linear, X, EXACT, 0, features_in_step=H * W // 2)
    total = EXACT.reshape(N, -1).sum(axis=1)
    top_half = np.sort(EXACT.reshape(N, -1), axis=1)[:, ::-1][:, :H * W // 2].sum(axis=1)
    np.testing.assert_allclose(flip.curves, np.stack([total - top_half, np.zeros(N)], axis=1), atol=1e-9)
    np.testing.assert_allclose(flip.values, (total - top_half) / 2, atol=1e-9)
    region = M.region_perturbation(linear, X, EXACT, 0, patch_size=3, regions=None, order="morf")
    patches = EXACT.reshape(N, 2, 3, 2, 3).sum(axis=(2, 4)).reshape(N, 4)
    drops = np.cumsum(np.sort(patches, axis=1)[:, ::-1], axis=1)
    np.testing.assert_allclose(region.curves, drops, rtol=1e-9)
    np.testing.assert_allclose(region.values, drops.sum(axis=1) / 5, rtol=1e-9)
    lerf = M.region_perturbation(linear, X, EXACT, 0, patch_size=3, regions=2, order="lerf")
    np.testing.assert_allclose(lerf.curves, np.cumsum(np.sort(patches, axis=1), axis=1)[:, :2], rtol=1e-9)


def test_noisy_linear_imputation_reproduces_a_plane_and_keeps_known_pixels():
    yy, xx = np.mgrid[0:8, 0:8]
    plane = np.stack([0.3 * yy + 0.1 * xx, 1.0 - 0.2 * xx], axis=-1).astype(np.float32)
    removed = np.zeros((8, 8), bool)
    removed[2:5, 3:6] = True                          # interior hole: the 8-neighbour mean of a plane is the plane
    np.testing.assert_allclose(noisy_linear_imputation(plane, removed, noise=0.0), plane, atol=1e-6)
    noisy = noisy_linear_imputation(plane, removed, noise=0.5, rng=np.random.default_rng(0))
    assert np.array_equal(noisy[~removed], plane[~removed]) and not np.allclose(noisy[removed], plane[removed])
    with pytest.raises(InputError, match="rng"):
        noisy_linear_imputation(plane, removed, noise=0.1)


def test_road_morf_below_lerf_for_the_exact_attribution():
    fr = (0.3, 0.6)
    morf = M.road(linear, X, EXACT, 0, fractions=fr, order="morf", noise=0.0, seed=0)
    lerf = M.road(linear, X, EXACT, 0, fractions=fr, order="lerf", noise=0.0, seed=0)
    assert morf.curves.shape == (N, 2) and np.all(morf.values < lerf.values)
    assert morf.params["fractions"] == list(fr)


def test_robustness_oracles():
    constant = M.max_sensitivity(lambda x, t: np.broadcast_to(WEIGHTS[..., 0], (len(x), H, W)), X, 0, seed=0)
    np.testing.assert_array_equal(constant.values, [0.0, 0.0])
    identity = M.local_lipschitz_estimate(lambda x, t: np.asarray(x)[..., 0], X, 0, n_samples=3, seed=0)
    np.testing.assert_allclose(identity.values, 1.0, rtol=1e-5)   # ||delta|| / ||delta||
    with pytest.raises(InputError, match="targets must be given"):
        M.max_sensitivity(squared_map, X, None)


def test_localisation_oracles_and_complexity():
    masks = np.zeros((N, H, W), bool)
    masks[:, 1:3, 2:5] = True
    perfect = masks.astype(np.float64) + 0.0
    np.testing.assert_array_equal(M.relevance_mass_accuracy(perfect, masks), [1, 1])
    np.testing.assert_array_equal(M.relevance_rank_accuracy(perfect + 1e-3 * EXACT, masks), [1, 1])
    np.testing.assert_array_equal(M.localisation_auc(perfect, masks), [1, 1])
    np.testing.assert_array_equal(M.localisation_auc(-perfect, masks), [0, 0])
    np.testing.assert_array_equal(M.localisation_auc(np.zeros((N, H, W)), masks), [0.5, 0.5])   # ties: chance
    np.testing.assert_array_equal(M.top_k_intersection(perfect + 1e-3 * EXACT, masks, k=6), [1, 1])
    np.testing.assert_allclose(M.attribution_localisation(perfect, masks, weighted=True), H * W / 6)
    np.testing.assert_array_equal(M.effective_complexity(perfect, eps=0.5), [6, 6])
    with pytest.raises(InputError, match="k must"):
        M.top_k_intersection(perfect, masks, k=H * W + 1)


def test_random_logit_of_a_class_blind_method_is_one():
    blind = M.random_logit(lambda x, t: np.asarray(x)[..., 0], X, [0, 1], 2, seed=0)
    np.testing.assert_allclose(blind.values, 1.0)
    assert blind.params["other_targets"] == [1, 0]
    sighted = M.random_logit(lambda x, t: np.asarray(x)[..., 0] * np.where(np.asarray(t) == 0, 1, -1)[:, None, None],
                             X, [0, 1], 2, seed=0)
    assert np.all(sighted.values < 0.5)


def test_roar_removing_the_informative_pixels_falls_to_chance_random_does_not():
    from xaikit.metrics.roar import degrade, remove_and_retrain

    rng = np.random.default_rng(0)
    n, size = 240, 8
    labels = rng.integers(0, 2, n)
    images = rng.normal(0.5, 0.05, (n, size, size, 1)).astype(np.float32)
    images[:, 2:4, 2:4, 0] += np.where(labels == 1, 0.4, -0.4)[:, None, None]   # the class lives in 4 pixels
    informative = np.zeros((n, size, size))
    informative[:, 2:4, 2:4] = 1.0
    oracle = informative + 0.01 * rng.random((n, size, size))

    def fit(x, y, seed):   # ridge regression on one-hot labels, "trained from scratch" in closed form
        design = np.c_[x.reshape(len(x), -1), np.ones(len(x))]
        jitter = np.random.default_rng(seed).normal(0, 1e-6, design.shape[1])
        w = np.linalg.solve(design.T @ design + 1e-2 * np.eye(design.shape[1]), design.T @ np.eye(2)[y])
        return lambda z: np.c_[z.reshape(len(z), -1), np.ones(len(z))] @ (w + jitter[:, None])

    half = n // 2
    res = remove_and_retrain(fit, images[:half], labels[:half], images[half:], labels[half:],
                             {"oracle": (oracle[:half], oracle[half:])}, fractions=(0.1, 0.5), seeds=(0, 1))
    assert res.methods == ("oracle", "random") and res.accuracy.shape == (2, 2, 2)
    assert res.baseline.min() > 0.95
    assert res.accuracy[0].max() < 0.7                     # the 4 pixels are gone at 10 % (6 of 64): chance
    assert res.accuracy[1, 0].min() > 0.9                  # 10 % random pixels rarely hit all 4
    assert "| oracle |" in res.table() and "50%" in res.table()
    degraded = degrade(images[:2], oracle[:2], 4 / 64, np.array([0.25], np.float32))
    np.testing.assert_array_equal(degraded[:, 2:4, 2:4, 0], 0.25)
    np.testing.assert_array_equal(np.delete(degraded.reshape(2, -1), [18, 19, 26, 27], axis=1),
                                  np.delete(images[:2].reshape(2, -1), [18, 19, 26, 27], axis=1))


def test_roar_with_a_mean_fill_leaks_the_class_through_the_holes_outline_imputation_does_not():
    # A dark background with one bright 2x2 object whose place is the class. A map that marks the object
    # is perfect, yet filling it with the (grey) training mean leaves a grey square where the object was:
    # the retrained model reads the class off the hole (Rong et al. 2022). Noisy linear imputation fills the
    # hole with the dark surroundings, and the class is gone.
    from xaikit.metrics.roar import degrade, remove_and_retrain

    rng = np.random.default_rng(0)
    n, size = 240, 8
    labels = rng.integers(0, 2, n)
    images = rng.normal(0.0, 0.01, (n, size, size, 1)).astype(np.float32)
    places = [(slice(1, 3), slice(1, 3)), (slice(5, 7), slice(5, 7))]
    oracle = 0.01 * rng.random((n, size, size))
    for i, label in enumerate(labels):
        images[(i, *places[label], 0)] += 0.9
        oracle[(i, *places[label])] += 1.0

    def fit(x, y, seed):   # ridge regression, trained from scratch in closed form
        design = np.c_[x.reshape(len(x), -1), np.ones(len(x))]
        w = np.linalg.solve(design.T @ design + 1e-3 * np.eye(design.shape[1]), design.T @ np.eye(2)[y])
        return lambda z: np.c_[z.reshape(len(z), -1), np.ones(len(z))] @ w

    half, maps = n // 2, {"oracle": (oracle[:n // 2], oracle[n // 2:])}
    kwargs = {"fractions": (4 / 64,), "seeds": (0,)}
    mean = remove_and_retrain(fit, images[:half], labels[:half], images[half:], labels[half:], maps, **kwargs)
    imputed = remove_and_retrain(fit, images[:half], labels[:half], images[half:], labels[half:], maps,
                                 removal="noisy_linear", **kwargs)
    assert mean.baseline[0] == 1.0 and imputed.baseline[0] == 1.0
    assert mean.accuracy[0, 0, 0] > 0.95                   # the grey square tells the class
    assert imputed.accuracy[0, 0, 0] < 0.7                 # the imputed hole does not
    assert imputed.params["removal"] == "noisy_linear" and mean.params["removal"] == "mean"

    # the imputed pixels take the surroundings' value (noise 0: exactly, on a constant image); the kept ones stay
    flat = np.full((1, size, size, 1), 0.25, np.float32)
    filled = degrade(flat, oracle[:1], 4 / 64, np.array([0.9], np.float32), removal="noisy_linear", noise=0.0)
    np.testing.assert_allclose(filled, flat, atol=1e-6)
    # the noise of image i comes from default_rng([*stream_key, i]): the same whatever the batch size
    a = degrade(images[:5], oracle[:5], 0.5, np.zeros(1, np.float32), removal="noisy_linear", stream_key=(3, 0))
    b = degrade(images[:5], oracle[:5], 0.5, np.zeros(1, np.float32), removal="noisy_linear", stream_key=(3, 0),
                batch_size=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, degrade(images[:5], oracle[:5], 0.5, np.zeros(1, np.float32),
                                         removal="noisy_linear", stream_key=(4, 0)))
    with pytest.raises(InputError, match="removal"):
        remove_and_retrain(fit, images[:half], labels[:half], images[half:], labels[half:], maps,
                           removal="blur", **kwargs)
    for bad, message in ((-0.1, "a finite number >= 0"), (float("inf"), "a finite number >= 0"), ("0.01", "a number"),
                         (True, "a number")):
        with pytest.raises(InputError, match=f"noise must be {message}"):
            remove_and_retrain(fit, images[:half], labels[:half], images[half:], labels[half:], maps,
                               removal="noisy_linear", noise=bad, **kwargs)


def test_roar_imputation_noise_differs_between_training_and_test_images_and_from_the_random_maps():
    from xaikit.metrics.controls import random_maps
    from xaikit.metrics.roar import imputation_stream_key, remove_and_retrain, retrained_accuracy

    images = np.full((4, 6, 6, 1), 0.5, np.float32)
    maps = np.random.default_rng(1).random((4, 6, 6))
    seen = {}

    def fit(x, y, seed):   # keeps what it was trained on and what it is asked to score
        seen["train"] = x

        def predict(z):
            seen["test"] = z
            return np.zeros((len(z), 2))
        return predict

    labels = np.zeros(4, np.int64)
    retrained_accuracy(fit, images, labels, images, labels, maps, maps, 0.5, 0, np.zeros(1, np.float32),
                       removal="noisy_linear", noise=0.1, noise_seed=7)
    removed = seen["train"] != 0.5
    assert removed.sum() == 4 * 18                                     # the same pixels removed in both
    assert not np.allclose(seen["train"], seen["test"])                # but not the same noise
    # on a constant image the imputed value is the constant plus the noise: the noise is readable
    noise = seen["train"][0, ..., 0][removed[0, ..., 0]] - 0.5
    drawn = np.random.default_rng([*imputation_stream_key(7, "train"), 0]).standard_normal(18) * 0.1
    np.testing.assert_allclose(np.sort(noise), np.sort(drawn), atol=1e-6)
    replayed_random_map = np.random.default_rng([7, 0]).standard_normal(18) * 0.1
    assert not np.allclose(np.sort(noise), np.sort(replayed_random_map))   # apart from random_maps' stream [7, 0]
    assert random_maps(images[:1], 7).shape == (1, 6, 6)

    res = remove_and_retrain(fit, images, labels, images, labels, {"m": (maps, maps)}, fractions=(0.5,), seeds=(0,),
                             removal="noisy_linear", random_seed=7)
    assert res.params["random_seed"] == 7 and res.params["noise"] == 0.01
