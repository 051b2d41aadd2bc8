"""Threads, weight edits, numbers beyond float32 and huge sample counts (issue 10, items 1, 3, 7, 11)."""

from __future__ import annotations

import concurrent.futures as cf
import tracemalloc

import numpy as np
import pytest

import xaikit as xk
from xaikit.engine import Engine
from xaikit.errors import InputError, ModelError
from xaikit.registry import available_backends, list_methods
from xaikit.spec import LayerInfo, ModelSpec

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tensorflow


def fused_softmax_cnn(weights=None):
    """A small CNN whose last Dense has a fused softmax (the logit is read by swapping its activation)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="c2")(h)
    h = keras.layers.Flatten(name="flat")(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="pred")(h))
    if weights is not None:
        model.set_weights(weights)
    return model


IMAGES = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
BACKGROUND = np.random.default_rng(1).uniform(0, 1, (4, 16, 16, 3)).astype(np.float32)
PARAMS = {"smoothgrad": {"n_samples": 3, "seed": 1}, "integrated_gradients": {"steps": 4},
          "expected_gradients": {"background": BACKGROUND, "n_samples": 6, "seed": 2},
          "occlusion": {"patch_size": 8, "baseline": 0.5}, "vargrad": {"n_samples": 3, "seed": 1},
          "squaregrad": {"n_samples": 3, "seed": 1}, "rise": {"n_samples": 16, "grid_size": 3, "seed": 1},
          "kernel_shap": {"n_samples": 16, "n_segments": 8, "seed": 1},
          "lime": {"n_samples": 16, "n_segments": 8, "seed": 1}, "sobol": {"grid_size": 2, "n_designs": 4},
          "deepliftshap": {"background": BACKGROUND[:2]}}


def _jobs(backend: str) -> list[str]:
    methods = [r.id for r in list_methods() if backend in r.backends and r.id != "activations"]
    return methods + methods[::-1]  # every method twice, the same ones at once from different threads


@pytest.mark.parametrize("backend", [b for b in ("tensorflow", "tf-explain", "shap") if b in available_backends()])
def test_threads_on_a_fresh_model_give_the_sequential_results(backend):
    """Regression: 4 threads explaining a freshly loaded fused-softmax model got scores 'output' in some threads
    (the view was built while another thread's hook had swapped layer.activation), maps off by up to 17, and
    StagingError/ModelError -- first call included."""
    weights = fused_softmax_cnn().get_weights()
    jobs = _jobs(backend)
    reference = fused_softmax_cnn(weights)
    expected = [xk.explain(reference, IMAGES, method=m, backend=backend, targets=[0, 1, 2], **PARAMS.get(m, {}))
                for m in jobs]
    for _ in range(2):  # a fresh model each time: nothing is built or traced yet
        model = fused_softmax_cnn(weights)
        with cf.ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda m, model=model: xk.explain(model, IMAGES, method=m, backend=backend,
                                                                  targets=[0, 1, 2], **PARAMS.get(m, {})), jobs))
        for method, a, b in zip(jobs, got, expected):
            assert a.score == b.score, method
            np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-6, err_msg=method)


def test_the_relu_check_sees_the_models_relus_while_another_pass_has_patched_them():
    """Regression (a CI run): guided backpropagation in one thread patches every ReLU activation for the time of
    its pass; the ReLU check of another thread then found none and refused the model ("no ReLU activation"), and
    the view's fingerprint changed, rebuilding the view around the patched activations."""
    from xaikit_tensorflow.hooks import Capture
    from xaikit_tensorflow.views import model_view, structure_fingerprint

    model = fused_softmax_cnn()
    view = model_view(model)
    before = structure_fingerprint(model)
    with view._hooks(Capture(wanted=frozenset()), "guided"):
        assert model.get_layer("c1").activation is not keras.activations.relu  # patched for this pass
        view.check_relus("guided")
        assert structure_fingerprint(model) == before
        assert model_view(model) is view


def _tiny_torch_cnn():
    torch = pytest.importorskip("torch")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 4, 3),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 12 * 12, 3)).eval()


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_threads_explaining_during_a_sanity_check_see_the_original_weights(monkeypatch, framework):
    """Regression: Grad-CAM in another thread during ``sanity_check`` saw randomised weights (48 of 48 maps differed
    in one run): the check randomises a copy of the model."""
    import xaikit.sanity as sanity_module

    model, images, layer = fused_softmax_cnn(), IMAGES[:2], "c2"
    if framework == "torch":
        model, images, layer = _tiny_torch_cnn(), np.ascontiguousarray(IMAGES[:2].transpose(0, 3, 1, 2)), "2"
    expected = xk.explain(model, images, method="gradcam", layer=layer, targets=[0, 1]).attributions
    seen = []
    real = sanity_module.get_explainer

    def interleaved(*args, **kwargs):  # at every step of the check, two other threads explain the model
        explainer = real(*args, **kwargs)
        explain = explainer.explain

        def wrapped(x, t):
            with cf.ThreadPoolExecutor(2) as pool:
                seen.extend(pool.map(lambda _: xk.explain(model, images, method="gradcam", layer=layer,
                                                          targets=[0, 1]), range(2)))
            return explain(x, t)

        explainer.explain = wrapped
        return explainer

    monkeypatch.setattr(sanity_module, "get_explainer", interleaved)
    xk.sanity_check(model, images, ["gradcam"], layers="top:2", seed=0, params={"gradcam": {"layer": layer}})
    assert len(seen) == 6  # the original step and two randomised ones
    for exp in seen:
        np.testing.assert_array_equal(exp.attributions, expected)


def test_layer_names_tensorflow_cannot_scope_get_a_clear_error_and_a_working_rename():
    """Regression: a layer named 'my conv' or 'conv:1' gave TensorFlow's raw name-scope ValueError in every method."""
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(2, 3, name="my conv")(inp)
    h = keras.layers.Conv2D(2, 3, name="conv:1")(h)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    x = IMAGES[:1, :8, :8]
    for method in ("gradcam", "occlusion"):
        with pytest.raises(ModelError, match=r"name scopes \(layer 'my conv', layer 'conv:1'\).*"
                                             r"model.get_layer\('my conv'\).name = 'my_conv'"):
            xk.explain(model, x, method=method, targets=0)
    model.get_layer("my conv").name = "my_conv"
    model.get_layer("conv:1").name = "conv_1"
    assert xk.explain(model, x, method="gradcam", targets=0).layer == "conv_1"


def test_channels_first_keras_models_are_read_channels_first():
    """Regression: a Keras model taking (3, 16, 16) with a Permute inside got (N, 3, 16) maps labelled NHWC; a
    data_format='channels_first' model likewise. Same rule as the callable backend, declare_layout to override."""
    from xaikit_tensorflow import declare_layout

    conv, dense = keras.layers.Conv2D(4, 3, activation="relu", name="c1"), keras.layers.Dense(3, name="pred")
    last_in, first_in = keras.Input((16, 16, 3)), keras.Input((3, 16, 16))
    pooled = keras.layers.GlobalAveragePooling2D()
    last = keras.Model(last_in, dense(pooled(conv(last_in))))
    first = keras.Model(first_in, dense(pooled(conv(keras.layers.Permute((2, 3, 1))(first_in)))))  # shared weights
    x = IMAGES[:2]
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    for method, params in [("occlusion", {"patch_size": 4}), ("gradcam", {"layer": "c1"}),
                           ("rise", {"n_samples": 8, "grid_size": 2, "seed": 0})]:
        a = xk.explain(first, x_first, method=method, targets=[0, 1], **params)
        b = xk.explain(last, x, method=method, targets=[0, 1], **params)
        assert a.layout == "NCHW" and a.attributions.shape == (2, 16, 16), method
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-6, err_msg=method)
    assert xk.activations(first, x_first, layers="c1")["c1"].shape == (2, 4, 14, 14)  # the model's layout
    cf_in = keras.Input((3, 16, 16))
    cf = keras.Model(cf_in, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D(data_format="channels_first")(
        keras.layers.Conv2D(4, 3, data_format="channels_first", name="cf")(cf_in))))
    try:
        assert xk.explain(cf, x_first, method="occlusion", patch_size=4).attributions.shape == (2, 16, 16)
    except ModelError as exc:  # a device without channels-first convolutions (TensorFlow's CPU kernels)
        assert "channels first" in str(exc) and "GPU" in str(exc)
    with pytest.raises(xk.LayerError, match="computes channels first"):
        xk.explain(cf, x_first, method="gradcam", layer="cf")
    two_in = keras.Input((4, 6, 2))  # 2 channels: the shape alone would say 4 channels first; nothing in it does
    two = keras.Model(two_in, keras.layers.Dense(3)(keras.layers.Flatten()(two_in)))
    assert xk.explain(two, np.zeros((1, 4, 6, 2), np.float32), method="vanilla_gradients").attributions.shape == \
        (1, 4, 6)
    declare_layout(first, "NHWC")  # stated: (3, 16, 16) read as 3 x 16 pixels of 16 channels
    try:
        assert xk.explain(first, x_first, method="vanilla_gradients").layout == "NHWC"
    finally:
        declare_layout(first, None)


def test_channels_first_keras_models_on_the_tf_explain_and_shap_adapters():
    """Regression: tf-explain's functions read (N, C, H, W) images as (N, H, W, C): (N, C, H) maps (a RuntimeError
    of the core), a raw broadcasting ValueError (Grad-CAM), a CAM of the wrong axes on a channels-first layer; shap's
    expected gradients reduced the channels over the last axis. tf-explain is refused by name, shap reduces the
    model's channel axis."""
    pytest.importorskip("tf_explain")
    pytest.importorskip("shap")
    conv, dense = keras.layers.Conv2D(2, 3, activation="relu", name="c1"), keras.layers.Dense(3, name="pred")
    pooled = keras.layers.GlobalAveragePooling2D()
    last_in, first_in = keras.Input((8, 8, 3)), keras.Input((3, 8, 8))
    last = keras.Model(last_in, dense(pooled(conv(last_in))))
    first = keras.Model(first_in, dense(pooled(conv(keras.layers.Permute((2, 3, 1))(first_in)))))
    x = IMAGES[:2, :8, :8]
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    for method in ("vanilla_gradients", "gradcam"):
        with pytest.raises(InputError, match=r"tf-explain reads images channels last.*backend='tensorflow'"):
            xk.explain(first, x_first, method=method, backend="tf-explain", targets=0)
    params = {"background": BACKGROUND[:2, :8, :8], "n_samples": 4, "seed": 0}
    b = xk.explain(last, x, method="expected_gradients", backend="shap", targets=[0, 1], **params)
    params["background"] = np.ascontiguousarray(params["background"].transpose(0, 3, 1, 2))
    a = xk.explain(first, x_first, method="expected_gradients", backend="shap", targets=[0, 1], **params)
    assert a.layout == "NCHW" and a.attributions.shape == (2, 8, 8)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-6)


def test_permuted_filters_are_seen_by_the_reuse_fingerprint():
    """Regression: the fingerprint (per-variable sum and sum of squares) missed permuted filters, so expected
    gradients reused the old background terms (maps off by 2.59, stale completeness gaps)."""
    from xaikit_tensorflow.engine import engine_for

    model = fused_softmax_cnn()
    params = {"background": BACKGROUND, "n_samples": 8, "seed": 0, "layer": "pool"}
    explainer = xk.get_explainer(model, "expected_gradients", **params)
    explainer.explain(IMAGES, targets=[0, 1, 2])
    before = engine_for(model).fingerprint()
    kernel = model.get_layer("c1").kernel
    kernel.assign(kernel.numpy()[..., ::-1])  # permute the filters: sums and sums of squares stay equal
    assert engine_for(model).fingerprint() != before
    changed = explainer.explain(IMAGES, targets=[0, 1, 2])
    fresh = xk.explain(fused_softmax_cnn(model.get_weights()), IMAGES, method="expected_gradients",
                       targets=[0, 1, 2], **params)
    np.testing.assert_allclose(changed.attributions, fresh.attributions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(changed.extras["completeness_gap"], fresh.extras["completeness_gap"], rtol=1e-5,
                               atol=1e-6)


def test_values_beyond_float32_are_errors_not_zero_maps():
    """Regression: float64 images of 1e306 (finite, but Inf in float32) and SmoothGrad noise=1e40 gave all-zero maps
    with a RuntimeWarning only."""
    model = fused_softmax_cnn()
    huge = IMAGES.astype(np.float64) * 1e306
    with pytest.raises(InputError, match="float32 range"):
        xk.explain(model, huge, method="vanilla_gradients")
    with pytest.raises(InputError, match="noise"):
        xk.explain(model, IMAGES, method="smoothgrad", noise=1e40)
    with pytest.raises(InputError, match="overflows float32"):
        xk.explain(model, IMAGES * np.float32(1e30), method="smoothgrad", noise=1e20, n_samples=2, seed=0)
    with pytest.raises(InputError, match="float32"):
        xk.explain(model, IMAGES, method="integrated_gradients", baseline=1e300)


def test_a_model_returning_nan_is_an_error():
    """Regression: a model that outputs NaN gave NaN maps without a word."""
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Lambda(
        lambda t: t * float("nan"))(inp)))
    model = keras.Model(inp, out)
    for method in ("vanilla_gradients", "occlusion", "gradcam"):
        if method == "gradcam":
            continue  # no spatial layer in this model
        with pytest.raises(ModelError, match="NaN"):
            xk.explain(model, IMAGES, method=method)


class _CountingEngine(Engine):
    """A linear 'model' on 2x2x1 images whose gradient sums cost nothing: measures the core's own memory."""

    capabilities = frozenset({"scores", "gradients"})
    framework = "test"

    def __init__(self) -> None:
        self.rows_seen = 0
        self.largest_chunk = 0

    @property
    def layout(self) -> str:
        return "NHWC"

    def describe(self, image_shape):
        return ModelSpec((2, 2, 1), 2, "linear", ("dense",), layer_info=(LayerInfo("dense", "dense", (2,)),))

    def fingerprint(self) -> str:
        return "fixed"

    def predict(self, x):
        return np.stack([x.reshape(len(x), -1).sum(1), -x.reshape(len(x), -1).sum(1)], 1).astype(np.float32)

    def class_scores(self, x, score):
        return self.predict(x)

    def target_scores(self, x, t, score):
        out = self.predict(x)
        t = np.where(t < 0, out.argmax(1), t)
        return out[np.arange(len(x)), t], out, t

    def path_gradient_sums(self, x, seg, r, e, u, w, t, score, *, layer=None, times_delta=False, second_moment=False):
        self.rows_seen += len(seg)
        self.largest_chunk = max(self.largest_chunk, len(seg))
        return np.zeros((t.shape[1], *x.shape), np.float32)


@pytest.mark.parametrize("method,params", [("expected_gradients",
                                            {"n_samples": 400_000, "background": np.ones((3, 2, 2, 1))}),
                                           ("integrated_gradients", {"steps": 400_000}),
                                           ("smoothgrad", {"n_samples": 400_000})])
def test_memory_is_bounded_by_batch_size_not_by_the_number_of_samples(method, params):
    """Regression: plans were allocated up front (EG: 4.2 GB at n_samples=1e8, IG: 3.1 GB at steps=1e8). Now the
    rows are drawn a chunk at a time: the peak of the core's own allocations does not grow with the samples."""
    from xaikit.methods import IMPLEMENTATIONS

    engine = _CountingEngine()
    cls = type("Bound", (IMPLEMENTATIONS[method],),
               {"backend": "test", "engine_factory": staticmethod(lambda m: engine)})
    x = np.ones((2, 2, 2, 1), np.float32)

    def peak(n: int) -> int:
        count = {"steps": n} if "steps" in params else {"n_samples": n, "seed": 0}
        explainer = cls(object(), batch_size=20_000, **{**params, **count})
        tracemalloc.start()
        explainer.explain(x, targets=[0, 1])
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(40_000), peak(400_000)
    assert engine.largest_chunk <= 20_000
    assert large < 1.3 * small + (1 << 20), (small, large)  # 10x the samples, not 10x the memory


def test_an_integer_input_model_gets_a_clear_error_for_gradients():
    """Regression: a model taking int32 images raised AttributeError ('NoneType' has no attribute 'numpy')."""
    inp = keras.Input((8, 8, 3), dtype="int32")
    h = keras.layers.Conv2D(2, 3, name="c")(keras.layers.Rescaling(1 / 255.0)(inp))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(h)))
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.int32)
    for method in ("vanilla_gradients", "smoothgrad", "integrated_gradients"):
        with pytest.raises(ModelError, match="no gradient with respect to its input.*int32"):
            xk.explain(model, x, method=method)
    assert xk.explain(model, x, method="gradcam").attributions.shape == (2, 8, 8)  # layer methods still work
    assert xk.explain(model, x, method="occlusion", patch_size=4).attributions.shape == (2, 8, 8)


@pytest.mark.skipif("tf-explain" not in available_backends(), reason="needs tf-explain")
def test_tf_explain_guided_gradcam_on_mixed_precision_says_what_to_do():
    """Regression: tf-explain's guided Grad-CAM on a mixed_float16 model raised InvalidArgumentError."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = keras.Input((8, 8, 3))
        h = keras.layers.Conv2D(2, 3, activation="relu", name="c")(inp)
        model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", dtype="float32")(
            keras.layers.Flatten()(h)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ModelError, match="guided=False"):
        xk.explain(model, x, method="gradcam", backend="tf-explain")
    assert np.isfinite(xk.explain(model, x, method="gradcam", backend="tf-explain", guided=False).attributions).all()
