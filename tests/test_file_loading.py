"""Loading files xaikit wrote after someone damaged or crafted them: one clear error, nothing allocated first."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xaikit as xk
from xaikit.errors import FileFormatError, InputError

N, H, W, K = 2, 6, 5, 3


def _explanation(**changes) -> xk.Explanation:
    rng = np.random.default_rng(0)
    fields = {"attributions": rng.normal(size=(N, H, W)).astype(np.float32), "method": "gradcam",
              "backend": "tensorflow", "targets": np.array([0, 2]), "outputs": rng.random((N, K)).astype(np.float32),
              "predictions": np.array([1, 2]), "params": {"layer": "conv"}, "elapsed": 0.5, "layer": "conv",
              "layer_attributions": np.ones((N, 3, 2), np.float32), "extras": {"completeness_gap": np.zeros(N)}}
    return xk.Explanation(**{**fields, **changes})


def _meta(**changes) -> dict:
    meta = {"format": "xaikit.Explanation", "format_version": 1, "method": "gradcam", "backend": "tensorflow",
            "params": {}, "elapsed": 0.5, "score": "logit", "layer": None, "info": {}}
    return {**meta, **changes}


def _write(path: Path, arrays: dict, meta: dict | None = None, *, drop: tuple = ()) -> Path:
    """An npz as Explanation.save writes it, from ``arrays`` (defaults: a valid explanation) and ``meta``."""
    base = {"attributions": np.zeros((N, H, W), np.float32), "targets": np.array([0, 1]),
            "outputs": np.zeros((N, K), np.float32), "predictions": np.array([0, 1])}
    base.update(arrays)
    if meta is not None:
        base["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    for name in drop:
        base.pop(name)
    np.savez_compressed(path, **base)
    return path


def _header_only(name: str, shape: tuple, descr: str = "<f4") -> bytes:
    """A .npy member that claims ``shape`` but holds 16 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(16)


def test_roundtrip_still_exact(tmp_path):
    exp = _explanation()
    loaded = xk.Explanation.load(exp.save(tmp_path / "e.npz"))
    np.testing.assert_array_equal(loaded.attributions, exp.attributions)
    np.testing.assert_array_equal(loaded.layer_attributions, exp.layer_attributions)
    assert loaded.extras.keys() == {"completeness_gap"} and loaded.layer == "conv" and loaded.targets.tolist() == [0, 2]


@pytest.mark.parametrize(("arrays", "meta", "drop", "message"), [
    ({"targets": np.array(["cat", "dog"])}, _meta(), (), r"'targets' holds <U3 values; it must hold integers"),
    ({"targets": np.array([0, 3])}, _meta(), (), r"targets must be class indices in \[0, 3\)"),
    ({"predictions": np.array([-1, 0])}, _meta(), (), r"predictions must be class indices"),
    ({"targets": np.array([[0], [1]])}, _meta(), (), r"'targets' has shape \(2, 1\); it must have 1 dimension"),
    ({"outputs": np.zeros((3, K), np.float32)}, _meta(), (), r"'outputs' has 3 rows for 2 images"),
    ({"attributions": np.zeros((N, H, W))}, _meta(), (), r"'attributions' is float64; it must be float32"),
    ({"targets": np.array([{"x": 1}, None], dtype=object)}, _meta(), (), r"Python objects.*never loads pickled"),
    ({}, None, (), r"the array '__meta__' is missing"),
    ({}, _meta(), ("predictions",), r"the array 'predictions' is missing"),
    ({}, _meta(format="xaikit.Activations"), (), r"holds 'xaikit.Activations', not 'xaikit.Explanation'"),
    ({}, _meta(format_version=99), (), r"format version 99 by a newer xaikit.*upgrade"),
    ({}, _meta(elapsed="fast"), (), r"'elapsed' is str 'fast'; expected int or float"),
    ({}, _meta(method=None), (), r"'method' is NoneType"),
    ({}, {k: v for k, v in _meta().items() if k != "params"}, (), r"metadata has no 'params'"),
    ({}, [1, 2], (), r"not an xaikit metadata record"),
    ({"__meta__": np.frombuffer(b"{not json", np.uint8)}, None, (), r"not valid JSON"),
    ({"__meta__": np.zeros(3, np.int32)}, None, (), r"'__meta__' is int32; it must be uint8"),
])
def test_tampered_explanations_raise_one_error_naming_the_file(tmp_path, arrays, meta, drop, message):
    path = _write(tmp_path / "bad.npz", arrays, meta, drop=drop)
    with pytest.raises(FileFormatError, match=message) as info:
        xk.Explanation.load(path)
    assert str(path) in str(info.value) and "is not a readable xaikit Explanation file" in str(info.value)
    assert isinstance(info.value, InputError)


def test_damaged_archives(tmp_path):
    good = _explanation().save(tmp_path / "good.npz").read_bytes()
    cases = {"empty.npz": (b"", "the file is empty"),
             "half.npz": (good[: len(good) // 2], "truncated"),
             "text.npz": (b"hello, world", "not an npz"),
             "flip.npz": (good[:120] + bytes([good[120] ^ 0xFF]) + good[121:], "damaged")}
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FileFormatError, match=message):
            xk.Explanation.load(tmp_path / name)


def test_a_header_that_lies_about_its_size_is_refused_before_allocating(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("attributions.npy", _header_only("attributions", (100_000, 1000, 1000)))
    with pytest.raises(FileFormatError, match=r"claims float32 \(100000, 1000, 1000\).*damaged or was altered"):
        xk.Explanation.load(path)


def test_a_large_invalid_file_fails_before_its_arrays_are_allocated(tmp_path):
    """64 MB of compressible zeros and a missing array: the old loader read the zeros, then raised KeyError."""
    path = _write(tmp_path / "bomb.npz", {"attributions": np.zeros((N, 2048, 4096), np.float32)}, _meta(),
                  drop=("predictions",))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError, match="'predictions' is missing"):
            xk.Explanation.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB allocated before failing"


def test_max_bytes_bounds_what_a_file_may_allocate(tmp_path):
    path = _explanation().save(tmp_path / "e.npz")
    with pytest.raises(FileFormatError, match="more than max_bytes=100"):
        xk.Explanation.load(path, max_bytes=100)
    assert xk.Explanation.load(path, max_bytes=None).shape == (N, H, W)


def test_activations_load_is_checked_the_same_way(tmp_path):
    acts = xk.Activations({"conv": np.ones((N, 4, 4, 2)), "pool": np.ones((N, 2, 2, 2))}, backend="tensorflow",
                          elapsed=0.1, outputs=np.zeros((N, K), np.float32))
    path = acts.save(tmp_path / "a.npz")
    loaded = xk.Activations.load(path)
    assert loaded.layers == ["conv", "pool"] and loaded["pool"].shape == (N, 2, 2, 2)
    meta = {"format": "xaikit.Activations", "format_version": 1, "layers": ["conv", "pool"], "backend": "tensorflow",
            "elapsed": 0.1, "params": {}, "info": None}
    ok = {"layer/0": np.ones((N, 4, 4, 2), np.float32), "layer/1": np.ones((N, 2, 2, 2), np.float32)}
    cases = [({"layer/0": ok["layer/0"]}, meta, "'layer/1' is missing"),
             ({**ok, "layer/1": np.ones((3, 2), np.float32)}, meta, "same N"),
             ({**ok, "layer/1": np.array(["a", "b"])}, meta, "must be float32"),
             (ok, {**meta, "layers": ["conv", 3]}, "distinct layer names"),
             (ok, {**meta, "format": "xaikit.Explanation"}, "not 'xaikit.Activations'"),
             ({**ok, "outputs": np.zeros((5, K), np.float32)}, meta, "'outputs' has 5 rows")]
    for arrays, m, message in cases:
        bad = tmp_path / "bad.npz"
        np.savez(bad, **arrays, __meta__=np.frombuffer(json.dumps(m).encode(), np.uint8))
        with pytest.raises(FileFormatError, match=message):
            xk.Activations.load(bad)
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:-30])
    with pytest.raises(FileFormatError, match="Activations file: the file is truncated"):
        xk.Activations.load(tmp_path / "cut.npz")


# ----------------------------------------------------------------------------- fuzzing
_GOOD = io.BytesIO()
np.savez_compressed(_GOOD, attributions=np.arange(N * H * W, dtype=np.float32).reshape(N, H, W),
                    targets=np.array([0, 1]), outputs=np.zeros((N, K), np.float32), predictions=np.array([2, 1]),
                    **{"extras/gap": np.ones(N)}, __meta__=np.frombuffer(json.dumps(_meta()).encode(), np.uint8))
GOOD = _GOOD.getvalue()


def _load_or_file_format_error(path: Path) -> None:
    try:
        exp = xk.Explanation.load(path)
    except FileFormatError as exc:
        assert str(path) in str(exc)
    else:  # whatever survived the damage is a valid explanation
        assert exp.attributions.dtype == np.float32 and exp.attributions.shape == (N, H, W)
        assert exp.targets.dtype.kind in "iu" and exp.outputs.shape == (N, K)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)), min_size=1, max_size=4),
       truncate=st.one_of(st.none(), st.integers(0, len(GOOD))))
def test_fuzz_damaged_bytes(tmp_path, cuts, truncate):
    data = bytearray(GOOD)
    for pos, xor in cuts:
        data[pos] ^= xor
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(data[:truncate]))
    _load_or_file_format_error(path)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from([*sorted(_meta()), "extra"]), _JSON, max_size=4))
def test_fuzz_metadata(tmp_path, changes):
    path = _write(tmp_path / "meta.npz", {}, _meta(**changes))
    _load_or_file_format_error(path)


# ----------------------------------------------------------------------------- what save writes, load reads
@pytest.mark.parametrize(("changes", "message"), [
    ({"extras": {"labels": np.array(["cat", "dog"])}}, r"'extras/labels' holds <U3 values; it must hold"),
    ({"extras": {"spectrum": np.ones(N, np.complex64)}}, r"'extras/spectrum' has the dtype complex64"),
    ({"extras": {"ragged": [[1, 2], [3]]}}, r"extras 'ragged' is not an array of numbers"),
    ({"extras": {"a\x00b": np.zeros(2)}}, r"extras name 'a\\x00b' would not be read back"),  # found by hypothesis
    ({"extras": {3: np.zeros(2)}}, r"extras name 3 would not be read back"),
    ({"elapsed": float("nan")}, r"'elapsed' is nan; expected a finite number"),
    ({"targets": np.array([0, 3])}, r"targets must be class indices in \[0, 3\)"),
    ({"layer_attributions": np.ones((N, 3, 2))}, r"'layer_attributions' is float64; it must be float32"),
    ({"layout": "CHW"}, r"'layout' must be 'NHWC' or 'NCHW'"),
    ({"method": 3}, r"'method' is int"),
])
def test_save_refuses_first_what_load_would_refuse(tmp_path, changes, message):
    exp = _explanation(**changes)
    with pytest.raises(InputError, match=message) as info:
        exp.save(tmp_path / "e.npz")
    assert "cannot be saved" in str(info.value) and str(tmp_path / "e.npz") in str(info.value)
    assert not isinstance(info.value, FileFormatError)  # nothing is wrong with a file: the object is
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_save_to_a_folder_or_under_a_file_says_so(tmp_path):
    exp = _explanation()
    for overwrite in (False, True):
        with pytest.raises(InputError, match="is a folder, not a file") as info:
            exp.save(tmp_path, overwrite=overwrite)
        assert "xaikit-tmp" not in str(info.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        exp.save(tmp_path / "file" / "e.npz")
    with pytest.raises(InputError, match="is a folder, not a file"):
        xk.Activations({"conv": np.ones((N, 2, 2, 1))}, backend="tensorflow", elapsed=0.1).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_activations_save_refuses_what_their_load_would_refuse(tmp_path):
    cases = [({"elapsed": float("inf")}, r"'elapsed' is inf"),
             ({"outputs": np.array(["a", "b"])}, r"'outputs' holds <U1 values"),
             ({"outputs": np.zeros((5, K), np.float32)}, r"'outputs' has 5 rows for 2 images")]
    for changes, message in cases:
        acts = xk.Activations({"conv": np.ones((N, 2, 2, 1))}, **{"backend": "tensorflow", "elapsed": 0.1, **changes})
        with pytest.raises(InputError, match=message):
            acts.save(tmp_path / "a.npz")
    assert list(tmp_path.iterdir()) == []


_ARRAYS = st.sampled_from(["f2", "f4", "f8", "i1", "i8", "u2", "?", "c8", "U3", "S2", "M8[s]", "O"]).flatmap(
    lambda dtype: st.tuples(st.just(dtype), st.lists(st.integers(0, 3), max_size=3)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extras=st.dictionaries(st.text(max_size=6), _ARRAYS, max_size=3),
       params=st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
       elapsed=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**20)
       | st.floats(width=32).map(np.float32) | st.just("fast"),
       layer=st.none() | st.text(max_size=6), score=st.text(max_size=6))
def test_what_save_accepts_load_reads_back_the_same(tmp_path, extras, params, elapsed, layer, score):
    arrays = {}
    for key, (dtype, shape) in extras.items():
        values = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) % 3
        arrays[key] = values.astype(dtype) if dtype != "O" else values.astype(object)
    exp = _explanation(extras=arrays, params=params, elapsed=elapsed, layer=layer, score=score)
    path = tmp_path / "e.npz"
    path.unlink(missing_ok=True)
    try:
        exp.save(path)
    except InputError as exc:  # refused before writing anything, with the reason
        assert "cannot be saved" in str(exc) and not path.exists()
        return
    loaded = xk.Explanation.load(path)  # never FileFormatError
    assert loaded.extras.keys() == exp.extras.keys()
    for key, value in exp.extras.items():
        np.testing.assert_array_equal(loaded.extras[key], value)
        assert loaded.extras[key].dtype == np.asarray(value).dtype
    assert json.dumps(loaded.params, sort_keys=True) == json.dumps(exp.params, sort_keys=True)
    assert (loaded.elapsed, loaded.layer, loaded.score) == (exp.elapsed, exp.layer, exp.score)


def test_a_figure_saved_to_a_folder_says_so(tmp_path):
    from matplotlib.figure import Figure

    from xaikit.viz import save_figure

    (tmp_path / "maps.png").mkdir()
    with pytest.raises(InputError, match="is a folder, not a file"):
        save_figure(Figure(), tmp_path / "maps.png")
