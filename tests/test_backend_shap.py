"""The shap backend: SHAP's GradientExplainer behind the xaikit contract.

Four kinds of proof:

- the return-shape normalisation, on hand-made arrays of every layout shap has used;
- the contract (shapes, dtypes, targets, params, Functional vs Sequential, layers, errors);
- exactness on a linear model, where expected gradients with one reference is (x - r) w;
- statistical agreement with the native TensorFlow backend on the small CNN, at the
  input and at a layer: both estimate the same expectation with independent random
  draws, so they are compared with standard errors measured from native replicates.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from xaikit_shap._shapes import normalize_shap_values, split_shap_result  # NumPy only

import xaikit as xk
from xaikit.errors import InputError, LayerError

pytest.importorskip("shap")
pytestmark = pytest.mark.tensorflow

EG = "expected_gradients"


# ------------------------------------------------------------ helpers
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (continuous values: no ties)."""
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def rng_state_equal(a, b) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


# ------------------------------------------------- shape normalisation
N, S, K = 2, (3, 5, 4), 3


@pytest.fixture(scope="module")
def per_output():
    """(K, N, *S) reference values, distinct everywhere so any axis mix-up shows."""
    return np.arange(K * N * int(np.prod(S)), dtype=np.float64).reshape(K, N, *S)


def test_normalise_trailing_output_axis_shap_045_and_later(per_output):
    raw = np.moveaxis(per_output, 0, -1)  # (N, *S, K), shap >= 0.45
    np.testing.assert_array_equal(normalize_shap_values(raw, n_images=N, feature_shape=S, n_outputs=K), per_output)


def test_normalise_list_of_arrays_shap_044_and_earlier(per_output):
    raw = [per_output[k] for k in range(K)]  # K arrays (N, *S), shap <= 0.44
    np.testing.assert_array_equal(normalize_shap_values(raw, n_images=N, feature_shape=S, n_outputs=K), per_output)


def test_normalise_single_output_layouts(per_output):
    one = per_output[:1]
    for raw in (one[0], [one[0]], np.moveaxis(one, 0, -1)):  # <= 0.44 array, list of one, >= 0.45 (N, *S, 1)
        np.testing.assert_array_equal(normalize_shap_values(raw, n_images=N, feature_shape=S, n_outputs=1), one)


def test_normalise_layer_outputs_and_dropped_channel(per_output):
    layer_shape = (4, 6)  # a 3-D (N, h, w) layer output
    values = np.random.default_rng(0).normal(size=(K, N, *layer_shape))
    np.testing.assert_array_equal(normalize_shap_values(np.moveaxis(values, 0, -1), n_images=N,
                                                        feature_shape=layer_shape, n_outputs=K), values)
    gray = (3, 5, 1)  # single-channel images whose channel axis was squeezed: (N, H, W) per output
    squeezed = per_output[..., 0]
    expected = squeezed[..., None]
    np.testing.assert_array_equal(normalize_shap_values(list(squeezed), n_images=N, feature_shape=gray,
                                                        n_outputs=K), expected)
    np.testing.assert_array_equal(normalize_shap_values(np.moveaxis(squeezed, 0, -1), n_images=N,
                                                        feature_shape=gray, n_outputs=K), expected)


def test_normalise_multi_input_wrapping_and_unknown_layouts(per_output):
    wrapped = [np.moveaxis(per_output, 0, -1)]  # shap's multi-input layout with one input
    np.testing.assert_array_equal(normalize_shap_values(wrapped, n_images=N, feature_shape=S, n_outputs=K), per_output)
    bad = [
        per_output,  # (K, N, *S) is not a shap layout: refuse rather than guess
        [per_output[0]] * (K - 1),  # wrong number of outputs
        np.moveaxis(per_output, 0, -1)[:, :, :, :2],  # wrong feature shape
        per_output[0],  # one output's values when K were asked for
    ]
    for raw in bad:
        with pytest.raises(RuntimeError, match="please report"):
            normalize_shap_values(raw, n_images=N, feature_shape=S, n_outputs=K)


def test_split_ranked_result():
    values, idx = np.zeros((N, *S, 2)), np.array([[1, 0], [2, 1]])
    assert split_shap_result((values, idx), ranked=True)[1].tolist() == idx.tolist()
    assert split_shap_result((values, [values], idx), ranked=True)[0] is values  # return_variances=True
    assert split_shap_result(values, ranked=False) == (values, None)
    with pytest.raises(RuntimeError, match="expected a \\(values, indexes\\) pair"):
        split_shap_result(values, ranked=True)


# ------------------------------------------------------------ package
def test_importing_the_plugin_imports_neither_shap_nor_tensorflow():
    code = ("import sys, xaikit_shap; assert xaikit_shap.BACKEND.name == 'shap'; "
            "print(sorted(m for m in ('shap', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_and_available():
    row = next(b for b in xk.list_backends() if b.name == "shap")
    assert row.available and row.methods == (EG, "partition_shap") and row.versions.get("shap")
    assert "shap" in next(m for m in xk.list_methods() if m.id == EG).backends


# ------------------------------------------------------------ contract
@pytest.mark.parametrize("model_name", ["functional_cnn", "sequential_cnn"])
def test_contract(model_name, request, images, background):
    model = request.getfixturevalue(model_name)
    params = {"background": background, "n_samples": 12, "seed": 4, "batch_size": 5}
    exp = xk.explain(model, images, method=EG, backend="shap", **params)
    n, h, w = images.shape[:3]
    assert exp.method == EG and exp.backend == "shap"
    assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32  # non-square kept
    assert exp.channel_attributions.shape == images.shape and exp.channel_attributions.dtype == np.float32
    np.testing.assert_allclose(exp.attributions, exp.channel_attributions.sum(-1), rtol=1e-5, atol=1e-7)
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0
    assert exp.outputs.shape == (n, 5) and np.allclose(exp.outputs.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(exp.targets, exp.outputs.argmax(1))  # None -> predicted class
    assert exp.score == "probability"  # shap explains the softmax output as it is
    recorded = {k: exp.params[k] for k in ("n_samples", "seed", "batch_size", "score", "layer", "local_smoothing",
                                           "channel_reduce")}
    assert recorded == {"n_samples": 12, "seed": 4, "batch_size": 5, "score": "probability", "layer": None,
                        "local_smoothing": 0.0, "channel_reduce": "sum"}
    assert exp.params["background"]["array_shape"] == list(background.shape)
    assert exp.info["shap"] and exp.info["tensorflow"] and exp.extras["completeness_gap"].shape == (n,)
    assert xk.explain(model, images, method=EG, backend="shap", targets=4, **params).targets.tolist() == [4, 4, 4]
    assert xk.explain(model, images, method=EG, backend="shap", targets=[0, 1, 2],
                      **params).targets.tolist() == [0, 1, 2]


def test_functional_and_sequential_agree_and_batch_size_does_not_matter(functional_cnn, sequential_cnn, images,
                                                                         background):
    # Same weights, same seed, same draws: equal up to float32 rounding. batch_size only chunks gradient calls.
    common = {"background": background, "n_samples": 16, "seed": 9}
    a = xk.explain(functional_cnn, images, method=EG, backend="shap", batch_size=16, **common)
    b = xk.explain(sequential_cnn, images, method=EG, backend="shap", batch_size=5, **common)
    np.testing.assert_allclose(a.channel_attributions, b.channel_attributions, rtol=1e-4, atol=1e-8)


@pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")  # shap calls Keras on a list
def test_same_values_as_calling_shap_directly(functional_cnn, images, background):
    """The adapter adds nothing: shap on the model itself gives the same numbers (shap >= 0.45 layout)."""
    import shap

    state = np.random.get_state()
    try:
        values, indexes = shap.GradientExplainer(functional_cnn, background).shap_values(
            images, nsamples=10, ranked_outputs=2, rseed=3)
    finally:
        np.random.set_state(state)
    ranked = xk.get_explainer(functional_cnn, EG, backend="shap", background=background, n_samples=10,
                              seed=3, batch_size=50).explain_ranked(images, 2)
    direct = normalize_shap_values(values, n_images=3, feature_shape=images.shape[1:], n_outputs=2)
    for r in range(2):
        assert ranked[r].targets.tolist() == np.asarray(indexes)[:, r].tolist()
        np.testing.assert_allclose(ranked[r].channel_attributions, direct[r], rtol=1e-4, atol=1e-8)


def test_explain_ranked_matches_native_targets_and_keeps_global_rng(functional_cnn, images, background):
    explainer = xk.get_explainer(functional_cnn, EG, backend="shap", background=background, n_samples=300,
                                 seed=5, batch_size=300)
    np.random.seed(1234)
    before = np.random.get_state()
    ranked = explainer.explain_ranked(images, 2)
    explainer.seed = None  # a drawn seed must not come from (or move) the global RNG either
    drawn = explainer.explain(images)
    assert rng_state_equal(np.random.get_state(), before)
    explainer.seed = drawn.params["seed"]  # ... and is recorded, so it reproduces
    np.testing.assert_array_equal(explainer.explain(images).attributions, drawn.attributions)

    native = xk.get_explainer(functional_cnn, EG, backend="tensorflow", background=background, n_samples=300,
                              seed=5, score="probability").explain_ranked(images, 2)
    assert len(ranked) == 2
    for r in range(2):
        assert ranked[r].targets.tolist() == native[r].targets.tolist()
        assert ranked[r].params["rank"] == r and ranked[r].params["ranked_outputs"] == 2
        # independent draws of 300 samples each: per-image rank correlation of the maps measured 0.98-0.99 for
        # both ranks; 0.8 leaves room for sampling noise while swapped ranks (measured -0.26..-0.06), a flipped
        # map (< 0.04) or a negated one (-0.98) fail.
        pairs = zip(ranked[r].attributions, native[r].attributions, strict=True)
        assert np.mean([spearman(s, t) for s, t in pairs]) > 0.8
    # shap re-seeds for every output, so explaining one rank's classes alone repeats the same draws
    explainer.seed = 5
    for r in range(2):
        alone = explainer.explain(images, targets=ranked[r].targets)
        np.testing.assert_allclose(alone.channel_attributions, ranked[r].channel_attributions, rtol=1e-5, atol=1e-9)


def test_at_a_layer_contract_on_sequential(sequential_cnn, functional_cnn, images, background):
    exp = xk.explain(sequential_cnn, images, method=EG, backend="shap", background=background, n_samples=8, seed=0,
                     layer="conv_b")
    assert exp.layer == "conv_b" and exp.layer_attributions.shape == (3, 7, 11)
    assert exp.channel_attributions.shape == (3, 7, 11, 6) and exp.attributions.shape == (3, 20, 28)
    same = xk.explain(functional_cnn, images, method=EG, backend="shap", background=background, n_samples=8, seed=0,
                      layer="conv_b")
    np.testing.assert_allclose(exp.layer_attributions, same.layer_attributions, rtol=1e-4, atol=1e-8)


def test_errors_name_the_fix(functional_cnn, images, background, keras):
    with pytest.raises(InputError, match="needs background"):
        xk.explain(functional_cnn, images, method=EG, backend="shap")
    with pytest.raises(LayerError, match=r"no layer 'nope'.*conv_a"):
        xk.explain(functional_cnn, images, method=EG, backend="shap", background=background, layer="nope")
    with pytest.raises(LayerError, match=r"only for spatial.*conv_b"):
        xk.explain(functional_cnn, images, method=EG, backend="shap", background=background, layer="flat")
    with pytest.raises(InputError, match="k=6 but the model has only 5 classes"):
        xk.get_explainer(functional_cnn, EG, backend="shap", background=background).explain_ranked(images, 6)
    with pytest.raises(InputError, match="score must be one of"):
        xk.explain(functional_cnn, images, method=EG, backend="shap", background=background, score="nope")
    from keras import layers

    inp = keras.Input((20, 28, 3))
    a = layers.Conv2D(4, 3, padding="same", name="stem")(inp)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="inner")(a)
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling2D()(layers.Add()([a, b])))
    residual = keras.Model(inp, out)
    with pytest.raises(LayerError, match="cannot be computed from that layer's output alone"):
        xk.explain(residual, images, method=EG, backend="shap", background=background, layer="inner")


# ------------------------------------------------- exact: linear models
SHAPE = (4, 6, 2)
D = int(np.prod(SHAPE))


@pytest.fixture(scope="module")
def linear(make_linear):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(D, 3)).astype(np.float32)
    bias = np.array([0.3, -0.2, 0.1], np.float32)
    x = rng.uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    reference = rng.uniform(0, 1, (1, *SHAPE)).astype(np.float32)
    return weights, bias, x, reference


@pytest.mark.parametrize("sequential", [False, True])
def test_linear_single_reference_is_exact_and_equals_native(linear, make_linear, sequential):
    """f(x) = w.x + b, one reference r: every sample gives (x - r) w, whatever t is."""
    weights, bias, x, reference = linear
    model = make_linear(weights, bias, SHAPE, sequential=sequential)
    exact = (x - reference) * weights.T.reshape(3, *SHAPE)[[0, 2]]
    common = {"background": reference, "n_samples": 5, "seed": 0}
    shap_exp = xk.explain(model, x, method=EG, backend="shap", targets=[0, 2], **common)
    native = xk.explain(model, x, method=EG, backend="tensorflow", targets=[0, 2], score="output", **common)
    assert shap_exp.score == "output"  # a linear output is explained as it is
    np.testing.assert_allclose(shap_exp.channel_attributions, exact, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(native.channel_attributions, exact, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(shap_exp.extras["completeness_gap"], 0, atol=1e-5)


def test_layer_exact_and_reused_explainer_follows_new_weights(keras):
    """f = w . a(x) + b above a 1x1 conv a: at the conv, one reference gives (a(x) - a(r)) * w exactly.

    shap's explainer is kept between calls (its compiled gradients are expensive), but the
    background is re-mapped every call: after new weights below the layer the result is
    exact for the new weights, not computed against stale background features.
    """
    from keras import layers
    from xaikit_shap.expected_gradients import _EXPLAINERS

    rng = np.random.default_rng(11)
    inp = keras.Input(SHAPE)
    conv = layers.Conv2D(3, 1, name="conv")
    dense = layers.Dense(2, name="out")
    model = keras.Model(inp, dense(layers.Flatten()(conv(inp))))
    x = rng.uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    reference = rng.uniform(0, 1, (1, *SHAPE)).astype(np.float32)
    explainer = xk.get_explainer(model, EG, backend="shap", background=reference, n_samples=3, seed=0, layer="conv")
    w_img = dense.get_weights()[0][:, 1].reshape(4, 6, 3)
    for attempt in range(2):
        if attempt:
            conv.set_weights([rng.normal(size=(1, 1, 2, 3)).astype(np.float32), np.zeros(3, np.float32)])
        kernel, bias = conv.get_weights()
        a_x, a_r = x @ kernel[0, 0] + bias, reference @ kernel[0, 0] + bias
        exp = explainer.explain(x, targets=1)
        np.testing.assert_allclose(exp.channel_attributions, (a_x - a_r) * w_img, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(exp.extras["completeness_gap"], 0, atol=1e-5)
        if attempt == 0:
            first = _EXPLAINERS[model].explainer
            explainer.explain(x, targets=1)
            assert _EXPLAINERS[model].explainer is first  # same settings and background: shap's explainer reused


def test_logit_score_on_softmax_and_sigmoid_models_is_exact(linear, make_linear):
    """score="logit" hands shap the pre-activation: exact (x - r) w again, for softmax and single-sigmoid models."""
    weights, bias, x, reference = linear
    common = {"background": reference, "n_samples": 4, "seed": 1, "score": "logit"}
    softmax = make_linear(weights, bias, SHAPE, activation="softmax")
    exp = xk.explain(softmax, x, method=EG, backend="shap", targets=1, **common)
    np.testing.assert_allclose(exp.channel_attributions, (x - reference) * weights[:, 1].reshape(SHAPE),
                               rtol=1e-4, atol=1e-6)
    assert exp.score == "logit" and xk.explain(softmax, x, method=EG, backend="shap", background=reference,
                                               n_samples=2, seed=0).score == "probability"
    sigmoid = make_linear(weights[:, :1], bias[:1], SHAPE, activation="sigmoid")
    w_img = weights[:, 0].reshape(SHAPE)
    both = xk.explain(sigmoid, x, method=EG, backend="shap", targets=[0, 1], **common)  # class 0 is -logit
    np.testing.assert_allclose(both.channel_attributions, (x - reference) * np.stack([-w_img, w_img]),
                               rtol=1e-4, atol=1e-6)
    ranked = xk.get_explainer(sigmoid, EG, backend="shap", **common).explain_ranked(x, 2)
    predicted = (ranked[0].outputs[:, 0] > 0.5).astype(int)
    assert ranked[0].targets.tolist() == predicted.tolist() and ranked[1].targets.tolist() == (1 - predicted).tolist()


# ------------------------------------- statistical agreement with native
N_SAMPLES = 500
REPLICATES = 8


def _agreement(model, images, background, layer):
    key = "attributions" if layer is None else "layer_attributions"
    common = {"background": background, "n_samples": N_SAMPLES, "batch_size": N_SAMPLES, "layer": layer}
    shap_exp = xk.explain(model, images, method=EG, backend="shap", seed=0, **common)
    native = xk.get_explainer(model, EG, backend="tensorflow", score="probability", **common)
    reps = []
    for seed in range(REPLICATES):
        native.seed = 100 + seed
        reps.append(native.explain(images, targets=shap_exp.targets))
    s_maps = getattr(shap_exp, key).astype(np.float64)
    n_maps = np.stack([getattr(e, key) for e in reps]).astype(np.float64)  # (R, N, h, w)
    return shap_exp, reps, s_maps, n_maps


def _check_agreement(shap_exp, reps, s_maps, n_maps):
    n = len(s_maps)
    r = REPLICATES
    # 1. Rank agreement. With 500 samples the maps' sampling noise is small next to their structure: measured
    #    mean Spearman shap-vs-native 0.99 at the input, 0.998 at pool_a, the same as native-vs-native.
    #    0.9 fails for a wrong target, sign, axis order or layer, not for sampling noise.
    assert np.mean([spearman(s_maps[i], n_maps[0, i]) for i in range(n)]) > 0.9
    # 2. Same mean. Under agreement, (shap - mean of R native replicates) / (sd_native * sqrt(1 + 1/R)) is
    #    Student-t with R - 1 = 7 degrees of freedom for each image's total (shap and native draw from the same
    #    estimator's distribution, so the native spread is shap's too). P(|t_7| > 5) = 0.16 %; a sweep of
    #    12 seed sets x 3 images gave at most 2.5 (input) and 4.3 (pool_a).
    scale2 = 1 + 1 / r
    s_tot, n_tot = s_maps.reshape(n, -1).sum(1), n_maps.reshape(r, n, -1).sum(2)
    z_total = (s_tot - n_tot.mean(0)) / (n_tot.std(0, ddof=1) * np.sqrt(scale2))
    assert np.all(np.abs(z_total) < 5), z_total
    #    Per pixel, pooled over the map: mean squared difference / mean replicate variance is ~1 under
    #    agreement (sweep: mean 1.03, max 1.57) and ~2 when every pixel is off by one standard error.
    pooled = np.mean((s_maps - n_maps.mean(0)) ** 2) / np.mean(n_maps.var(0, ddof=1) * scale2)
    assert pooled < 2.0, pooled
    # 3. Completeness: sum(phi) - (S(x) - mean S(background)) has mean 0 and the spread of the totals, so both
    #    backends' gaps must be within 5 native standard deviations of the total (sweep: at most 4.0).
    sd_total = n_tot.std(0, ddof=1)
    assert np.all(np.abs(shap_exp.extras["completeness_gap"]) < 5 * sd_total), (shap_exp.extras, sd_total)
    assert np.all(np.abs(reps[0].extras["completeness_gap"]) < 5 * sd_total)


def test_agrees_with_native_at_the_input(functional_cnn, images, background):
    shap_exp, reps, s_maps, n_maps = _agreement(functional_cnn, images, background, None)
    _check_agreement(shap_exp, reps, s_maps, n_maps)


def test_agrees_with_native_at_a_layer(functional_cnn, images, background):
    shap_exp, reps, s_maps, n_maps = _agreement(functional_cnn, images, background, "pool_a")
    assert shap_exp.layer == "pool_a" and s_maps.shape == (3, 9, 13) and shap_exp.attributions.shape == (3, 20, 28)
    _check_agreement(shap_exp, reps, s_maps, n_maps)
