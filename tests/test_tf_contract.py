"""The Explainer contract for every native method: shapes, targets, params, batching, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from method_params import method_params

import xaikit as xk
from xaikit.methods import CORE_METHODS as ATTRIBUTION_METHODS  # the methods native backends compute

pytestmark = pytest.mark.tensorflow


RANDOM_METHODS = [m for m in ATTRIBUTION_METHODS if xk.METHODS[m].random]
#: Methods whose Keras contract, batch-size invariance and model forms are left to the conformance suite
#: (tests/test_conformance.py, on a Sequential Keras CNN) and tests/test_propagation.py: each compiled function costs a
#: trace of 1-4 s here, and the README's test command is at its time budget.
CONFORMANCE_ONLY = ("deeplift", "deepliftshap", "lrp", "layer_conductance")
CONTRACT_METHODS = [m for m in ATTRIBUTION_METHODS if m not in CONFORMANCE_ONLY]
LAYER_CAMS = [m for m in ATTRIBUTION_METHODS if xk.METHODS[m].layer == "auto" and xk.METHODS[m].view == "positive"]


def test_every_method_is_covered():
    # every method of the catalogue written in the core (a method declared later joins it: this guards the old ones)
    assert set(ATTRIBUTION_METHODS) >= {"occlusion", "gradcam", "gradcam++", "vanilla_gradients", "gradient_x_input",
                                        "smoothgrad", "integrated_gradients", "expected_gradients", "xgradcam",
                                        "hirescam", "layercam", "scorecam", "ablationcam", "eigencam",
                                        "guided_backprop", "deconvnet", "guided_gradcam", "vargrad", "squaregrad",
                                        "rise", "kernel_shap", "lime", "sobol", "deeplift", "deepliftshap", "lrp",
                                        "layer_conductance"}
    assert set(RANDOM_METHODS) == {"smoothgrad", "expected_gradients", "vargrad", "squaregrad", "rise", "kernel_shap",
                                   "lime"}


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_contract(method, functional_cnn, images, background):
    params = method_params(method, background)
    exp = xk.explain(functional_cnn, images, method=method, backend="tensorflow", **params)
    n, h, w = images.shape[:3]
    assert isinstance(exp, xk.Explanation)
    assert exp.method == method and exp.backend == "tensorflow"
    assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32
    assert np.isfinite(exp.attributions).all() and np.abs(exp.attributions).max() > 0
    assert exp.outputs.shape == (n, 5) and np.allclose(exp.outputs.sum(1), 1, atol=1e-5)  # softmax outputs
    np.testing.assert_array_equal(exp.targets, exp.outputs.argmax(1))  # None -> predicted class
    np.testing.assert_array_equal(exp.predictions, exp.outputs.argmax(1))
    assert exp.score == "logit" and exp.params["score"] == "logit" and exp.params["batch_size"] == 32
    recorded = {"patch_size": [4, 4], "stride": [3, 3]}  # effective values: pairs spelled out
    for key, value in params.items():
        if key != "background":
            assert exp.params[key] == recorded.get(key, value), key
    assert exp.elapsed > 0 and exp.info["tensorflow"]
    if method in LAYER_CAMS:
        assert exp.layer_attributions is not None and exp.layer_attributions.shape[0] == n
        assert exp.attributions.min() >= 0  # rectified by definition
    # explicit targets: an int for all, one per image
    fixed = xk.explain(functional_cnn, images, method=method, targets=4, **params)
    assert fixed.targets.tolist() == [4, 4, 4]
    per_image = xk.explain(functional_cnn, images, method=method, targets=[0, 1, 2], **params)
    assert per_image.targets.tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_batch_size_invariance(method, functional_cnn, images, background):
    params = method_params(method, background)
    reference = xk.explain(functional_cnn, images, method=method, targets=[1, 2, 3], batch_size=64, **params)
    for batch_size in (1, 5):
        other = xk.explain(functional_cnn, images, method=method, targets=[1, 2, 3], batch_size=batch_size, **params)
        np.testing.assert_allclose(other.attributions, reference.attributions, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_sequential_and_functional_give_identical_results(method, functional_cnn, sequential_cnn, images, background):
    params = method_params(method, background)
    a = xk.explain(functional_cnn, images, method=method, **params)
    b = xk.explain(sequential_cnn, images, method=method, **params)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)
    assert a.targets.tolist() == b.targets.tolist()


@pytest.mark.parametrize("method", RANDOM_METHODS)
def test_seed_reproducibility_and_global_rng_untouched(method, functional_cnn, images, background):
    params = method_params(method, background)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = xk.explain(functional_cnn, images, method=method, **params)
    b = xk.explain(functional_cnn, images, method=method, **params)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    other = xk.explain(functional_cnn, images, method=method, **{**params, "seed": params["seed"] + 1})
    assert not np.allclose(other.attributions, a.attributions)
    drawn = xk.explain(functional_cnn, images, method=method, **{**params, "seed": None})
    assert isinstance(drawn.params["seed"], int)  # a drawn seed is recorded ...
    again = xk.explain(functional_cnn, images, method=method, **{**params, "seed": drawn.params["seed"]})
    np.testing.assert_array_equal(again.attributions, drawn.attributions)  # ... and reproduces the result
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_smoothgrad_with_zero_noise_is_vanilla_gradients(functional_cnn, images):
    smooth = xk.explain(functional_cnn, images, method="smoothgrad", noise=0.0, n_samples=3, seed=0)
    vanilla = xk.explain(functional_cnn, images, method="vanilla_gradients")
    np.testing.assert_allclose(smooth.attributions, vanilla.attributions, rtol=1e-5, atol=1e-7)


def test_expected_gradients_ranked_outputs_share_samples(functional_cnn, images, background):
    explainer = xk.get_explainer(functional_cnn, "expected_gradients", background=background, n_samples=12, seed=4,
                                 score="probability")
    ranked = explainer.explain_ranked(images, k=2)
    assert len(ranked) == 2
    order = np.argsort(-ranked[0].outputs, axis=1)
    assert ranked[0].targets.tolist() == order[:, 0].tolist() and ranked[1].targets.tolist() == order[:, 1].tolist()
    assert ranked[1].params["rank"] == 1 and ranked[1].params["ranked_outputs"] == 2
    for r in range(2):  # the shared computation equals explaining each rank on its own
        alone = explainer.explain(images, targets=ranked[r].targets)
        np.testing.assert_allclose(ranked[r].attributions, alone.attributions, rtol=1e-5, atol=1e-7)


def test_expected_gradients_at_a_layer(functional_cnn, images, background):
    exp = xk.explain(functional_cnn, images, method="expected_gradients", background=background, n_samples=64,
                     seed=0, layer="pool_a", batch_size=16)
    assert exp.layer == "pool_a" and exp.layer_attributions.shape == (3, 9, 13)
    assert exp.channel_attributions.shape == (3, 9, 13, 4)
    assert exp.attributions.shape == (3, 20, 28)
    # completeness holds at the layer: sum(phi) ~ S(x) - E S(background), sampling error only
    assert np.all(np.abs(exp.extras["completeness_gap"]) < 0.5 * np.abs(exp.layer_attributions).sum(axis=(1, 2)))


def test_non_square_image_keeps_its_orientation(keras):
    """A model that only looks at the top-left corner of a 96x160 image."""
    from keras import layers

    inp = keras.Input((96, 160, 1))
    conv = layers.Conv2D(1, 1, use_bias=False, name="conv")
    pooled = layers.AveragePooling2D(4, name="pool")(conv(inp))
    dense = layers.Dense(2, name="out")
    model = keras.Model(inp, dense(layers.Flatten()(pooled)))
    conv.set_weights([np.ones((1, 1, 1, 1), np.float32)])
    w = np.zeros((24, 40, 2), np.float32)
    w[:6, :10, 1] = 1.0  # class 1 counts the bright pixels of the top-left 24x40 corner
    dense.set_weights([w.reshape(-1, 2), np.zeros(2, np.float32)])
    x = np.zeros((1, 96, 160, 1), np.float32)
    x[0, 4:20, 8:36] = 1.0
    for method, params in [("gradcam", {"layer": "pool"}), ("vanilla_gradients", {}), ("occlusion", {"patch_size": 8}),
                           ("integrated_gradients", {"steps": 4})]:
        exp = xk.explain(model, x, method=method, targets=1, **params)
        assert exp.attributions.shape == (1, 96, 160)
        hot = np.abs(exp.attributions[0]) > 1e-6
        rows, cols = np.nonzero(hot)
        assert rows.max() < 30 and cols.max() < 45, method  # only the top-left corner is hot
        assert hot[4:20, 8:36].mean() > 0.5, method


def test_compiled_functions_are_reused_and_chunks_are_bounded(functional_cnn, images, background, monkeypatch):
    from xaikit_tensorflow import _keras, views

    sizes: list[int] = []
    original = _keras.KerasModelView.compiled

    def recording(self, key, build, signature):
        fn = original(self, key, build, signature)

        def wrapper(*args):
            # The last argument of every kernel holds one row per model input row (the targets,
            # or the images for kernels without targets): that is the batch the model sees.
            # Functions without arguments (the weights fingerprint) run no batch.
            if args:
                sizes.append(int(np.shape(args[-1])[0]))
            return fn(*args)
        return wrapper

    monkeypatch.setattr(_keras.KerasModelView, "compiled", recording)
    view = views.model_view(functional_cnn)
    for method, params in [("smoothgrad", {"n_samples": 20, "seed": 0}), ("occlusion", {"patch_size": 3}),
                           ("integrated_gradients", {"steps": 11}),
                           ("expected_gradients", {"background": background, "n_samples": 9, "seed": 0})]:
        sizes.clear()
        xk.explain(functional_cnn, images, method=method, batch_size=4, **params)
        assert sizes and max(sizes) <= 4, method
        before = dict(view.trace_counts)
        xk.explain(functional_cnn, images[:2], method=method, batch_size=3, **params)
        xk.explain(functional_cnn, images, method=method, batch_size=7, **params)
        assert view.trace_counts == before, f"{method} retraced"  # new batch sizes, same compiled functions


def test_gradcam_repeated_calls_do_not_retrace(functional_cnn, images):
    from xaikit_tensorflow.views import model_view

    explainer = xk.get_explainer(functional_cnn, "gradcam", layer="conv_b")
    explainer.explain(images[:1])
    counts = dict(model_view(functional_cnn).trace_counts)
    for i in range(5):
        explainer.explain(images[i % 3:i % 3 + 1])
        xk.explain(functional_cnn, images, method="gradcam", layer="conv_b")  # a new explainer shares them too
    assert model_view(functional_cnn).trace_counts == counts


@pytest.mark.parametrize("method", RANDOM_METHODS)
def test_random_methods_do_not_depend_on_the_rest_of_the_batch(method, functional_cnn, images, background):
    params = method_params(method, background)
    together = xk.explain(functional_cnn, images, method=method, targets=[1, 2, 3], **params)
    alone = xk.explain(functional_cnn, images[2:], method=method, targets=[3], **params)
    reordered = xk.explain(functional_cnn, images[::-1], method=method, targets=[3, 2, 1], **params)
    np.testing.assert_allclose(alone.attributions[0], together.attributions[2], rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(reordered.attributions[::-1], together.attributions, rtol=2e-4, atol=1e-6)


def test_expected_gradients_completeness_check_can_be_switched_off(functional_cnn, images, background):
    params = method_params("expected_gradients", background)
    with_check = xk.explain(functional_cnn, images, method="expected_gradients", **params)
    without = xk.explain(functional_cnn, images, method="expected_gradients", completeness=False, **params)
    assert "completeness_gap" in with_check.extras and "completeness_gap" not in without.extras
    np.testing.assert_array_equal(with_check.attributions, without.attributions)


@pytest.mark.parametrize("method,layer", [("expected_gradients", None), ("expected_gradients", "pool_a")])
def test_background_terms_are_reused_until_the_weights_change(keras, functional_cnn, images, background, method,
                                                              layer):
    """The background's scores and layer activations are computed once per weights state."""
    from xaikit_tensorflow.engine import engine_for

    def copy(model):
        twin = keras.models.clone_model(model)
        twin.set_weights(model.get_weights())
        return twin

    model = copy(functional_cnn)
    params = {**method_params(method, background), **({"layer": layer} if layer else {})}
    explainer = xk.get_explainer(model, method, **params)
    first = explainer.explain(images, targets=[0, 1, 2])
    engine = engine_for(model)
    hits = engine.memo_stats["hits"]
    again = explainer.explain(images, targets=[0, 1, 2])
    assert engine.memo_stats["hits"] == hits + 1
    np.testing.assert_array_equal(again.attributions, first.attributions)
    np.testing.assert_array_equal(again.extras["completeness_gap"], first.extras["completeness_gap"])
    # a non-trainable weight below the layer changes (as training or the randomisation check do)
    bn = model.get_layer("bn")
    bn.moving_variance.assign(bn.moving_variance.numpy() * 3.0)
    changed = explainer.explain(images, targets=[0, 1, 2])
    fresh = xk.get_explainer(copy(model), method, **params).explain(images, targets=[0, 1, 2])
    np.testing.assert_allclose(changed.attributions, fresh.attributions, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(changed.extras["completeness_gap"], fresh.extras["completeness_gap"], rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(changed.extras["completeness_gap"], first.extras["completeness_gap"], atol=1e-4)


@pytest.mark.parametrize("n_rows,batch_size", [(200, 16), (20, 16), (7, 16), (9, 1), (33, 5)])
def test_rows_alive_at_once_never_exceed_batch_size(n_rows, batch_size):
    """Chunks run two at a time, so together they hold at most batch_size rows; every row once, in order."""
    import threading
    import time

    from xaikit.kernels import stream_rows

    lock, alive, peak, consumed = threading.Lock(), [0], [0], []

    def compute(rows):
        with lock:
            alive[0] += rows.stop - rows.start
            peak[0] = max(peak[0], alive[0])
        time.sleep(0.002)
        with lock:
            alive[0] -= rows.stop - rows.start
        return rows

    stream_rows(n_rows, batch_size, lambda rows: rows, compute, lambda rows, prepared, result: consumed.append(result))
    assert peak[0] <= batch_size
    assert [i for r in consumed for i in range(r.start, r.stop)] == list(range(n_rows))


def test_the_model_view_is_looked_up_once_per_call(functional_cnn, images, monkeypatch):
    import xaikit_tensorflow.engine as engine

    import xaikit as xk

    explainer = xk.get_explainer(functional_cnn, "gradcam++", layer="conv_b")
    first = explainer.explain(images[:2], [0, 1])
    calls = []
    looked_up = engine.model_view
    monkeypatch.setattr(engine, "model_view", lambda model: calls.append(model) or looked_up(model))
    again = explainer.explain(images[:2], [0, 1])
    assert len(calls) == 1  # describe, layer checks, passes and versions share the call's engine
    np.testing.assert_array_equal(again.attributions, first.attributions)
