"""Parity of xaikit.metrics with Quantus 0.6 and Captum 0.9 on the same maps and model.

A tiny torch model on two one-channel 8 x 8 images (on one channel a pixel is a feature in
both libraries). Where a reference draws random numbers from NumPy's global generator or
from torch, the test replays xaikit's documented draws into it, so the values must agree
to float precision. Definitions that differ are stated in docs/evaluation.md and pinned
by the documented relationship.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
quantus = pytest.importorskip("quantus")

import xaikit as xk  # noqa: E402
import xaikit.metrics as M  # noqa: E402
from xaikit.metrics.faithfulness import random_subset  # noqa: E402
from xaikit.metrics.robustness import perturbation  # noqa: E402

N, H, W, K = 2, 8, 8, 3
SEED = 3


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * H * W, K))
    return model.eval()


MODEL = _model()
X = np.random.default_rng(0).random((N, 1, H, W)).astype(np.float32)             # NCHW, as Quantus takes it
X_NHWC = np.moveaxis(X, 1, -1).astype(np.float32)
A = np.random.default_rng(1).standard_normal((N, H, W))          # continuous maps: no ties
Y = np.array([0, 2])


def predict(images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return MODEL(torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, 1), dtype=np.float32))).numpy()


def gradient(images_nchw: np.ndarray, targets: np.ndarray) -> np.ndarray:
    x = torch.tensor(np.asarray(images_nchw, np.float32), requires_grad=True)
    with torch.enable_grad():                                   # Captum calls it under no_grad
        out = MODEL(x)
        out[torch.arange(len(x)), torch.as_tensor(targets)].sum().backward()
    return x.grad.numpy()


def explain_fn(images_nhwc: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return gradient(np.moveaxis(images_nhwc, -1, 1), targets)[:, 0]


def quantus_explain(model, inputs, targets, **kwargs) -> np.ndarray:
    return gradient(inputs, targets)


def run(metric, a=A, **extra) -> np.ndarray:
    with torch.no_grad():
        out = metric(model=MODEL, x_batch=X, y_batch=Y, a_batch=a[:, None], device="cpu", softmax=False, **extra)
    return np.asarray(out, dtype=np.float64)


def q(cls, **kwargs):
    return cls(disable_warnings=True, normalise=False, abs=False, **kwargs)


# ----------------------------------------------------------------------------- faithfulness
def test_faithfulness_correlation_matches_quantus_on_replayed_subsets(monkeypatch):
    n_samples, size = 6, 10
    draws = iter([random_subset(SEED, i, s, H * W, size) for s in range(n_samples) for i in range(N)])
    monkeypatch.setattr(np.random, "choice", lambda *a, **k: next(draws))  # Quantus: runs outer, images inner
    ref = run(q(quantus.FaithfulnessCorrelation, nr_runs=n_samples, subset_size=size, perturb_baseline=0.0,
                return_aggregate=False))
    ours = M.faithfulness_correlation(predict, X_NHWC, A, Y, subset_size=size, n_samples=n_samples, seed=SEED)
    np.testing.assert_allclose(ours.values, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("step", [2, 8])   # Quantus needs a step that divides H * W
def test_ordered_removal_metrics_match_quantus(step):
    est = M.faithfulness_estimate(predict, X_NHWC, A, Y, features_in_step=step)
    np.testing.assert_allclose(est.values, run(q(quantus.FaithfulnessEstimate, features_in_step=step,
                                                 perturb_baseline=0.0)), rtol=1e-5, atol=1e-6)
    flip = M.pixel_flipping(predict, X_NHWC, A, Y, features_in_step=step)
    np.testing.assert_allclose(flip.curves, run(q(quantus.PixelFlipping, features_in_step=step,
                                                  perturb_baseline=0.0)), rtol=1e-5, atol=1e-6)
    # Quantus's own AUC calls np.trapz, gone in NumPy 2: the area is pinned on the curve
    np.testing.assert_allclose(flip.values, [np.trapezoid(c) for c in flip.curves], rtol=1e-12)
    mc = M.monotonicity_correlation(predict, X_NHWC, np.abs(A), Y, features_in_step=step, n_samples=1,
                                    baseline=0.0)
    with torch.no_grad():
        ref = quantus.MonotonicityCorrelation(disable_warnings=True, features_in_step=step, nr_samples=1,
                                              perturb_baseline=0.0, normalise=False)(
            model=MODEL, x_batch=X, y_batch=Y, a_batch=A[:, None], device="cpu", softmax=False)
    np.testing.assert_allclose(mc.values, ref, rtol=1e-5, atol=1e-6)  # Quantus's default abs=True


def test_monotonicity_differs_from_quantus_as_documented():
    # Quantus 0.6 "puts back" pixels by writing the baseline into the baseline image, so its
    # curve is flat and every map -- even its negation -- is monotonic. xaikit follows Arya et al.
    for maps in (A, -A):
        np.testing.assert_array_equal(run(q(quantus.Monotonicity, features_in_step=8, perturb_baseline=0.0), a=maps),
                                      [1.0, 1.0])
    ours = M.monotonicity(predict, X_NHWC, A, Y, features_in_step=8)
    assert ours.curves.shape == (N, 8) and np.ptp(ours.curves, axis=1).min() > 0   # the pixels do come back
    np.testing.assert_allclose(ours.curves[:, -1], predict(X_NHWC)[np.arange(N), Y], rtol=1e-6)
    np.testing.assert_array_equal(ours.values, np.all(np.diff(ours.curves, axis=1) >= 0, axis=1))


@pytest.mark.parametrize("patch", [2, 4])
def test_patch_metrics_match_quantus(patch):
    for order in ("morf", "lerf"):
        ours = M.region_perturbation(predict, X_NHWC, A, Y, patch_size=patch, regions=5, order=order)
        ref = run(q(quantus.RegionPerturbation, patch_size=patch, regions_evaluation=5, order=order,
                    perturb_baseline=0.0))
        np.testing.assert_allclose(ours.curves, ref, rtol=1e-5, atol=1e-6)
        r = ref.shape[1]                                   # min(5, number of patches)
        np.testing.assert_allclose(ours.values, ref.sum(axis=1) / (r + 1), rtol=1e-5, atol=1e-7)  # AOPC, k = 0..R
    sel = M.selectivity(predict, X_NHWC, A, Y, patch_size=patch)
    np.testing.assert_allclose(sel.curves, run(q(quantus.Selectivity, patch_size=patch, perturb_baseline=0.0)),
                               rtol=1e-5, atol=1e-6)


def test_road_matches_quantus_without_noise():
    from quantus.functions.perturb_func import noisy_linear_imputation as quantus_imputation

    from xaikit.metrics.road import noisy_linear_imputation

    removed = np.zeros((H, W), bool)
    removed[[0, 3, 3, 4, 7, 7], [0, 3, 4, 4, 5, 7]] = True           # corners, a block, a border pixel
    filled = noisy_linear_imputation(X_NHWC[0], removed, noise=0.0)
    ref = quantus_imputation(X[0], np.flatnonzero(removed), noise=0.0)
    np.testing.assert_allclose(filled[..., 0], ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(filled[~removed], X_NHWC[0][~removed])
    percentages = [10, 30, 50, 70, 90]
    res = M.road(predict, X_NHWC, A, Y, fractions=[p / 100 for p in percentages], noise=0.0, seed=0)
    with torch.no_grad():
        ref = q(quantus.ROAD, percentages=percentages, noise=0.0, return_aggregate=False)(
            model=MODEL, x_batch=X, y_batch=Y, a_batch=A[:, None], device="cpu", softmax=False)
    np.testing.assert_array_equal(res.correct.mean(axis=0), [ref[p] for p in percentages])  # accuracy per %


def test_infidelity_matches_captum_on_replayed_noise():
    from captum.metrics import infidelity

    n_samples, std = 5, 0.1
    noise = np.stack([perturbation("gaussian", std, SEED, i, s, (H, W, 1)) for i in range(N)
                      for s in range(n_samples)])                # repeat_interleave order: image-major
    noise_nchw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noise, -1, 1)))

    def perturb(inputs):
        return noise_nchw, inputs - noise_nchw

    for normalize in (False, True):
        ref = infidelity(MODEL, perturb, torch.from_numpy(X), torch.from_numpy(A[:, None].astype(np.float32)),
                         target=torch.as_tensor(Y), n_perturb_samples=n_samples, normalize=normalize).numpy()
        ours = M.infidelity(predict, X_NHWC, A, Y, noise_std=std, n_samples=n_samples, seed=SEED,
                            normalize=normalize)
        np.testing.assert_allclose(ours.values, ref, rtol=2e-4, atol=1e-9)


# ----------------------------------------------------------------------------- robustness
def _uniform_replay(radius, n_samples):
    return [np.stack([perturbation("uniform", radius, SEED, i, s, (H, W, 1)) for i in range(N)])
            for s in range(n_samples)]


def test_max_and_avg_sensitivity_match_quantus_and_captum():
    from captum.metrics import sensitivity_max

    radius, n_samples = 0.05, 4
    ours_max = M.max_sensitivity(explain_fn, X_NHWC, Y, radius=radius, n_samples=n_samples, seed=SEED)
    ours_avg = M.avg_sensitivity(explain_fn, X_NHWC, Y, radius=radius, n_samples=n_samples, seed=SEED)
    for cls, ours in ((quantus.MaxSensitivity, ours_max), (quantus.AvgSensitivity, ours_avg)):
        steps = iter(_uniform_replay(radius, n_samples))

        def replay(arr, indices=None, indexed_axes=None, steps=steps, **kwargs):
            return arr + next(steps).reshape(N, -1).astype(arr.dtype)

        ref = np.asarray(q(cls, nr_samples=n_samples, perturb_func=replay)(
            model=MODEL, x_batch=X, y_batch=Y, a_batch=gradient(X, Y), device="cpu", softmax=False,
            explain_func=quantus_explain))
        np.testing.assert_allclose(ours.values, ref, rtol=1e-5)

    noise = np.stack([perturbation("uniform", radius, SEED, i, s, (H, W, 1)) for i in range(N)
                      for s in range(n_samples)])
    noise_t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noise, -1, 1)))

    def captum_explain(inputs, target):
        inputs = inputs[0] if isinstance(inputs, tuple) else inputs
        return (torch.from_numpy(gradient(inputs.detach().numpy(), target.numpy())),)  # Captum wants a tuple

    ref = sensitivity_max(captum_explain, torch.from_numpy(X), perturb_func=lambda x, r: x + noise_t,
                          n_perturb_samples=n_samples, target=torch.as_tensor(Y)).numpy()
    np.testing.assert_allclose(ours_max.values, ref, rtol=1e-5)


def test_local_lipschitz_matches_quantus():
    std, n_samples = 0.1, 3
    steps = iter([np.stack([perturbation("gaussian", std, SEED, i, s, (H, W, 1)) for i in range(N)])
                  for s in range(n_samples)])

    def replay(arr, indices=None, indexed_axes=None, **kwargs):
        return arr + next(steps).reshape(N, -1).astype(arr.dtype)

    ref = np.asarray(q(quantus.LocalLipschitzEstimate, nr_samples=n_samples, perturb_func=replay)(
        model=MODEL, x_batch=X, y_batch=Y, a_batch=gradient(X, Y), device="cpu", softmax=False,
        explain_func=quantus_explain))
    ours = M.local_lipschitz_estimate(explain_fn, X_NHWC, Y, noise_std=std, n_samples=n_samples, seed=SEED)
    np.testing.assert_allclose(ours.values, ref, rtol=1e-5)


# ----------------------------------------------------------------------------- localisation, complexity
def test_mask_metrics_match_quantus():
    masks = np.zeros((N, H, W), bool)
    masks[0, 2:5, 1:6] = True
    masks[1, 4:, 4:] = True
    s_batch = masks[:, None].astype(np.float64)

    def ref(cls, batch_size=64, **kw):
        return np.asarray(cls(disable_warnings=True, **kw)(model=MODEL, x_batch=X, y_batch=Y, a_batch=A[:, None],
                                                           s_batch=s_batch, device="cpu", batch_size=batch_size),
                          dtype=np.float64)

    np.testing.assert_allclose(M.relevance_mass_accuracy(A, masks),
                               ref(quantus.RelevanceMassAccuracy, abs=False, normalise=False), rtol=1e-10)
    np.testing.assert_allclose(M.relevance_rank_accuracy(A, masks),
                               ref(quantus.RelevanceRankAccuracy, abs=False, normalise=False), rtol=1e-10)
    np.testing.assert_allclose(M.top_k_intersection(A, masks, k=10),
                               ref(quantus.TopKIntersection, k=10, abs=False, normalise=False), rtol=1e-10)
    np.testing.assert_allclose(M.localisation_auc(A, masks), ref(quantus.AUC, abs=False, normalise=False),
                               rtol=1e-10)
    # Quantus's default abs=True: the share of |a| (the paper keeps the positive part: np.clip here)
    np.testing.assert_allclose(M.attribution_localisation(np.abs(A), masks),
                               ref(quantus.AttributionLocalisation, normalise=False), rtol=1e-7)
    # EffectiveComplexity with its defaults (abs, division by max|a|) is the relative count -- per image:
    # Quantus divides by the largest |a| of the whole batch, so its count depends on the other images
    ours = M.effective_complexity(A, eps=0.3)
    for i in range(N):
        alone = quantus.EffectiveComplexity(disable_warnings=True, eps=0.3)(
            model=MODEL, x_batch=X[i:i + 1], y_batch=Y[i:i + 1], a_batch=A[i:i + 1, None], device="cpu")
        np.testing.assert_array_equal(ours[i], alone[0])
    together = ref(quantus.EffectiveComplexity, eps=0.3)
    magnitudes = np.abs(A).reshape(N, -1)
    np.testing.assert_array_equal(together, (magnitudes > 0.3 * magnitudes.max()).sum(axis=1))


def test_irof_and_pixel_flipping_auc_match_quantus_with_trapz_restored(monkeypatch):
    from xaikit.metrics.faithfulness import superpixels

    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)   # Quantus 0.6 calls np.trapz (gone in NumPy 2)
    ours = M.irof(predict, X_NHWC, A, Y, baseline=0.0)
    assert ours.params["n_segments"] == [len(np.unique(superpixels(X_NHWC[i]))) for i in range(N)]
    probs = lambda x: np.exp(predict(x))                              # noqa: E731 - IROF divides by a positive score
    ours = M.irof(probs, X_NHWC, A, Y, baseline=0.0)
    model = torch.nn.Sequential(MODEL, _Exp()).eval()
    with torch.no_grad():
        ref = q(quantus.IROF, perturb_baseline=0.0, return_aggregate=False)(
            model=model, x_batch=X, y_batch=Y, a_batch=A[:, None], device="cpu", softmax=False)
    np.testing.assert_allclose(ours.values, ref, rtol=1e-5)
    flip = M.pixel_flipping(predict, X_NHWC, A, Y, features_in_step=4)
    np.testing.assert_allclose(flip.values, run(q(quantus.PixelFlipping, features_in_step=4, perturb_baseline=0.0,
                                                  return_auc_per_sample=True)), rtol=1e-5)


class _Exp(torch.nn.Module):
    def forward(self, x):
        return torch.exp(x)


def test_non_sensitivity_matches_quantus_per_image():
    maps = A.copy()
    maps[:, :2] = 0.0                                                   # unattributed rows: some violations
    ours = M.non_sensitivity(predict, X_NHWC, maps, Y, eps=1e-3)
    for i in range(N):
        with torch.no_grad():
            ref = quantus.NonSensitivity(disable_warnings=True, eps=1e-3, perturb_baseline=0.0)(
                model=MODEL, x_batch=X[i:i + 1], y_batch=Y[i:i + 1], a_batch=maps[i:i + 1, None], device="cpu",
                softmax=False)
        assert ours.values[i] == ref[0]
    assert ours.values.min() > 0


def test_relative_stability_matches_quantus():
    radius, n_samples = 0.05, 3
    for cls, extra in ((quantus.RelativeInputStability, {}), (quantus.RelativeOutputStability, {"predict": predict})):
        steps = iter(_uniform_replay(radius, n_samples))

        def replay(arr, indices=None, indexed_axes=None, steps=steps, **kwargs):
            return arr + next(steps).reshape(N, -1).astype(arr.dtype)

        fn = M.relative_input_stability if not extra else M.relative_output_stability
        ours = fn(explain_fn, X_NHWC, Y, radius=radius, n_samples=n_samples, seed=SEED, **extra)
        ref = np.asarray(q(cls, nr_samples=n_samples, perturb_func=replay)(
            model=MODEL, x_batch=X, y_batch=Y, a_batch=gradient(X, Y), device="cpu", softmax=False,
            explain_func=quantus_explain))
        np.testing.assert_allclose(ours.values, ref, rtol=1e-4)


@pytest.mark.parametrize("steps", [3, 4])                   # Quantus's grid stays within [-W, W] only for some
def test_continuity_matches_quantus(steps):
    ref = run(q(quantus.Continuity, nr_steps=steps, return_aggregate=False), explain_func=quantus_explain)
    ours = M.continuity(explain_fn, X_NHWC, Y, n_steps=steps, batch_size=3)   # 3: chunks split an image's steps
    np.testing.assert_allclose(ours.values, ref, rtol=1e-5)
    assert ours.params["shifts"] == ([-3, 2, 7] if steps == 3 else [-4, 0, 4, 8])


# ----------------------------------------------------------------------------- input invariance
def _unpadded_model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * (H - 2) * (W - 2), K)).eval()


def _quantus_maps(kind):
    def explain(model, inputs, targets, **kwargs):
        x = torch.tensor(np.asarray(inputs, np.float32), requires_grad=True)
        with torch.enable_grad():
            out = model(x)
            out[torch.arange(len(x)), torch.as_tensor(targets)].sum().backward()
        return x.grad.numpy() * (np.asarray(inputs) if kind == "gradient_x_input" else 1.0)
    return explain


def test_input_invariance_shifts_like_quantus_and_agrees_on_the_verdict():
    from xaikit_torch.input_shift import shift_input

    from xaikit.invariance import input_invariance_check

    model = _unpadded_model()
    shift = -1.0
    ours_model = shift_input(model, shift, X)
    ref_model = quantus.helpers.model.pytorch_model.PyTorchModel(model, channel_first=True) \
        .add_mean_shift_to_first_layer(shift, X[:1].shape)
    torch.testing.assert_close(ours_model[0].bias, ref_model[0].bias, rtol=0, atol=1e-6)
    assert torch.equal(model[0].bias, _unpadded_model()[0].bias)          # the model itself is unchanged

    def shift_all(arr, indices=None, indexed_axes=None, input_shift=shift, **kwargs):
        return arr + input_shift                      # Quantus 0.6 leaves each image's first value unshifted

    for method, invariant in (("vanilla_gradients", True), ("gradient_x_input", False)):
        ours = input_invariance_check(model, X, method, shift=shift, targets=Y, batch_size=1)
        verdict = quantus.InputInvariance(disable_warnings=True, input_shift=shift, perturb_func=shift_all)(
            model=model, x_batch=X, y_batch=Y, a_batch=_quantus_maps(method)(model, X, Y),
            explain_func=_quantus_maps(method), device="cpu")
        assert list(verdict) == [invariant] * N
        assert (ours.values < 1e-5).all() if invariant else (ours.values > 0.1).all()
        assert ours.params["method"] == method and ours.params["output_gap"] < 1e-5


def test_input_invariance_refuses_a_zero_padded_first_layer():
    from xaikit.invariance import input_invariance_check

    with pytest.raises(xk.ModelError, match="pads with zeros"):
        input_invariance_check(MODEL, X, "vanilla_gradients", targets=Y)


# ----------------------------------------------------------------------------- smooth and efficient MPRT
class QuantusRandomizer:
    """A Randomizer re-initialising layers as Quantus does: torch.manual_seed(seed + 1), then reset_parameters."""

    def __init__(self, model: torch.nn.Module, seed: int) -> None:
        self.model, self.seed = model, seed
        self.state = {k: v.clone() for k, v in model.state_dict().items()}

    def layers(self) -> list[str]:
        return [name for name, m in self.model.named_modules() if hasattr(m, "reset_parameters")][::-1]

    def randomize(self, layer: str, seed: int) -> None:
        torch.manual_seed(self.seed + 1)
        dict(self.model.named_modules())[layer].reset_parameters()

    def restore(self) -> None:
        self.model.load_state_dict(self.state)


def model_gradient(model, inputs, targets, **kwargs) -> np.ndarray:
    x = torch.tensor(np.asarray(inputs, np.float32), requires_grad=True)
    with torch.enable_grad():
        out = model(x)
        out[torch.arange(len(x)), torch.as_tensor(targets)].sum().backward()
    return x.grad.numpy()


def _randomised_pair(seed):
    import copy

    work = copy.deepcopy(MODEL)
    explain = lambda xs, ts: model_gradient(work, np.moveaxis(xs, -1, 1), ts)[:, 0]  # noqa: E731
    return explain, QuantusRandomizer(work, seed)


def test_smooth_mprt_matches_quantus_on_its_weights_and_replayed_noise(monkeypatch):
    from xaikit.metrics.randomisation import smoothing_noise

    n_samples, magnitude, qseed = 3, 0.2, 7
    calls = iter(range(10_000))

    def replay(*shape):                                 # Quantus: n_samples - 1 draws per explanation of the batch
        s = next(calls) % (n_samples - 1)
        noisy = np.stack([smoothing_noise(SEED, i, s, X_NHWC[i], magnitude, n_samples) for i in range(N)])
        x = X_NHWC.astype(np.float64)
        return np.moveaxis((noisy - x) / (magnitude * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))))[:, None, None,
                           None], -1, 1)

    monkeypatch.setattr(np.random, "randn", replay)
    ref = quantus.SmoothMPRT(disable_warnings=True, nr_samples=n_samples, noise_magnitude=magnitude, seed=qseed,
                             layer_order="bottom_up")(model=MODEL, x_batch=X, y_batch=Y, a_batch=None,
                                                      explain_func=model_gradient, device="cpu")
    explain, randomizer = _randomised_pair(qseed)
    ours = M.smooth_mprt(explain, randomizer, X_NHWC, Y, n_samples=n_samples, noise_magnitude=magnitude, seed=SEED,
                         batch_size=3)
    assert list(ours.layers) == [name for name in ref if name != "original"] == ["0", "3"]
    np.testing.assert_allclose(ours.spearman_abs, [ref["0"], ref["3"]], atol=1e-6)
    assert ours.params["n_samples"] == n_samples and ours.params["order"] == "bottom_up"


def test_efficient_mprt_matches_quantus_on_its_weights():
    qseed, bins = 11, 10
    ref = quantus.EfficientMPRT(disable_warnings=True, seed=qseed, complexity_func_kwargs={"n_bins": bins})(
        model=MODEL, x_batch=X, y_batch=Y, a_batch=None, explain_func=model_gradient, device="cpu")
    explain, randomizer = _randomised_pair(qseed)
    ours = M.efficient_mprt(explain, randomizer, X_NHWC, Y, n_bins=bins, seed=SEED, batch_size=1)
    np.testing.assert_allclose(ours.values, ref, rtol=1e-9)
    assert torch.equal(randomizer.model[0].weight, MODEL[0].weight)      # restored


def test_random_logit_is_quantus_with_xaikits_ssim_on_the_same_other_classes(monkeypatch):
    """Quantus draws the other class from NumPy's global generator: replay xaikit's draw into it. Its comparison
    then differs only by the similarity: given xaikit's SSIM (on the maps reshaped back to H x W) the values are
    equal; its default is scikit-image's SSIM of each map flattened to one row of H*W values (docs/evaluation.md)."""
    from skimage.metrics import structural_similarity

    from xaikit.metrics.agreement import ssim

    ours = M.random_logit(explain_fn, X_NHWC, Y, K, attributions=A, seed=SEED)
    other = np.asarray(ours.params["other_targets"])
    assert (other != Y).all()
    index = np.where(other < Y, other, other - 1)  # the position of the other class among the classes but y
    monkeypatch.setattr(np.random, "randint", lambda *args, **kwargs: index.copy())

    def xaikit_ssim(a, b, batched=True, **kwargs):
        return list(ssim(a.reshape(-1, H, W), b.reshape(-1, H, W)))

    ref = run(quantus.RandomLogit(disable_warnings=True, normalise=False, abs=False, num_classes=K,
                                  similarity_func=xaikit_ssim), explain_func=quantus_explain)
    np.testing.assert_allclose(ours.values, ref, rtol=0, atol=1e-6)  # SSIM values; float32 and float64 maps
    default = run(q(quantus.RandomLogit, num_classes=K), explain_func=quantus_explain)
    off = explain_fn(X_NHWC, other)
    flat = [structural_similarity(a.ravel(), b.ravel(), data_range=float(np.ptp(np.concatenate([a.ravel(),
                                                                                                 b.ravel()]))))
            for a, b in zip(A, off)]
    np.testing.assert_allclose(default, flat, rtol=0, atol=1e-6)


def test_completeness_gap_is_what_quantus_compares_with_zero():
    """Quantus's Completeness is ``sum(a) == f(x) - f(baseline)`` (exact float equality); xaikit returns the gap.
    Attributions summing to the float32 score change: Quantus says complete and the gap is float32 rounding
    (xaikit subtracts the scores in float64); random maps: Quantus says not complete and the gap is the miss."""
    scores = predict(X_NHWC)[np.arange(N), Y]
    zero = predict(np.zeros_like(X_NHWC))[np.arange(N), Y]
    exact = np.zeros((N, H, W), np.float32)
    exact[:, 0, 0] = scores - zero  # float32 arithmetic, as Quantus's
    gap = M.completeness(predict, X_NHWC, exact, Y, baseline=0.0, score="output").values
    assert (run(q(quantus.Completeness, perturb_baseline=0.0), a=exact) == 1).all()
    np.testing.assert_allclose(gap, 0.0, atol=1e-6 * np.abs(scores).max())
    gap = M.completeness(predict, X_NHWC, A, Y, baseline=0.0, score="output").values
    assert (run(q(quantus.Completeness, perturb_baseline=0.0), a=A) == 0).all()
    np.testing.assert_allclose(gap, A.sum(axis=(1, 2)) - (scores - zero).astype(np.float64), rtol=1e-6)
