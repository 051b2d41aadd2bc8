"""Model files that carry code or are damaged: refused with an error naming the file and the problem.

The API loader (xaikit_tensorflow.loading.load_model) and the command line (xaikit explain
--model ...) give the same messages; the command line exits with the bad-input code 3.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")
from click.testing import CliRunner
from xaikit_tensorflow import zoo
from xaikit_tensorflow.loading import load_model

from xaikit.cli import main
from xaikit.errors import FileFormatError, InputError

pytestmark = pytest.mark.tensorflow
EXIT_INPUT = 3


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("model_files")
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inp)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.save(d / "good.keras")
    model.save(d / "good.h5")
    model.save_weights(d / "only.weights.h5")
    cv2.imwrite(str(d / "image.png"), np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return d


# --------------------------------------------------------------------------- a SavedModel runs its own graph
@pytest.fixture(scope="module")
def writing_savedmodel(tmp_path_factory):
    """A SavedModel whose serving function writes a file each time it is called."""
    d = tmp_path_factory.mktemp("savedmodel")
    marker = d / "written-by-the-graph.txt"

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((8 * 8 * 3, 2), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(marker), "the graph ran")
            return tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 8 * 8 * 3]), self.w))

    module = Classifier()
    tf.saved_model.save(module, str(d / "model"), signatures={"serving_default": module.serve})
    assert not marker.exists()
    return d / "model", marker


def test_savedmodel_needs_unsafe_and_nothing_runs_without_it(folder, writing_savedmodel, tmp_path):
    path, marker = writing_savedmodel
    args = ["explain", "--model", path, "-i", folder / "image.png", "--method", "vanilla_gradients",
            "--save-npz", tmp_path / "x.npz"]
    res = _cli(*args)
    assert res.exit_code == EXIT_INPUT, res.stderr
    assert "SavedModel" in res.stderr and "--unsafe" in res.stderr and "write files" in res.stderr
    assert "Lambda" not in res.stderr
    assert not marker.exists() and not (tmp_path / "x.npz").exists()
    with pytest.raises(InputError, match="unsafe=True"):
        load_model(path)
    assert not marker.exists()

    res = _cli(*args, "--unsafe")
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "x.npz").is_file() and marker.exists()  # trusted: it ran, as it was saved to


# --------------------------------------------------------------------------- damaged files
def _damaged(folder, tmp_path):
    good = (folder / "good.keras").read_bytes()
    h5 = (folder / "good.h5").read_bytes()
    with zipfile.ZipFile(folder / "good.keras") as zf:
        member = zf.getinfo("model.weights.h5")
        flip_at = member.header_offset + 30 + len(member.filename) + len(member.extra) + member.compress_size // 2
    flipped = bytearray(good)
    flipped[flip_at] ^= 0xFF
    zip_without_config = tmp_path / "noconfig.keras"
    with zipfile.ZipFile(zip_without_config, "w") as zf:
        zf.writestr("notes.txt", "hello")
    files = {
        "flipped.keras": (bytes(flipped), r"damaged: the member 'model.weights.h5' fails its checksum"),
        "truncated.keras": (good[: len(good) // 2], r"truncated: it starts like a .keras zip archive"),
        "empty.keras": (b"", r"the file is empty"),
        "text.keras": (b"not a model at all", r"not a zip archive, which a .keras file is"),
        "legacy.keras": (h5, r"it is an HDF5 file, not a .keras zip archive.*rename it to .h5"),
        "truncated.h5": (h5[: len(h5) // 2], r"truncated \([\d,]+ of [\d,]+ bytes\)"),
        "text.h5": (b"not a model at all", r"not an HDF5 file"),
        "zip.h5": (good, r"a zip archive, not an HDF5 file.*rename it to .keras"),
        "noconfig.keras": (zip_without_config.read_bytes(), r"not a Keras model file \(no config.json inside\)"),
    }
    for name, (data, _) in files.items():
        (tmp_path / name).write_bytes(data)
    return {tmp_path / name: message for name, (_, message) in files.items()}


def test_damaged_model_files_are_named_with_what_is_wrong(folder, tmp_path):
    for path, message in _damaged(folder, tmp_path).items():
        with pytest.raises(FileFormatError, match=message) as info:
            load_model(path)
        assert str(path) in str(info.value), path
        res = _cli("explain", "--model", path, "-i", folder / "image.png", "-o", tmp_path / "x.png")
        assert res.exit_code == EXIT_INPUT and str(path) in res.stderr and "Traceback" not in res.stderr, path
        assert "not a loadable Keras model file" in res.stderr and "File not found" not in res.stderr, path
    assert load_model(folder / "good.keras").output_shape == (None, 3)
    assert load_model(folder / "good.h5").output_shape == (None, 3)


def test_other_refusals(folder, tmp_path):
    with pytest.raises(InputError, match="holds weights only"):
        load_model(folder / "only.weights.h5")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(InputError, match="got a .onnx file"):
        load_model(tmp_path / "model.onnx")
    with pytest.raises(InputError, match="no such file"):
        load_model(tmp_path / "missing.keras")
    with pytest.raises(InputError, match="not a TensorFlow SavedModel"):
        load_model(tmp_path)


def test_a_damaged_zoo_file_is_named(tmp_path):
    source = zoo.MODELS_DIR / "shapes_binary.keras"
    (tmp_path / "shapes_binary.keras").write_bytes(source.read_bytes()[:1000])
    with pytest.raises(FileFormatError, match="shapes_binary.keras is not a loadable Keras model file.*truncated"):
        zoo.load_model("shapes_binary", directory=tmp_path)


def test_a_damaged_zoo_training_record_is_named(tmp_path, monkeypatch):
    (tmp_path / "shapes_binary.json").write_text('{"test_accuracy": 0.9')
    monkeypatch.setattr(zoo, "MODELS_DIR", tmp_path)
    with pytest.raises(FileFormatError, match=r"shapes_binary.json is not a readable zoo training record.*zoo.train"):
        _ = zoo.ZOO["shapes_binary"].metadata
