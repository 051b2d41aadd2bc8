"""xaikit.compare: several explainers on the same inputs, one agreement table."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk

pytestmark = pytest.mark.tensorflow


def test_compare_native_pairs(functional_cnn, images, background):
    cmp = xk.compare(functional_cnn, images,
                     pairs=[("gradcam", "tensorflow"), ("gradcam++", "tensorflow"), ("smoothgrad", "tensorflow"),
                            ("expected_gradients", "tensorflow")],
                     params={"gradcam": {"layer": "conv_b"}}, seed=0, n_samples=8, background=background,
                     batch_size=16)
    assert cmp.labels == ["gradcam (tensorflow)", "gradcam++ (tensorflow)", "smoothgrad (tensorflow)",
                          "expected_gradients (tensorflow)"]
    grad = cmp.explanations["gradcam (tensorflow)"]
    assert grad.layer == "conv_b" and grad.params["batch_size"] == 16
    assert cmp.explanations["smoothgrad (tensorflow)"].params["n_samples"] == 8  # common params reach who takes them
    assert "n_samples" not in grad.params
    for exp in cmp.explanations.values():  # every pair explains the same classes
        np.testing.assert_array_equal(exp.targets, cmp.targets)
    m = cmp.agreement.matrices["spearman"]
    assert m.shape == (4, 4) and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert np.all((m >= -1 - 1e-9) & (m <= 1 + 1e-9))
    md = cmp.to_markdown()
    assert "gradcam (tensorflow)" in md and "seconds / image" in md
    assert set(cmp.timings) == set(cmp.labels)


def test_a_shared_name_reaches_only_the_pairs_where_it_means_the_same(functional_cnn, images):
    """``noise`` is a fraction of the value range natively; tf-explain's absolute noise is ``noise_std``: a common
    ``noise`` goes to the native pair only, and the table says what each pair ran with."""
    pytest.importorskip("tf_explain")
    cmp = xk.compare(functional_cnn, images[:2], pairs=[("smoothgrad", "tensorflow"), ("smoothgrad", "tf-explain")],
                     noise=0.3, n_samples=4, seed=0, warmup=False)
    native, tfx = cmp.explanations["smoothgrad (tensorflow)"], cmp.explanations["smoothgrad (tf-explain)"]
    assert native.params["noise"] == 0.3 and "noise" not in tfx.params
    assert tfx.params["noise_std"] == 1.0  # tf-explain's own default, not 0.3
    table = cmp.to_markdown()
    assert "noise=0.3" in table.replace(" ", "") or "noise: 0.3" in table, table
    with pytest.raises(xk.InputError, match="noise_std"):  # tf-explain names its own noise; the error says so
        xk.explain(functional_cnn, images[:1], method="smoothgrad", backend="tf-explain", noise=0.3)


def test_compare_errors(functional_cnn, images):
    with pytest.raises(xk.InputError, match="pairs is empty"):
        xk.compare(functional_cnn, images, pairs=[])
    with pytest.raises(xk.InputError, match="given twice"):
        xk.compare(functional_cnn, images, pairs=[("gradcam", "tensorflow"), ("gradcam", "tensorflow")])
    with pytest.raises(xk.UnknownNameError, match="registered backends"):
        xk.compare(functional_cnn, images, pairs=[("gradcam", "no-such-library")])
    with pytest.raises(xk.ModelError, match="backend 'captum' explains torch models.*Backends for this model: "):
        xk.compare(functional_cnn, images, pairs=[("gradcam", "captum")])


def test_compare_across_backends_configured_to_agree(functional_cnn, images, background):
    pytest.importorskip("tf_explain")
    pytest.importorskip("shap")
    cmp = xk.compare(
        functional_cnn, images,
        pairs=[("gradcam", "tensorflow"), ("gradcam", "tf-explain"), ("expected_gradients", "tensorflow"),
               ("expected_gradients", "shap")],
        params={"gradcam": {"layer": "conv_b"},
                ("gradcam", "tensorflow"): {"relu": False, "score": "probability"},
                ("gradcam", "tf-explain"): {"guided": False},
                "expected_gradients": {"score": "probability", "n_samples": 200}},
        background=background, seed=0)
    m = cmp.agreement.matrices["spearman"]
    # Same definition (unguided, no ReLU, gradient of p): identical maps up to float32 round-off.
    assert m[0, 1] > 0.9999
    np.testing.assert_allclose(cmp.explanations["gradcam (tf-explain)"].attributions,
                               cmp.explanations["gradcam (tensorflow)"].attributions, rtol=1e-4, atol=1e-7)
    # Same estimator, independent random draws: statistical agreement only (200 samples each).
    assert m[2, 3] > 0.6


# --------------------------------------------------------------------------- steady-state times, parameters
NATIVE = ["occlusion", "gradcam", "gradcam++", "vanilla_gradients", "gradient_x_input", "smoothgrad",
          "integrated_gradients", "expected_gradients"]


@pytest.mark.parametrize("method", NATIVE)
def test_cheap_warm_up_compiles_what_the_timed_call_runs(keras, method, background):
    """Even the cheapest warm-up (one image, 2 samples / 2 steps / one window) compiles everything the timed
    call runs: it traces nothing, so no tracing lands in its time (a fresh model: nothing compiled before)."""
    from xaikit_tensorflow.views import model_view

    from xaikit._timing import warm_up

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((12, 16, 3)), keras.layers.Conv2D(3, 3, activation="relu", name="c"),
                              keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    x = np.random.default_rng(0).uniform(0, 1, (3, 12, 16, 3)).astype(np.float32)
    params = {"background": background[:4, :12, :16]} if method == "expected_gradients" else {}
    explainer = xk.get_explainer(model, method, **params)
    seconds, n = warm_up(explainer, x, [1, 2, 3], mode="cheap")
    assert seconds > 0 and n == 1
    view = model_view(model)
    traced = dict(view.trace_counts)
    assert traced  # the warm-up compiled the method's functions
    explainer.explain(x, [1, 2, 3])
    assert view.trace_counts == traced, f"{method}: the timed call traced {view.trace_counts} after {traced}"


def test_compare_reports_steady_state_first_call_and_effective_parameters(functional_cnn, images):
    cmp = xk.compare(functional_cnn, images, pairs=[("gradcam", "tensorflow"), ("smoothgrad", "tensorflow")],
                     params={"gradcam": {"layer": "conv_b"}}, n_samples=4, seed=1)
    assert set(cmp.first_call) == set(cmp.labels) and all(v > 0 for v in cmp.first_call.values())
    for exp in cmp.explanations.values():  # the result says its call ran after a warm-up
        assert exp.info["timing"]["warmup_seconds"] > 0
    md = cmp.to_markdown()
    assert "seconds / image (steady state)" in md and "first call (warm-up)" in md
    assert "(1 image(s))" in md and "(3 image(s))" in md  # smoothgrad: the first image; gradcam: the same call
    params = md.split("| pair | effective parameters |")[1]
    assert ("| gradcam (tensorflow) | batch_size=32, score='logit', layer='conv_b', layer_layout='channels_last', "
            "relu=True, eigen_smooth=False, aug_smooth=False, layer_grid=[7, 11] |") in params
    assert "noise=0.15" in params and "n_samples=4" in params and "channel_reduce='sum'" in params
    cold = xk.compare(functional_cnn, images, pairs=[("gradcam", "tensorflow"), ("gradcam++", "tensorflow")],
                      warmup=False)
    assert cold.first_call == dict.fromkeys(cold.labels)
    assert "not measured" in cold.to_markdown() and "include their first call" in cold.to_markdown()


def test_warm_up_uses_the_timed_call_shapes(functional_cnn, images):
    """Streamed native methods warm up on the first image with the real parameters (their chunks then have
    the timed call's shapes); one-pass methods and library adapters repeat the call on the whole batch."""
    from xaikit._timing import warm_up

    assert warm_up(xk.get_explainer(functional_cnn, "occlusion", patch_size=4), images)[1] == 1
    assert warm_up(xk.get_explainer(functional_cnn, "gradcam"), images)[1] == len(images)
    if "tf-explain" in xk.registry.available_backends():
        assert warm_up(xk.get_explainer(functional_cnn, "occlusion", backend="tf-explain", patch_size=4),
                       images)[1] == len(images)
    with pytest.raises(xk.InputError, match="warm-up mode"):
        warm_up(xk.get_explainer(functional_cnn, "gradcam"), images, mode="twice")


def test_comparison_displays_itself_in_a_notebook(functional_cnn, images):
    from matplotlib.figure import Figure

    cmp = xk.compare(functional_cnn, images, pairs=[("gradcam", "tensorflow"), ("gradcam++", "tensorflow")])
    page = cmp._repr_html_()
    assert "<img src='data:image/png;base64," in page and "Spearman" in page and "relu=True" in page
    fig = cmp.plot(images, max_images=2)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 2 * 3
    assert isinstance(cmp.figure(), Figure)


def test_compare_aligned_gradcam_is_the_native_gradcam(functional_cnn, images):
    """tf-explain's defaults (probability, guided gradients, no ReLU, its own layer rule) give another map; aligned
    on the definition (logit, plain gradients, ReLU, the native layer) tf-explain computes the native Grad-CAM."""
    pytest.importorskip("tf_explain")
    pairs = [("gradcam", "tensorflow"), ("gradcam", "tf-explain")]
    plain = xk.compare(functional_cnn, images[:2], pairs, warmup=False, layer="conv_a")
    aligned = xk.compare(functional_cnn, images[:2], pairs, warmup=False, align=True, layer="conv_a")
    before = [plain.explanations[label].attributions for label in plain.labels]
    assert not np.allclose(*before, atol=1e-3 * float(np.abs(before[0]).max()))  # (a flat map: rho undefined)
    assert aligned.agreement.matrices["spearman"][0, 1] >= 0.95
    native, tfx = (aligned.explanations[label].attributions for label in aligned.labels)
    np.testing.assert_allclose(tfx, native, rtol=1e-4, atol=1e-6 * float(np.abs(native).max()))
    a = aligned.alignment["gradcam (tf-explain)"]
    assert a.exact and a.params == {"score": "logit", "layer": "conv_a", "relu": True, "guided": False}


def test_compare_aligned_says_what_a_library_cannot_express(functional_cnn, images):
    """tf-explain's SmoothGrad differentiates the cross-entropy loss under absolute noise: aligned, the limits say
    so and the parameters it can take are set (signed channel sum, the definition's sample count)."""
    pytest.importorskip("tf_explain")
    from xaikit.alignment import align_params

    a = align_params(functional_cnn, images[:1], "smoothgrad", "tf-explain")
    assert not a.exact and a.params == {"n_samples": 50, "channel_reduce": "sum"}
    assert any("score='logit'" in limit for limit in a.limits) and any("'noise'" in limit for limit in a.limits)
    b = align_params(functional_cnn, images[:1], "smoothgrad", "tf-explain", {"n_samples": 4})
    assert b.params["n_samples"] == 4  # what the caller set for every pair is part of the definition


def test_values_in_pixels_work_in_the_api(functional_cnn, images):
    """The bench's ``{"range_fraction": f}`` and ``{"pixel": "grey"}`` are read with the images' preprocessing."""
    pytest.importorskip("tf_explain")
    exp = xk.explain(functional_cnn, images[:1], method="smoothgrad", backend="tf-explain", n_samples=2, seed=0,
                     noise_std={"range_fraction": 0.15}, preprocess="tf")
    assert exp.params["noise_std"] == pytest.approx(0.3) and exp.info["preprocess"] == "tf"
    exp = xk.explain(functional_cnn, images[:1], method="occlusion", patch_size=10, baseline={"pixel": "grey"},
                     preprocess="scale255")
    assert exp.params["baseline"] == pytest.approx(0.5)
    with pytest.raises(xk.InputError, match="preprocess="):
        xk.explain(functional_cnn, images[:1], method="occlusion", baseline={"pixel": "grey"})
    cmp = xk.compare(functional_cnn, images[:1], [("occlusion", "tensorflow"), ("occlusion", "tf-explain")],
                     patch_size=10, baseline={"pixel": "grey"}, preprocess="scale255", warmup=False)
    assert {e.params["baseline"] for e in cmp.explanations.values()} == {0.5}
