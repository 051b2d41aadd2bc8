"""The black-box backend ``callable``: NumPy functions, ONNX files, the auto rule, the command line.

Reference maps are analytic (a linear function's occlusion drop is the sum of its
weights times the occluded change) or come from the native TensorFlow backend on the
same network: a Keras model called as a function, and ONNX graphs written with
``onnx.helper`` from a tiny Keras CNN's weights.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from xaikit_callable import BlackBox
from xaikit_callable.engine import engine_for

import xaikit as xk
from xaikit import registry
from xaikit.errors import FileFormatError, InputError, ModelError, UnknownNameError
from xaikit.kernels import occluded_images, patch_windows

RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(6, 8, 3, 4)).astype(np.float32)  # (H, W, C, K) of a linear model


def linear(x):
    """A linear NHWC classifier: class k scores sum(W[..., k] * x)."""
    return np.einsum("nhwc,hwck->nk", x, WEIGHTS)


def linear_nchw(x):
    return linear(x.transpose(0, 2, 3, 1))


def occlusion_reference(x, weights, patch, baseline=0.0, target=None):
    """Analytic occlusion of the linear model: drop of window w = sum over w of W_t * (x - baseline)."""
    n, h, w, _ = x.shape
    windows = patch_windows(h, w, (patch, patch), (patch, patch))
    scores = np.einsum("nhwc,hwck->nk", x, weights)
    t = np.argmax(scores, axis=1) if target is None else np.full(n, target)
    maps = np.zeros((n, h, w))
    for i in range(n):
        contribution = ((x[i] - baseline) * weights[..., t[i]]).sum(axis=-1)
        for top, left, bottom, right in windows:
            maps[i, top:bottom, left:right] = contribution[top:bottom, left:right].sum()
    return maps


@pytest.fixture(scope="module")
def x():
    return RNG.uniform(0, 1, (3, 6, 8, 3)).astype(np.float32)


# ----------------------------------------------------------------------------- kernel
@pytest.mark.parametrize("axis", [-1, 1])
def test_occluded_images_kernel_matches_a_loop(axis):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 7, 3) if axis == -1 else (2, 3, 5, 7)).astype(np.float32)
    baseline = rng.normal(size=x.shape[1:]).astype(np.float32)
    seg = np.array([0, 1, 1, 0], np.int32)
    windows = np.array([[0, 0, 2, 3], [1, 2, 5, 7], [4, 6, 5, 7], [0, 0, 5, 7]], np.int32)
    expected = x[seg].copy()
    for i, (top, left, bottom, right) in enumerate(windows):
        if axis == 1:
            expected[i, :, top:bottom, left:right] = baseline[:, top:bottom, left:right]
        else:
            expected[i, top:bottom, left:right] = baseline[top:bottom, left:right]
    np.testing.assert_array_equal(occluded_images(x, seg, windows, baseline, axis), expected)


# ----------------------------------------------------------------------------- NumPy models
def test_numpy_function_occlusion_is_the_analytic_drop_and_records_the_layout(x):
    exp = xk.explain(linear, x, method="occlusion", patch_size=2, baseline=0.25, batch_size=7)
    assert exp.backend == "callable" and exp.layout == "NHWC" and exp.score == "output"
    np.testing.assert_allclose(exp.attributions, occlusion_reference(x, WEIGHTS, 2, 0.25), atol=1e-4)
    assert exp.info["numpy"] == np.__version__


def test_channels_first_is_inferred_and_gives_the_same_maps(x):
    nchw = xk.explain(linear_nchw, x.transpose(0, 3, 1, 2), method="occlusion", patch_size=2, targets=1)
    assert nchw.layout == "NCHW"
    np.testing.assert_allclose(nchw.attributions, occlusion_reference(x, WEIGHTS, 2, target=1), atol=1e-4)


@pytest.mark.parametrize("method", ["occlusion", "rise", "kernel_shap", "lime", "sobol"])
def test_every_method_infers_the_layout_of_a_plain_function_where_the_shape_decides(x, method):
    """Regression: RISE and Sobol on a plain function raised 'has no declared layout' where occlusion inferred it."""
    params = {"occlusion": {"patch_size": 2}, "sobol": {"grid_size": 2, "n_designs": 4},
              "rise": {"n_samples": 8, "grid_size": 2, "seed": 0}}.get(method, {"n_samples": 8, "n_segments": 4,
                                                                                "seed": 0})
    for images, layout, f in [(x[:1], "NHWC", linear), (x[:1].transpose(0, 3, 1, 2), "NCHW", linear_nchw)]:
        inferred = xk.explain(lambda v, f=f: f(v), images, method=method, targets=1, **params)
        stated = xk.explain(BlackBox(f, layout=layout), images, method=method, targets=1, **params)
        assert inferred.layout == layout
        np.testing.assert_array_equal(inferred.attributions, stated.attributions)
    with pytest.raises(InputError, match="cannot tell whether"):
        xk.explain(lambda v: v.sum(axis=(1, 2)), np.zeros((1, 3, 5, 3), np.float32), method=method, **params)


def test_an_ambiguous_layout_is_asked_for_never_guessed():
    square = np.zeros((1, 3, 5, 3), np.float32)  # axis 1 and axis 3 both look like channels
    with pytest.raises(InputError, match=r"BlackBox\(f, layout='NHWC'\)"):
        xk.explain(lambda v: v.sum(axis=(1, 2)), square, method="occlusion", patch_size=1)
    with pytest.raises(InputError, match="neither of axis 1 and axis 3"):
        xk.explain(lambda v: v.sum(axis=(1, 2)), np.zeros((1, 8, 8, 8), np.float32), method="occlusion")
    stated = xk.explain(BlackBox(lambda v: v.sum(axis=(1, 2)), layout="NHWC"), square, method="occlusion",
                        patch_size=1, targets=0)
    assert stated.layout == "NHWC" and stated.attributions.shape == (1, 3, 5)


def test_a_function_writing_into_its_images_changes_neither_them_nor_the_maps(x):
    """Regression: ``images -= 0.5`` inside f changed the caller's array and the maps (by up to 10.7 for occlusion)."""

    def in_place(v):
        v -= 0.5
        return linear(v)

    for method, params in [("occlusion", {"patch_size": 2}), ("rise", {"n_samples": 8, "grid_size": 2, "seed": 0}),
                           ("kernel_shap", {"n_samples": 8, "n_segments": 4, "seed": 0})]:
        given = x.copy()
        got = xk.explain(BlackBox(in_place, layout="NHWC"), given, method=method, targets=1, **params)
        expected = xk.explain(BlackBox(lambda v: linear(v - 0.5), layout="NHWC"), x, method=method, targets=1,
                              **params)
        np.testing.assert_array_equal(given, x, err_msg=method)
        np.testing.assert_array_equal(got.attributions, expected.attributions, err_msg=method)


def test_declared_input_shape_refuses_other_images_before_calling(x):
    calls = []
    box = BlackBox(lambda v: calls.append(v.shape) or linear(v), input_shape=(6, 8, 3))
    assert box.layout == "NHWC"
    with pytest.raises(InputError, match="channels-first"):
        xk.explain(box, x.transpose(0, 3, 1, 2), method="occlusion")
    assert calls == []


def test_score_rules_follow_what_the_outputs_are(x):
    with pytest.raises(InputError, match="score='logit' needs to know the model's last activation"):
        xk.explain(linear, x, method="occlusion", score="logit")

    def softmax(v):
        z = linear(v)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    probs = BlackBox(softmax, output="probability")
    exp = xk.explain(probs, x, method="occlusion", patch_size=2)
    assert exp.score == "output"  # the logit is the default only where it can be computed
    assert xk.explain(probs, x, method="occlusion", patch_size=2, score="probability").score == "probability"
    with pytest.raises(InputError, match="cannot be recovered"):
        xk.explain(probs, x, method="occlusion", score="logit")
    logits = xk.explain(BlackBox(linear, output="logit"), x, method="occlusion", patch_size=2)
    assert logits.score == "logit"
    np.testing.assert_allclose(logits.attributions, occlusion_reference(x, WEIGHTS, 2), atol=1e-4)


def test_a_single_probability_column_is_a_binary_model(x):
    def sigmoid(v):
        return 1 / (1 + np.exp(-linear(v)[:, :1]))

    box = BlackBox(sigmoid, output="probability")
    p = sigmoid(x)[:, 0]
    negative = xk.explain(box, x, method="occlusion", patch_size=2, targets=0, score="probability")
    positive = xk.explain(box, x, method="occlusion", patch_size=2, targets=1, score="probability")
    np.testing.assert_allclose(negative.attributions, -positive.attributions, atol=1e-6)  # [1 - p, p]
    np.testing.assert_array_equal(positive.predictions, (p > 0.5).astype(int))
    with pytest.raises(ModelError, match="declared to return probabilities"):
        xk.explain(BlackBox(linear, output="probability"), x, method="occlusion", patch_size=2)


@pytest.mark.parametrize("returned, message", [
    (lambda v: np.zeros(len(v)), r"shape \(1,\) for 1 image\(s\).*scores\[:, None\]"),  # the first call: 1 image
    (lambda v: np.zeros((len(v) + 1, 2)), r"shape \(2, 2\) for 1 image"),
    (lambda v: np.array([["a", "b"]] * len(v)), "<U1 values"),
    (lambda v: np.full((len(v), 2), np.nan), "returned NaN or Inf"),
    (lambda v: [[1.0, 2.0]] * len(v) if len(v) == 1 else 1 / 0, "raised ZeroDivisionError on a float32 batch"),
])
def test_what_f_returns_is_checked_and_f_is_named(x, returned, message):
    def bad_model(v):
        return returned(v)

    with pytest.raises(ModelError, match=message) as info:
        xk.explain(bad_model, x, method="occlusion", patch_size=2)
    assert "bad_model" in str(info.value)


def test_auto_picks_callable_only_for_plain_callables(functional_cnn):
    assert registry.backend_for_model(linear) == "callable"
    assert registry.backend_for_model(BlackBox(functional_cnn)) == "callable"  # wrapped on purpose
    assert registry.backend_for_model(functional_cnn) == "tensorflow"
    assert registry.backend_for_model(functional_cnn.predict) == "callable"  # a bound method returns NumPy

    class Module:  # a framework's model: callable, but never a black box for "auto"
        __module__ = "torch.nn.modules.module"

        def __call__(self, v):
            return v

    try:
        assert registry.backend_for_model(Module()) != "callable"
    except UnknownNameError as exc:
        assert "torch" in str(exc)
    with pytest.raises(UnknownNameError, match="no native xaikit backend handles models of type builtins.object"):
        registry.backend_for_model(object())
    with pytest.raises(UnknownNameError, match="backend 'callable' does not implement 'gradcam'"):
        xk.explain(linear, np.zeros((1, 6, 8, 3), np.float32), method="gradcam")


def test_explaining_a_numpy_model_imports_no_framework():
    code = ("import sys, numpy as np, xaikit as xk\n"
            "w = np.ones((3, 2), np.float32)\n"
            "exp = xk.explain(lambda x: x.mean(axis=(1, 2)) @ w, np.ones((2, 8, 8, 3), np.float32), "
            "method='occlusion', patch_size=4)\n"
            "assert exp.backend == 'callable'\n"
            "print(' '.join(m for m in ('tensorflow', 'torch', 'keras', 'jax', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"explaining a NumPy model imported {out.stdout}"


def test_fingerprint_reuses_only_a_pinned_version():
    unpinned, pinned = engine_for(BlackBox(linear)), engine_for(BlackBox(linear, version="w1"))
    assert unpinned.fingerprint() != unpinned.fingerprint()  # a closure's state is invisible: never reused
    assert pinned.fingerprint() == pinned.fingerprint() == engine_for(BlackBox(linear, version="w1")).fingerprint()
    assert pinned.fingerprint() != engine_for(BlackBox(linear, version="w2")).fingerprint()
    assert pinned.fingerprint() != engine_for(BlackBox(linear_nchw, version="w1")).fingerprint()
    computed = []
    for engine in (unpinned, unpinned, pinned, pinned):
        engine.memo("key", lambda: computed.append(1))
    assert len(computed) == 3


def test_what_is_known_without_images_and_the_forward_pass_loop(x):
    from types import SimpleNamespace

    from xaikit_callable.services import SERVICES

    bare = engine_for(linear).describe(None)
    assert bare.n_outputs == 0 and bare.input_shape == (None, None, None) and bare.output_activation == "unknown"
    declared = engine_for(BlackBox(linear_nchw, input_shape=(3, 6, 8), output="logit")).describe(None)
    assert declared.layout == "NCHW" and declared.channels == 3 and declared.output_activation == "linear"
    calls = []
    engine = engine_for(BlackBox(lambda v: calls.append(float(v[0, 0, 0, 0])) or linear(v)))
    engine.pass_loop(SimpleNamespace(kind="forward", score="output"), x, np.zeros((3, 1), np.int32), 3)
    assert len(calls) == 3 and calls == sorted(set(calls))  # each pass nudged: nothing can be hoisted
    with pytest.raises(NotImplementedError, match="forward passes only"):
        engine.pass_loop(SimpleNamespace(kind="forward_backward_input", score="output"), x, x, 1)
    with pytest.raises(InputError, match="no loading options"):
        SERVICES.load("m.onnx", arch="resnet18")


def test_conformance_suite_on_numpy_models():
    """xaikit's conformance suite (contract, batch sizes, threads, linear references), channels-first NumPy models."""
    testing = pytest.importorskip("xaikit.testing")  # the suite of the core (after issue 11's merge)

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    class NumpyFactory(testing.ModelFactory):
        layout = "NCHW"

        def linear(self, weights, bias, activation):
            def f(x):
                z = np.einsum("nchw,hwck->nk", x, weights) + bias
                return softmax(z) if activation == "softmax" else z

            return BlackBox(f, layout="NCHW", output="probability" if activation == "softmax" else "logit")

        def cnn(self):
            first = np.random.default_rng(7).normal(0, 0.5, (3, 5)).astype(np.float32)
            second = np.random.default_rng(8).normal(0, 0.5, (5 * 6 * 8, 4)).astype(np.float32)

            def f(x):  # a 1x1 convolution, tanh, dense, softmax
                hidden = np.tanh(np.einsum("nchw,cd->nhwd", x, first))
                return softmax(hidden.reshape(len(x), -1) @ second)

            return BlackBox(f, layout="NCHW", output="probability"), "none"

    checks = testing.conformance_checks("callable", NumpyFactory())
    assert {c.name for c in checks} >= {"callable:occlusion:contract", "callable:occlusion:reference"}
    for check in checks:
        check()


# ----------------------------------------------------------------------------- parity with TensorFlow
def test_a_keras_zoo_model_as_a_function_gives_the_native_occlusion_maps():
    pytest.importorskip("tensorflow")
    from xaikit_tensorflow import zoo

    model = zoo.load_model("shapes_cnn4")
    images = np.asarray(zoo.load_data("shapes_cnn4", "test", n=2).images, np.float32)
    params = {"method": "occlusion", "patch_size": 16, "baseline": 0.5, "batch_size": 8}
    native = xk.explain(model, images, backend="tensorflow", score="output", **params)
    black_box = xk.explain(lambda v: model(v).numpy(), images, **params)
    assert black_box.backend == "callable" and black_box.score == "output"
    np.testing.assert_array_equal(black_box.targets, native.targets)
    np.testing.assert_allclose(black_box.attributions, native.attributions, atol=1e-6)


# ----------------------------------------------------------------------------- ONNX
@pytest.fixture(scope="module")
def tiny_cnn():
    """A Keras CNN (conv + relu + max pool + global average pool + dense + softmax), random weights."""
    keras = pytest.importorskip("keras")
    from keras import layers

    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 10, 3))
    h = layers.Conv2D(5, 3, activation="relu")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, layers.Dense(4, activation="softmax")(h))


def onnx_cnn(model, path, *, channels_last=False, batch="N", last="Softmax"):
    """The same network as an ONNX graph written with onnx.helper (NCHW inside, as ONNX convolutions are)."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    kernel, bias, dense, dense_bias = model.get_weights()
    h, w, c = model.input_shape[1:]
    weights = [numpy_helper.from_array(kernel.transpose(3, 2, 0, 1), "kernel"), numpy_helper.from_array(bias, "bias"),
               numpy_helper.from_array(dense, "dense"), numpy_helper.from_array(dense_bias, "dense_bias")]
    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2])] if channels_last else []
    nodes += [
        helper.make_node("Conv", ["nchw" if channels_last else "image", "kernel", "bias"], ["conv"]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["features"]),
        helper.make_node("Gemm", ["features", "dense", "dense_bias"], ["logits"]),
    ]
    out = "logits"
    if last is not None:
        axis = {"axis": 1} if last == "Softmax" else {}
        nodes.append(helper.make_node(last, ["logits"], ["probabilities"], **axis))
        out = "probabilities"
    shape = [batch, h, w, c] if channels_last else [batch, c, h, w]
    graph = helper.make_graph(nodes, "tiny_cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [batch, 4])], weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("channels_last", [False, True])
def test_onnx_occlusion_equals_the_native_maps_of_the_same_weights(tiny_cnn, tmp_path, channels_last):
    from xaikit_callable import OnnxModel

    model = OnnxModel(onnx_cnn(tiny_cnn, tmp_path / "cnn.onnx", channels_last=channels_last))
    assert model.layout == ("NHWC" if channels_last else "NCHW") and model.activation == "softmax"
    images = np.random.default_rng(5).uniform(0, 1, (3, 12, 10, 3)).astype(np.float32)
    fed = images if channels_last else images.transpose(0, 3, 1, 2)
    for score in ("logit", "probability"):
        params = {"method": "occlusion", "patch_size": (3, 4), "stride": 2, "baseline": 0.5, "score": score,
                  "batch_size": 16}
        native = xk.explain(tiny_cnn, images, backend="tensorflow", **params)
        onnx = xk.explain(model, fed, **params)
        assert onnx.backend == "callable" and onnx.score == score and onnx.layout == model.layout
        np.testing.assert_array_equal(onnx.targets, native.targets)
        np.testing.assert_allclose(onnx.attributions, native.attributions, atol=1e-5)
    assert xk.explain(model, fed, method="occlusion").score == "logit"  # the exposed logits are the default


def test_onnx_graph_facts_fixed_batch_and_sigmoid(tiny_cnn, tmp_path):
    from xaikit_callable import OnnxModel

    images = np.random.default_rng(6).uniform(0, 1, (3, 3, 12, 10)).astype(np.float32)
    free = OnnxModel(onnx_cnn(tiny_cnn, tmp_path / "free.onnx"))
    fixed = OnnxModel(onnx_cnn(tiny_cnn, tmp_path / "fixed.onnx", batch=2))  # fed in slices of 2, padded
    np.testing.assert_allclose(fixed(images), free(images), atol=1e-6)
    assert fixed.fingerprint() != free.fingerprint() and free.fingerprint() == OnnxModel(free.path).fingerprint()
    assert free.parameter_count() == tiny_cnn.count_params()
    linear_graph = OnnxModel(onnx_cnn(tiny_cnn, tmp_path / "linear.onnx", last=None))
    assert linear_graph.activation == "linear"
    np.testing.assert_allclose(linear_graph(images), free.evaluate(images, logits=True)[1], atol=1e-6)
    sigmoid = OnnxModel(onnx_cnn(tiny_cnn, tmp_path / "sigmoid.onnx", last="Sigmoid"))
    assert sigmoid.activation == "sigmoid"
    np.testing.assert_allclose(sigmoid(images), 1 / (1 + np.exp(-linear_graph(images))), atol=1e-6)


def test_a_damaged_or_foreign_onnx_file_is_named(tiny_cnn, tmp_path):
    from xaikit_callable import OnnxModel

    good = onnx_cnn(tiny_cnn, tmp_path / "good.onnx").read_bytes()
    for name, data in {"empty.onnx": b"", "text.onnx": b"not a model at all\n" * 20,
                       "truncated.onnx": good[: len(good) // 2]}.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(FileFormatError, match="not a valid ONNX model|is empty") as info:
            OnnxModel(path)
        assert str(path) in str(info.value)
    with pytest.raises(InputError, match="no such file"):
        OnnxModel(tmp_path / "missing.onnx")


def test_onnx_layout_is_asked_when_the_input_does_not_tell(tiny_cnn, tmp_path):
    from xaikit_callable import OnnxModel

    path = onnx_cnn(tiny_cnn, tmp_path / "free_dims.onnx", batch="N")
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(path))
    for dim, name in zip(proto.graph.input[0].type.tensor_type.shape.dim[1:], ("C", "H", "W")):
        dim.dim_param = name  # every dimension symbolic
    onnx.save(proto, str(path))
    with pytest.raises(InputError, match=r"OnnxModel\(path, layout=...\)"):
        OnnxModel(path)
    assert OnnxModel(path, layout="NCHW").layout == "NCHW"


# ----------------------------------------------------------------------------- command line
def _cli(*args):
    from click.testing import CliRunner

    from xaikit.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    cv2 = pytest.importorskip("cv2")
    folder = tmp_path_factory.mktemp("images")
    for i in range(2):
        cv2.imwrite(str(folder / f"img{i}.png"), np.random.default_rng(i).integers(0, 256, (12, 10, 3), np.uint8))
    return folder


def test_cli_explains_an_onnx_file(tiny_cnn, tmp_path, image_files):
    path = onnx_cnn(tiny_cnn, tmp_path / "cnn.onnx")
    res = _cli("explain", "--model", path, "-i", image_files, "--method", "occlusion", "--patch-size", "4",
               "-o", tmp_path / "maps.png", "--save-npz", tmp_path / "maps.npz", "--preprocess", "scale255")
    assert res.exit_code == 0, res.stderr
    exp = xk.Explanation.load(tmp_path / "maps.npz")
    assert exp.attributions.shape == (2, 12, 10) and exp.layout == "NCHW" and exp.score == "logit"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    res = _cli("explain", "--model", bad, "-i", image_files, "--method", "occlusion", "-o", tmp_path / "b.png")
    assert res.exit_code == 3 and str(bad) in res.stderr and "Traceback" not in res.stderr


def test_cli_python_reference_needs_unsafe(tmp_path, image_files, monkeypatch):
    (tmp_path / "my_models.py").write_text("import numpy as np\n"
                                           "def scores(x):\n"
                                           "    return x.mean(axis=(1, 2))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ("explain", "--model", "my_models:scores", "-i", image_files, "--method", "occlusion", "--patch-size", "4",
            "--input-size", "12", "10", "-o", tmp_path / "maps.png", "--save-npz", tmp_path / "maps.npz")
    res = _cli(*args)
    assert res.exit_code == 3 and "--unsafe" in res.stderr and "imports my_models" in res.stderr
    assert "my_models" not in sys.modules  # nothing was imported
    res = _cli(*args, "--unsafe")
    assert res.exit_code == 0, res.stderr
    assert xk.Explanation.load(tmp_path / "maps.npz").attributions.shape == (2, 12, 10)


def test_bench_runs_an_onnx_file_on_the_black_box_backend_only(tiny_cnn, tmp_path, image_files):
    import json

    path = onnx_cnn(tiny_cnn, tmp_path / "cnn.onnx")  # channels-first: the bench's images are transposed for it
    res = _cli("bench", "--model", path, "--images", image_files, "--preprocess", "scale255", "--n-images", "2",
               "--method", "occlusion", "--param", "occlusion.patch_size=4", "-o", tmp_path / "bench")
    assert res.exit_code == 0, res.stderr
    summary = json.loads((tmp_path / "bench" / "summary.json").read_text())
    rows = [(r["method"], r["backend"]) for r in summary["models"][0]["rows"] if r["backend"] != "control"]
    assert rows == [("occlusion", "callable")] and summary["errors"] == []
    assert summary["models"][0]["info"]["layout"] == "NCHW"
    keras_backends = registry.backends_for_model(tiny_cnn)  # and a Keras model never runs as a black box
    assert "tensorflow" in keras_backends and "callable" not in keras_backends


def test_onnx_external_weights_load_from_any_working_directory(tiny_cnn, tmp_path, monkeypatch):
    from xaikit_callable import OnnxModel

    onnx = pytest.importorskip("onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    inline = onnx_cnn(tiny_cnn, folder / "inline.onnx")
    proto = onnx.load(str(inline))
    path = folder / "external.onnx"
    onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
              size_threshold=0)
    assert (folder / "weights.bin").stat().st_size > 4 * tiny_cnn.count_params() - 1
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the weights are found next to the file, not in the working directory
    images = np.random.default_rng(7).uniform(0, 1, (2, 3, 12, 10)).astype(np.float32)
    external = OnnxModel(path)
    np.testing.assert_array_equal(external(images), OnnxModel(inline)(images))
    assert external.parameter_count() == tiny_cnn.count_params()
    before = external.fingerprint()
    data = bytearray((folder / "weights.bin").read_bytes())
    data[:4] = np.float32(9.0).tobytes()  # other weights, same graph file: another identity
    (folder / "weights.bin").write_bytes(bytes(data))
    assert OnnxModel(path).fingerprint() != before
    (folder / "weights.bin").unlink()
    with pytest.raises(FileFormatError, match="external weights") as info:
        OnnxModel(path)
    assert str(path) in str(info.value)


def test_workers_open_an_onnx_file_with_external_weights_where_it_is(tiny_cnn, tmp_path):
    """Regression: bulk and bench cells on Ray failed on every chunk with such a file: the worker opened the file's
    bytes shipped alone to a temporary folder, without the weights file beside it. A worker that reads the driver's
    file (same contents) opens it in place; one that cannot (another machine) still gets the shipped copy."""
    from xaikit.execution import ModelRef, open_ref, weights_digest
    from xaikit.models import open_model

    onnx = pytest.importorskip("onnx")
    inline = onnx_cnn(tiny_cnn, tmp_path / "inline.onnx")
    path = tmp_path / "external.onnx"
    onnx.save(onnx.load(str(inline)), str(path), save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    for file in (path, inline):
        ref = ModelRef.build({"path": str(file)}, weights_digest(open_model(path=str(file)).model))
        assert ref.data == file.read_bytes()  # shipped with the tasks
        assert open_ref(ref).services.fingerprint(open_ref(ref).model)[:16] == ref.fingerprint
    ref = ModelRef.build({"path": str(inline)}, weights_digest(open_model(path=str(inline)).model))
    inline.unlink()  # a worker without the driver's file opens the copy shipped with the reference
    assert open_ref(ref).services.fingerprint(open_ref(ref).model)[:16] == ref.fingerprint
