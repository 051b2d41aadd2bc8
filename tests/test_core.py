"""The framework-free core: validation, targets, result type, registry, lazy imports."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import xaikit as xk
from xaikit import registry
from xaikit.binding import get_method_class
from xaikit.errors import InputError, MissingDependencyError, UnknownNameError
from xaikit.explainer import ModelSpec, predicted_classes, resolve_score, top_k_classes
from xaikit.validation import check_images, check_pair, check_seed, check_targets


# ----------------------------------------------------------------------------- imports
def test_import_xaikit_does_not_import_frameworks():
    code = ("import sys, xaikit, xaikit.viz, xaikit.registry; xaikit.list_backends(); xaikit.list_methods(); "
            "print(' '.join(m for m in ('tensorflow', 'keras', 'shap', 'tf_explain', 'torch', 'cv2', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import xaikit pulled in: {out.stdout}"


# -------------------------------------------------------------------------- validation
class TestCheckImages:
    def test_uint8_becomes_float32_unscaled(self):
        x = np.full((2, 4, 5, 3), 200, np.uint8)
        out = check_images(x)
        assert out.dtype == np.float32 and out.shape == (2, 4, 5, 3) and out.max() == 200.0

    def test_float32_is_not_copied(self):
        x = np.zeros((1, 4, 4, 3), np.float32)
        assert check_images(x) is x

    @pytest.mark.parametrize("shape, fix", [((4, 5, 3), r"images\[None\]"), ((2, 4, 5), r"images\[..., None\]"),
                                            ((4, 5), r"image\[None, :, :, None\]")])
    def test_wrong_rank_names_the_fix(self, shape, fix):
        with pytest.raises(InputError, match=fix):
            check_images(np.zeros(shape, np.float32))

    def test_single_image_matching_model_is_recognised(self):
        with pytest.raises(InputError, match="single image"):
            check_images(np.zeros((8, 8, 3)), expected_shape=(8, 8, 3))

    def test_empty_batch(self):
        with pytest.raises(InputError, match="empty batch"):
            check_images(np.zeros((0, 4, 4, 3)))

    def test_nan_and_inf_are_located(self):
        x = np.zeros((2, 4, 4, 1), np.float32)
        x[1, 2, 3, 0] = np.nan
        x[0, 0, 0, 0] = np.inf
        with pytest.raises(InputError, match=r"2 NaN or Inf value\(s\) \(first at index \(0, 0, 0, 0\)\)"):
            check_images(x)

    def test_channels_first_is_detected(self):
        with pytest.raises(InputError, match="channels-first.*transpose"):
            check_images(np.zeros((2, 3, 16, 16)), expected_shape=(16, 16, 3))

    def test_grayscale_for_rgb_model(self):
        with pytest.raises(InputError, match="np.repeat"):
            check_images(np.zeros((2, 16, 16, 1)), expected_shape=(16, 16, 3))

    def test_wrong_size_is_not_resized(self):
        with pytest.raises(InputError, match=r"150 x 150 but images are 96 x 160.*cv2.resize\(img, \(150, 150\)\)"):
            check_images(np.zeros((1, 96, 160, 3)), expected_shape=(150, 150, 3))

    def test_non_numeric(self):
        with pytest.raises(InputError, match="numeric"):
            check_images(np.array([["a"]], dtype=object))
        with pytest.raises(InputError, match="bool"):
            check_images(np.zeros((1, 2, 2, 1), bool))


class TestTargets:
    def test_int_broadcasts(self):
        np.testing.assert_array_equal(check_targets(3, 4, 5), [3, 3, 3, 3])

    def test_sequence(self):
        out = check_targets([0, 1, 4], 3, 5)
        assert out.dtype == np.int64 and out.tolist() == [0, 1, 4]

    def test_numpy_scalar(self):
        assert check_targets(np.int32(2), 2, 5).tolist() == [2, 2]

    def test_out_of_range(self):
        with pytest.raises(InputError, match=r"targets\[1\] = 5 is out of range.*0..4"):
            check_targets([0, 5], 2, 5)
        with pytest.raises(InputError, match="out of range"):
            check_targets(-1, 2, 5)

    def test_binary_message(self):
        with pytest.raises(InputError, match="single-sigmoid binary"):
            check_targets(2, 1, 2)

    def test_length_mismatch(self):
        with pytest.raises(InputError, match="3 entries but there are 2 images"):
            check_targets([1, 2, 3], 2, 5)

    def test_floats_and_bools_rejected(self):
        with pytest.raises(InputError, match="integers"):
            check_targets([1.0, 2.0], 2, 5)
        with pytest.raises(InputError, match="bool"):
            check_targets(True, 2, 5)


def test_check_pair_and_seed():
    assert check_pair("patch_size", 4) == (4, 4)
    assert check_pair("patch_size", (2, 3)) == (2, 3)
    with pytest.raises(InputError):
        check_pair("patch_size", (0, 3))
    assert check_seed(5) == 5
    s = check_seed(None)
    assert isinstance(s, int) and 0 <= s < 2**32
    with pytest.raises(InputError):
        check_seed(-1)


# ----------------------------------------------------------------- targets and scores
def test_predicted_classes_softmax_and_binary():
    softmax = ModelSpec((None, None, 3), 3, "softmax")
    assert predicted_classes(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), softmax).tolist() == [1, 0]
    binary = ModelSpec((None, None, 3), 1, "sigmoid")
    assert binary.n_classes == 2 and binary.binary
    assert predicted_classes(np.array([[0.2], [0.9], [0.5]]), binary).tolist() == [0, 1, 0]
    assert top_k_classes(np.array([[0.2], [0.9]]), binary, 2).tolist() == [[0, 1], [1, 0]]


def test_resolve_score():
    assert resolve_score(None, ModelSpec((1, 1, 1), 3, "softmax")) == "logit"
    assert resolve_score(None, ModelSpec((1, 1, 1), 3, "unknown")) == "output"
    with pytest.raises(InputError, match="score='output'"):
        resolve_score("logit", ModelSpec((1, 1, 1), 3, "unknown"))
    with pytest.raises(InputError, match="softmax or sigmoid"):
        resolve_score("probability", ModelSpec((1, 1, 1), 3, "linear"))
    with pytest.raises(InputError, match="one of"):
        resolve_score("loss", ModelSpec((1, 1, 1), 3, "softmax"))


# ------------------------------------------------------------------------- result type
def _explanation(n=2, h=4, w=6):
    rng = np.random.default_rng(0)
    return xk.Explanation(
        attributions=rng.normal(size=(n, h, w)).astype(np.float32), method="gradcam", backend="tensorflow",
        targets=np.arange(n), outputs=rng.uniform(size=(n, 3)).astype(np.float32), predictions=np.arange(n),
        params={"layer": "conv", "seed": 3, "baseline": np.zeros((4, 6, 3))}, elapsed=0.5, layer="conv",
        layer_attributions=np.ones((n, 2, 3), np.float32), extras={"completeness_gap": np.zeros(n, np.float32)},
    )


def test_explanation_save_load_roundtrip(tmp_path):
    exp = _explanation()
    path = exp.save(tmp_path / "exp.npz")
    loaded = xk.Explanation.load(path)
    np.testing.assert_array_equal(loaded.attributions, exp.attributions)
    np.testing.assert_array_equal(loaded.layer_attributions, exp.layer_attributions)
    np.testing.assert_array_equal(loaded.extras["completeness_gap"], exp.extras["completeness_gap"])
    assert loaded.params == exp.params and loaded.method == "gradcam" and loaded.layer == "conv"
    assert json.dumps(loaded.params)  # arrays were summarised, the rest is plain JSON
    assert loaded.params["baseline"]["array_shape"] == [4, 6, 3]


def test_explanation_save_does_not_overwrite_unless_asked(tmp_path):
    exp = _explanation()
    exp.save(tmp_path / "e.npz")
    with pytest.raises(FileExistsError, match="overwrite"):
        exp.save(tmp_path / "e.npz", overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]  # no temporary file left behind


def test_explanation_indexing_keeps_batch_axis():
    exp = _explanation(n=3)
    one = exp[1]
    assert len(one) == 1 and one.attributions.shape == (1, 4, 6) and one.targets.tolist() == [1]
    assert exp[-1].targets.tolist() == [2]
    assert len(exp[np.array([0, 2])]) == 2


def test_explanation_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="float32"):
        xk.Explanation(attributions=np.zeros((2, 4, 4)), method="m", backend="b", targets=np.zeros(2, int),
                       outputs=np.zeros((2, 1)), predictions=np.zeros(2, int), params={}, elapsed=0.0)


def test_normalize_modes():
    maps = np.array([[[0.0, 1.0], [2.0, 4.0]], [[-2.0, 0.0], [1.0, 2.0]]], np.float32)
    out = xk.normalize_maps(maps, "max")
    np.testing.assert_allclose(out[0], [[0, 0.25], [0.5, 1]])
    np.testing.assert_allclose(xk.normalize_maps(maps, "minmax")[1], [[0, 0.5], [0.75, 1]])
    signed = xk.normalize_maps(maps, "signed", percentile=100)
    np.testing.assert_allclose(signed[1], [[-1, 0], [0.5, 1]])
    auto = xk.normalize_maps(maps, "auto", percentile=100)
    np.testing.assert_allclose(auto[0], out[0])  # non-negative -> max
    # signed -> positive: an overlay cannot show a sign, and |a| would draw the evidence against the target as hot
    np.testing.assert_allclose(auto[1], [[0, 0], [0.5, 1]])
    np.testing.assert_allclose(xk.normalize_maps(maps, "abs", percentile=100)[1], [[1, 0], [0.5, 1]])
    offset = np.array([[[5.0, 5.0], [5.0, 6.0]]], np.float32)  # a band away from zero: its rise above the median
    np.testing.assert_allclose(xk.normalize_maps(offset, "auto", percentile=100), [[[0, 0], [0, 1]]])
    assert not xk.normalize_maps(np.zeros((1, 3, 3)), "minmax").any()
    with pytest.raises(InputError):
        xk.normalize_maps(maps, "zscore")


def test_activations_container(tmp_path):
    acts = xk.Activations({"b": np.ones((1, 2, 2, 3)), "a": np.zeros((1, 4, 4, 2))}, backend="x", elapsed=0.1)
    assert acts.layers == ["b", "a"] and acts["b"].dtype == np.float32
    with pytest.raises(KeyError, match="available"):
        acts["zz"]
    loaded = xk.Activations.load(acts.save(tmp_path / "acts.npz"))
    assert loaded.layers == ["b", "a"] and loaded["a"].shape == (1, 4, 4, 2)


# ---------------------------------------------------------------------------- registry
def test_unknown_method_and_backend_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="methods: activations, occlusion, gradcam"):
        get_method_class("no_such_method", "tensorflow")
    with pytest.raises(UnknownNameError, match="registered backends: .*tensorflow"):
        get_method_class("gradcam", "pytorch")
    with pytest.raises(InputError, match="unknown method"):
        xk.explain(object(), np.zeros((1, 2, 2, 1)), method="no_such_method")


def test_auto_backend_for_unknown_model_type():
    with pytest.raises(UnknownNameError, match="no native xaikit backend handles models of type builtins.object"):
        registry.backend_for_model(object())


def test_list_methods_and_backends():
    methods = {m.id: m for m in xk.list_methods()}
    assert set(methods) == set(xk.METHODS)
    assert "tensorflow" in methods["gradcam"].backends + methods["gradcam"].unavailable_backends
    backends = {b.name: b for b in xk.list_backends()}
    assert "tensorflow" in backends
    assert str(backends["tensorflow"])


class _FakeEntryPoint:
    def __init__(self, name, value, obj=None, error=None):
        self.name, self.value, self._obj, self._error = name, value, obj, error

    def load(self):
        if self._error:
            raise self._error
        return self._obj


def test_broken_plugin_is_a_warning_and_missing_dependency_names_the_extra(monkeypatch):
    spec = registry.BackendSpec(name="fake", description="d", methods={"gradcam": "nowhere:Cls"},
                                requires=("surely_not_installed_module_xyz",), extra="fake")
    eps = [_FakeEntryPoint("broken", "broken_pkg:BACKEND", error=ImportError("boom")),
           _FakeEntryPoint("fake", "fake_pkg:BACKEND", obj=spec)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)  # what xaikit.plugins reads
    registry.refresh()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = {b.name: b for b in xk.list_backends()}
        assert any("broken" in str(w.message) and "boom" in str(w.message) for w in caught)
        assert not rows["fake"].available and rows["fake"].missing == ("surely_not_installed_module_xyz",)
        with pytest.raises(MissingDependencyError, match=r'pip install "xaikit\[fake\]"'):
            get_method_class("gradcam", "fake")
        with pytest.raises(UnknownNameError, match="does not implement 'occlusion'"):
            get_method_class("occlusion", "fake")
    finally:
        registry.refresh()


def test_get_explainer_rejects_unknown_parameters(functional_cnn):
    with pytest.raises(InputError, match="no parameter.*'patch'.*patch_size"):
        xk.get_explainer(functional_cnn, "occlusion", patch=4)
    with pytest.raises(InputError, match="xaikit.activations"):
        xk.get_explainer(functional_cnn, "activations")


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from xaikit.atomic_files import atomic_write_text

    path = atomic_write_text(tmp_path / "note.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_random_streams_are_the_same_in_both_layouts():
    """Streams are keyed and drawn channels-last, so a channels-first model gets the same noise, transposed."""
    from xaikit.kernels import ImageStreams

    nhwc = np.random.default_rng(0).uniform(size=(2, 5, 7, 3)).astype(np.float32)
    nchw = nhwc.transpose(0, 3, 1, 2).copy()
    last, first = ImageStreams(9, nhwc, "noise", "NHWC"), ImageStreams(9, nchw, "noise", "NCHW")
    for count in (3, 1, 4):  # drawn a chunk at a time, in sample order
        a = last.normal(1, count, (5, 7, 3), 0.5)
        b = first.normal(1, count, (3, 5, 7), 0.5, "NCHW")
        assert b.flags.c_contiguous
        np.testing.assert_array_equal(b, a.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ImageStreams(9, nchw, "references", "NCHW").integers(0, 6, 10),
                                  ImageStreams(9, nhwc, "references", "NHWC").integers(0, 6, 10))
    # channels-last activations of a channels-first model draw as they are
    np.testing.assert_array_equal(ImageStreams(9, nchw, "smoothing", "NCHW").normal(0, 2, (4, 4, 8)),
                                  ImageStreams(9, nhwc, "smoothing", "NHWC").normal(0, 2, (4, 4, 8)))


def test_core_methods_are_exactly_the_implemented_ones():
    """A catalogue method is offered by native backends only if the core implements it (``core``)."""
    from xaikit.methods import ATTENTION_METHODS, CORE_METHODS, IMPLEMENTATIONS

    assert set(CORE_METHODS) == set(IMPLEMENTATIONS) - {"activations", *ATTENTION_METHODS}
    assert set(ATTENTION_METHODS) == {"attention_rollout", "generic_attention"}
    library_only = [m for m, s in xk.METHODS.items() if not s.core]
    assert library_only == ["partition_shap"]
    for spec in registry.discover_backends().values():
        if spec.engine:
            assert not set(library_only) & set(spec.offered()), spec.name
