"""The Captum adapter: the xaikit contract, fidelity to Captum, and parity with the native PyTorch backend.

Parity is exact (float32 round-off) where the definitions agree (Saliency with abs=False, InputXGradient,
LayerGradCam with ReLU, Occlusion with the same windows, guided backpropagation, deconvnet, the Riemann rules of
integrated gradients); where they differ, the documented relationship is checked (abs, Captum's trapezoid, guided
Grad-CAM's nearest upsampling, NoiseTunnel / GradientShap / KernelShap / Lime on a linear model, whose answers are
known whatever the draws).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import close

import xaikit as xk

pytest.importorskip("captum")
TARGETS = [1, 2, 3]


@pytest.fixture(scope="module")
def model(torch_cnn):
    return torch_cnn


def captum(model, x, method, **params):
    return xk.explain(model, x, method=method, backend="captum", **params)


def native(model, x, method, **params):
    return xk.explain(model, x, method=method, backend="torch", **params)


def flags(model):
    return [m.training for m in model.modules()], [p.grad for p in model.parameters()]


# ----------------------------------------------------------------------------------------------- contract
def test_backend_is_registered_and_lazy():
    row = next(b for b in xk.list_backends() if b.name == "captum")
    assert row.available and row.versions["captum"]
    assert {"vanilla_gradients", "smoothgrad", "vargrad", "squaregrad", "expected_gradients", "gradcam",
            "guided_gradcam", "kernel_shap", "lime", "occlusion", "activations"} <= set(row.methods)


def test_defaults_are_captums_and_recorded(model, torch_images):
    training, grads = flags(model)
    exp = captum(model, torch_images, "vanilla_gradients")
    assert exp.score == "probability" and exp.params["abs"] is True  # the model's softmax output, |grad|
    assert exp.info["captum"] and exp.backend == "captum"
    assert (exp.channel_attributions >= 0).all()
    cam = captum(model, torch_images, "gradcam", layer="conv_b", targets=TARGETS)
    assert cam.params["relu"] is False and cam.layer_attributions.min() < 0  # LayerGradCam keeps the sign
    ig = captum(model, torch_images, "integrated_gradients", steps=8)
    assert ig.params["integration"] == "gausslegendre"
    assert flags(model) == (training, grads)  # train-mode flags and .grad left as they were


# ------------------------------------------------------------------------------------------------ parity
@pytest.mark.parametrize("score", ["probability", "logit"])
def test_saliency_without_abs_is_native_vanilla_gradients(model, torch_images, score):
    ref = native(model, torch_images, "vanilla_gradients", score=score, targets=TARGETS)
    exp = captum(model, torch_images, "vanilla_gradients", abs=False, score=score, targets=TARGETS)
    close(exp.channel_attributions, ref.channel_attributions)
    close(exp.attributions, ref.attributions)
    absolute = captum(model, torch_images, "vanilla_gradients", score=score, targets=TARGETS)
    close(absolute.channel_attributions, np.abs(ref.channel_attributions))


def test_input_x_gradient_is_native(model, torch_images):
    ref = native(model, torch_images, "gradient_x_input", score="probability", targets=TARGETS)
    close(captum(model, torch_images, "gradient_x_input", targets=TARGETS).channel_attributions,
          ref.channel_attributions)


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_modified_backward_passes_are_native(model, torch_images, method):
    ref = native(model, torch_images, method, score="probability", targets=TARGETS)
    close(captum(model, torch_images, method, targets=TARGETS).channel_attributions, ref.channel_attributions)


@pytest.mark.parametrize("captum_rule, native_rule", [("riemann_left", "left"), ("riemann_right", "right"),
                                                      ("riemann_middle", "midpoint")])
def test_integrated_gradients_riemann_rules_are_native(model, torch_images, captum_rule, native_rule):
    kw = {"steps": 6, "baseline": 0.25, "targets": TARGETS}
    exp = captum(model, torch_images, "integrated_gradients", integration=captum_rule, batch_size=5, **kw)
    ref = native(model, torch_images, "integrated_gradients", integration=native_rule, score="probability", **kw)
    close(exp.channel_attributions, ref.channel_attributions, rtol=1e-4)
    close(exp.extras["completeness_gap"], ref.extras["completeness_gap"], rtol=1e-3)


def test_integrated_gradients_captum_trapezoid_is_scaled_native_trapezoid(model, torch_images):
    n, kw = 6, {"baseline": 0.25, "targets": TARGETS}
    exp = captum(model, torch_images, "integrated_gradients", integration="riemann_trapezoid", steps=n, **kw)
    ref = native(model, torch_images, "integrated_gradients", integration="trapezoid", steps=n, score="probability",
                 **kw)
    close(exp.channel_attributions, ref.channel_attributions * (n - 1) / n, rtol=1e-4)


def test_layer_gradcam_with_relu_is_native_gradcam(model, torch_images):
    exp = captum(model, torch_images, "gradcam", layer="conv_b", relu=True, score="logit", targets=TARGETS)
    ref = native(model, torch_images, "gradcam", layer="conv_b", targets=TARGETS)
    close(exp.layer_attributions, ref.layer_attributions)
    close(exp.attributions, ref.attributions)
    signed = captum(model, torch_images, "gradcam", layer="conv_b", score="logit", targets=TARGETS)
    close(signed.layer_attributions, native(model, torch_images, "gradcam", layer="conv_b", relu=False,
                                            targets=TARGETS).layer_attributions)


def test_guided_gradcam_is_guided_backprop_times_nearest_upsampled_gradcam(torch, model, torch_images):
    exp = captum(model, torch_images, "guided_gradcam", layer="conv_b", targets=TARGETS)
    guided = native(model, torch_images, "guided_backprop", score="probability", targets=TARGETS)
    cam = native(model, torch_images, "gradcam", layer="conv_b", score="probability", targets=TARGETS)
    up = torch.nn.functional.interpolate(torch.from_numpy(cam.layer_attributions)[:, None],
                                         size=torch_images.shape[2:], mode="nearest").numpy()
    close(exp.channel_attributions, guided.channel_attributions * up)


@pytest.mark.parametrize("patch, stride", [(4, None), ((5, 6), (2, 3))])
def test_occlusion_is_native_with_the_same_windows(model, torch_images, patch, stride):
    kw = {"patch_size": patch, "stride": stride, "baseline": 0.5, "targets": TARGETS}
    exp = captum(model, torch_images, "occlusion", batch_size=7, **kw)
    ref = native(model, torch_images, "occlusion", score="probability", **kw)
    # each value is p(image) - p(occluded): the round-off of two probabilities (<= 1), up to an ulp of each
    # (2.98e-8 seen when another batch composition took another kernel), not a fraction of the map's scale
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-4, atol=4 * np.finfo(np.float32).eps)
    np.testing.assert_array_equal(exp.channel_attributions[:, 0], exp.channel_attributions[:, 2])


def test_activations_are_native(model, torch_images):
    ours = xk.activations(model, torch_images, layers=["conv_a", "conv_b"], backend="captum", batch_size=2)
    ref = xk.activations(model, torch_images, layers=["conv_a", "conv_b"], backend="torch")
    for name in ("conv_a", "conv_b"):  # another batch size may take another convolution kernel: round-off only
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------- random methods on a linear model
@pytest.fixture(scope="module")
def linear():
    from xaikit_torch.testing import TorchFactory

    from xaikit.testing import IMAGE_SHAPE

    rng = np.random.default_rng(42)
    weights = rng.normal(0, 1, (*IMAGE_SHAPE, 4)).astype(np.float32)
    factory = TorchFactory()
    return factory.linear(weights, np.zeros(4, np.float32), "linear"), weights.transpose(3, 2, 0, 1), factory


def test_noise_tunnel_statistics_on_a_linear_model(linear):
    model, w, factory = linear  # w: (K, C, H, W); the gradient is w[t] at every noisy sample
    x, t = factory.images(2), [3, 1]
    kw = {"targets": t, "n_samples": 6, "noise_std": 0.3, "seed": 0}
    close(captum(model, x, "smoothgrad", abs=False, **kw).channel_attributions, w[t])
    close(captum(model, x, "smoothgrad", **kw).channel_attributions, np.abs(w[t]))
    close(captum(model, x, "squaregrad", **kw).channel_attributions, w[t] ** 2)
    np.testing.assert_allclose(captum(model, x, "vargrad", abs=False, **kw).channel_attributions, 0.0, atol=1e-5)
    assert captum(model, x, "smoothgrad", nt_samples_batch_size=4, **kw).params["nt_samples_batch_size"] == 4


def test_noise_tunnel_seed_is_captum_with_torch_seeded_per_image(torch, model, torch_images):
    from captum.attr import NoiseTunnel, Saliency
    from xaikit_torch.adapters import ScoreModel, library_seeds

    exp = captum(model, torch_images, "smoothgrad", n_samples=3, noise_std=0.2, seed=5, targets=TARGETS)
    state = torch.random.get_rng_state()
    forward = ScoreModel(model, "probability", torch_images.shape[1:])
    for i, s in enumerate(library_seeds(5, torch_images)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            model.eval()
            ref = NoiseTunnel(Saliency(forward)).attribute(torch.from_numpy(torch_images[i:i + 1].copy()), nt_samples=3,
                                                           stdevs=0.2, target=TARGETS[i]).detach().numpy()
            model.train()
        close(exp.channel_attributions[i:i + 1], ref)
    assert torch.equal(torch.random.get_rng_state(), state)  # torch's global stream untouched
    alone = captum(model, torch_images[2:], "smoothgrad", n_samples=3, noise_std=0.2, seed=5, targets=TARGETS[2])
    np.testing.assert_array_equal(alone.attributions[0], exp.attributions[2])  # independent of the batch


def test_gradient_shap_is_expected_gradients_on_a_linear_model(linear):
    model, w, factory = linear
    x, reference = factory.images(2), factory.images(1, seed=5)
    exp = captum(model, x, "expected_gradients", background=reference, n_samples=7, seed=1, targets=[2, 0])
    close(exp.channel_attributions, (x - reference) * w[[2, 0]], rtol=1e-4)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-3)


@pytest.mark.parametrize("method, extra", [("kernel_shap", {"n_samples": 60}),
                                           ("lime", {"n_samples": 80, "lasso_alpha": 0.0})])
def test_surrogates_on_xaikit_segments_give_segment_contributions(linear, method, extra):
    from xaikit.kernels import grid_segments

    model, w, factory = linear
    x, t = factory.images(2), [2, 1]
    exp = captum(model, x, method, targets=t, segmentation="grid", n_segments=6, baseline=0.25, seed=0, **extra)
    labels = grid_segments(x.shape[2:], (2, 3))
    np.testing.assert_array_equal(exp.extras["segments"], np.stack([labels, labels]))
    contribution = ((x - 0.25) * w[t]).sum(1)
    expected = np.stack([np.bincount(labels.ravel(), c.ravel())[labels] for c in contribution])
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-3, atol=1e-3)
    ref = native(model, x, method, targets=t, segmentation="grid", n_segments=6, baseline=0.25, seed=0,
                 **({"ridge_alpha": 0.0} if method == "lime" else {}))
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-3, atol=1e-3)


def test_kernel_shap_on_one_segment_is_refused_by_name(linear):
    """Regression (found by the property tests): one segment gave Captum's raw ValueError (NaN coalition weights)."""
    model, _, factory = linear
    with pytest.raises(xk.InputError, match="needs at least 2 segments per image.*image 0 has 1"):
        captum(model, factory.images(1), "kernel_shap", segmentation="grid", n_segments=1, n_samples=4, seed=0)


def test_noise_as_a_fraction_of_each_image_range_is_captums_stdevs_image_by_image(model, torch_images):
    """``noise`` (the native meaning) gives Captum's ``stdevs`` each image's ``noise * (max - min)``: the same as
    ``noise_std`` set to that value for the image alone (the per-image seed depends on the seed and the image)."""
    exp = captum(model, torch_images[:2], "smoothgrad", n_samples=3, noise=0.2, seed=5, targets=TARGETS[:2])
    assert exp.params["noise"] == 0.2 and exp.params["noise_std"] is None
    for i in range(2):
        spread = float(torch_images[i].max() - torch_images[i].min())
        alone = captum(model, torch_images[i:i + 1], "smoothgrad", n_samples=3, noise_std=0.2 * spread, seed=5,
                       targets=TARGETS[i])
        close(exp.attributions[i:i + 1], alone.attributions)


def test_compare_aligned_smoothgrad_is_native_smoothgrad(model, torch_images):
    """Captum's defaults (|gradient| of the probability, absolute noise 1.0, 5 samples) disagree with the native
    SmoothGrad; aligned on the definition (logit, signed, noise 0.15 of each image's range, 50 samples) the two
    estimate the same expectation: rho >= 0.95 (0.98 measured with 50 samples; only the draws differ)."""
    pairs = [("smoothgrad", "torch"), ("smoothgrad", "captum")]
    plain = xk.compare(model, torch_images[:2], pairs, seed=0, warmup=False)
    aligned = xk.compare(model, torch_images[:2], pairs, seed=0, warmup=False, align=True)
    assert plain.alignment is None and plain.agreement.matrices["spearman"][0, 1] < 0.5
    assert aligned.agreement.matrices["spearman"][0, 1] >= 0.95
    ran = aligned.explanations["smoothgrad (captum)"].params
    assert (ran["abs"], ran["noise"], ran["n_samples"], ran["score"]) == (False, 0.15, 50, "logit")
    a = aligned.alignment["smoothgrad (captum)"]
    assert a.exact and a.params["abs"] is False
    assert "set to align on the definition" in aligned.to_markdown() and "abs=False" in aligned.to_markdown()


def test_captums_routine_notes_do_not_reach_the_user(model, torch_images):
    """Captum warns on every call that it set requires_grad itself and that it hooks ReLUs: nothing the user can act
    on, so they are not shown; the user's own warning filters are untouched."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        captum(model, torch_images[:1], "vanilla_gradients", targets=TARGETS[0])
        captum(model, torch_images[:1], "guided_backprop", targets=TARGETS[0])
        filters = list(warnings.filters)
        captum(model, torch_images[:1], "gradcam", layer="conv_b", targets=TARGETS[0])
        assert list(warnings.filters) == filters
    assert not [str(w.message) for w in seen if "captum" in (w.filename or "")], [str(w.message) for w in seen]


def test_integrated_gradients_with_a_blurred_baseline_is_captum_given_the_blurred_images(torch, model, torch_images):
    import copy

    from captum.attr import IntegratedGradients

    from xaikit.kernels import gaussian_blur

    kw = {"steps": 5, "baseline": {"blur": 2.0}, "targets": TARGETS}
    exp = captum(model, torch_images, "integrated_gradients", integration="riemann_middle", batch_size=2, **kw)
    ref = native(model, torch_images, "integrated_gradients", integration="midpoint", score="probability", **kw)
    close(exp.channel_attributions, ref.channel_attributions, rtol=1e-4)
    assert exp.params["baseline"] == ref.params["baseline"] == {"blur": 2.0}  # recorded as given, not as an array
    blurred = np.moveaxis(gaussian_blur(np.moveaxis(torch_images, 1, -1), 2.0), -1, 1)  # channel by channel
    direct = IntegratedGradients(copy.deepcopy(model).eval()).attribute(
        torch.from_numpy(torch_images), baselines=torch.from_numpy(blurred), target=TARGETS, n_steps=5,
        method="riemann_middle").detach().numpy()
    close(exp.channel_attributions, direct, rtol=1e-4)
    per_image = native(model, torch_images, "integrated_gradients", integration="midpoint", score="probability",
                       batch_size=1, **{**kw, "baseline": blurred})  # the same references as an (N, C, H, W) array
    close(per_image.channel_attributions, ref.channel_attributions, rtol=1e-4)


# ------------------------------------------------------------- DeepLift, DeepLiftShap, LRP, layer conductance
def test_deeplift_is_captums_with_the_pooling_gradient_where_a_relu_feeds_a_max_pool(model, torch_images,
                                                                                     torch_background):
    """The test CNN's ``bn_relu`` feeds ``pool_a``: Captum's ReLU hook reads the pooling's plain gradient there."""
    for method, extra in (("deeplift", {"baseline": 0.1}), ("deepliftshap", {"background": torch_background[:2]})):
        ref = captum(model, torch_images, method, score="logit", targets=TARGETS, **extra)
        close(native(model, torch_images, method, max_pool="gradient", targets=TARGETS, **extra).channel_attributions,
              ref.channel_attributions)


def test_deeplift_rescale_rule_is_captums_where_no_relu_feeds_a_max_pool(torch):
    from xaikit_torch.testing import parity_network

    net, x = parity_network()  # conv, ReLU, BatchNorm, max pooling: Captum's max-pooling rule applies
    ref = captum(net, x, "deeplift", score="logit", baseline=0.2, targets=TARGETS)
    got = native(net, x, "deeplift", baseline=0.2, targets=TARGETS)
    close(got.channel_attributions, ref.channel_attributions, rtol=1e-4)
    np.testing.assert_allclose(ref.extras["completeness_gap"], 0, atol=1e-5)


@pytest.mark.parametrize("rule", ["epsilon", "gamma"])
def test_lrp_is_native(model, torch_images, rule):
    ref = captum(model, torch_images, "lrp", rule=rule, targets=TARGETS)
    assert ref.score == "logit"  # Captum has no rule for the final softmax
    got = native(model, torch_images, "lrp", rule=rule, targets=TARGETS).channel_attributions
    # float32 rounding in the two orders of summation, amplified where a layer's output is near zero: 1.8e-8
    # measured (3 of 5040 elements beyond 1e-6 of the largest value, gamma rule)
    np.testing.assert_allclose(got, ref.channel_attributions, rtol=1e-4,
                               atol=1e-5 * float(np.abs(ref.channel_attributions).max()))


def test_layer_conductance_with_captums_trapezoid_points_is_native(model, torch_images):
    ref = captum(model, torch_images, "layer_conductance", layer="pool_a", steps=6, score="logit",
                 integration="riemann_trapezoid", targets=TARGETS)
    got = native(model, torch_images, "layer_conductance", layer="pool_a", steps=6, targets=TARGETS)
    close(got.layer_attributions, ref.layer_attributions, rtol=1e-4)


def test_deeplift_and_lrp_match_captum_on_the_zoo_twin(torch):
    """The done condition of issue 25: on the zoo's CNN twin (Conv-ReLU-MaxPool blocks) LRP equals Captum, DeepLift
    with the pooling's gradient equals it, and the default rescale rule correlates with it at r >= 0.99 (measured
    0.991-0.998 on these images)."""
    from xaikit_torch.zoo import load_twin
    from xaikit_torch.zoo.parity import pearson

    from xaikit import zoo

    twin = load_twin("shapes_cnn4")
    x = np.ascontiguousarray(zoo.load_data("shapes_cnn4", n=3).images.transpose(0, 3, 1, 2))
    for method, extra in (("lrp", {}), ("deeplift", {"max_pool": "gradient"})):
        ref = captum(twin, x, method, score="logit")
        close(native(twin, x, method, score="logit", **extra).attributions, ref.attributions, rtol=1e-4)
    rescale = native(twin, x, "deeplift").attributions
    assert pearson(rescale, ref.attributions).min() >= 0.99
