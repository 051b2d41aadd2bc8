"""The model zoo: shipped weights load safely, have the advertised contract and accuracy."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xaikit.atomic_files import is_temp_file
from xaikit.errors import InputError, UnknownNameError

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from xaikit_tensorflow import zoo  # noqa: E402
from xaikit_tensorflow.zoo.architectures import cnn4, conv_bn_leaky  # noqa: E402

NAMES = ["shapes_cnn4", "shapes_binary", "digits_bn"]


@pytest.fixture(scope="module", params=NAMES)
def loaded(request: pytest.FixtureRequest) -> tuple[zoo.ZooModel, object]:
    return zoo.model_info(request.param), zoo.load_model(request.param)


def test_zoo_lists_the_three_models() -> None:
    assert [m.name for m in zoo.list_models()] == NAMES == list(zoo.ZOO)
    for entry in zoo.list_models():
        assert entry.path.is_file(), f"missing {entry.path}: run python -m xaikit_tensorflow.zoo.train --all"
        assert entry.path.stat().st_size < 2_000_000
        assert entry.accuracy is not None and entry.accuracy >= entry.training["min_accuracy"]
        assert entry.name in str(entry)


def test_metadata_matches_the_table() -> None:
    for entry in zoo.list_models():
        meta = entry.metadata
        assert meta["name"] == entry.name and meta["dataset"] == entry.dataset
        assert tuple(meta["input_shape"]) == entry.input_shape
        assert tuple(meta["class_names"]) == entry.class_names
        assert meta["output_activation"] == entry.output_activation
        assert meta["training"]["epochs"] == entry.training["epochs"]
        assert {"tensorflow", "keras", "numpy"} <= set(meta["versions"])


def test_model_contract(loaded: tuple[zoo.ZooModel, object]) -> None:
    entry, model = loaded
    assert isinstance(model, keras.Model)
    assert tuple(model.input_shape[1:]) == entry.input_shape
    assert model.output_shape == (None, entry.n_outputs)
    last = model.layers[-1]
    assert last.name == "dense_1" and last.activation.__name__ == entry.output_activation
    names = [layer.name for layer in model.layers]
    assert {"conv2d", "conv2d_1", "flatten", "dense"} <= set(names)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    assert getattr(model, "optimizer", None) is None, "shipped uncompiled, without optimizer state"


def test_file_loads_in_safe_mode_and_matches_its_checksum(loaded: tuple[zoo.ZooModel, object]) -> None:
    from xaikit_tensorflow.zoo.train import weights_sha256

    entry, _ = loaded
    model = keras.saving.load_model(entry.path, compile=False, safe_mode=True)
    assert weights_sha256(model) == entry.metadata["weights_sha256"]


def test_advertised_accuracy_on_200_test_images(loaded: tuple[zoo.ZooModel, object]) -> None:
    entry, model = loaded
    data = zoo.load_data(entry.name, "test", n=200)
    assert data.image_shape == entry.input_shape and data.class_names == entry.class_names
    outputs = np.asarray(model.predict(data.images, batch_size=100, verbose=0))
    assert np.all(outputs >= 0) and np.all(outputs <= 1)
    if entry.output_activation == "sigmoid":
        predicted = (outputs[:, 0] > 0.5).astype(np.int64)
    else:
        np.testing.assert_allclose(outputs.sum(axis=1), 1.0, atol=1e-4)
        predicted = outputs.argmax(axis=1)
    accuracy = float(np.mean(predicted == data.labels))
    assert accuracy >= 0.9, f"{entry.name}: {accuracy:.3f} on 200 test images (advertised {entry.accuracy})"


@pytest.mark.parametrize("name, chance", [("shapes_cnn4", 0.25), ("shapes_binary", 0.5)])
def test_shapes_models_decide_by_the_class_object(name: str, chance: float) -> None:
    """Inpainting the object away drops accuracy to chance; blurring all the rest does not."""
    import cv2

    model, data = zoo.load_model(name), zoo.load_data(name, "test", n=200)
    erased, object_only = data.images.copy(), data.images.copy()
    for i, (image, mask) in enumerate(zip(data.images, data.masks, strict=True)):
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
        erased[i] = cv2.inpaint((image * 255).astype(np.uint8), grown, 3, cv2.INPAINT_TELEA) / 255.0
        object_only[i] = np.where(mask[..., None], image, cv2.GaussianBlur(image, (0, 0), 6))

    def accuracy(images: np.ndarray) -> float:
        out = np.asarray(model.predict(images, batch_size=100, verbose=0))
        predicted = (out[:, 0] > 0.5) if out.shape[1] == 1 else out.argmax(axis=1)
        return float(np.mean(predicted == data.labels))

    assert accuracy(erased) < chance + 0.15
    assert accuracy(object_only) >= 0.9


def test_load_data() -> None:
    shapes = zoo.load_data("shapes_cnn4", n=8)
    assert shapes.images.shape == (8, 64, 64, 3) and shapes.masks.shape == (8, 64, 64)
    train = zoo.load_data("shapes_cnn4", "train", n=8)
    assert not np.array_equal(train.images, shapes.images)
    np.testing.assert_array_equal(zoo.load_data("shapes_cnn4", n=20).images[:8], shapes.images)
    binary = zoo.load_data("shapes_binary", n=6)
    assert binary.class_names == ("circle", "cross") and set(binary.labels.tolist()) <= {0, 1}
    digits = zoo.load_data("digits_bn", n=5)
    assert digits.images.shape == (5, 32, 32, 1) and digits.masks is None
    assert len(zoo.load_data("digits_bn")) == zoo.ZOO["digits_bn"].metadata["n_test"]


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="shapes_cnn4"):
        zoo.load_model("resnet50")
    with pytest.raises(UnknownNameError, match="digits_bn"):
        zoo.load_data("nope")
    with pytest.raises(InputError, match="split"):
        zoo.load_data("digits_bn", split="validation")


def test_missing_file_gives_the_training_command(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m xaikit_tensorflow.zoo.train --model digits_bn"):
        zoo.load_model("digits_bn", directory=tmp_path)


# ----------------------------------------------------------------- architectures
def test_cnn4_functional_and_sequential_agree() -> None:
    functional = cnn4((64, 64, 3), 4)
    sequential = cnn4((64, 64, 3), 4, functional=False)
    assert isinstance(sequential, keras.Sequential)
    assert [layer.name for layer in functional.layers[1:]] == [layer.name for layer in sequential.layers]
    sequential.set_weights(functional.get_weights())
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(functional(x), sequential(x), atol=1e-6)


def test_builders_output_heads() -> None:
    assert cnn4((64, 64, 3), 1).layers[-1].activation.__name__ == "sigmoid"
    assert cnn4((48, 80, 3), 3).output_shape == (None, 3)  # non-square input
    model = conv_bn_leaky((32, 32, 1), 10)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert "batch_normalization_2" in [layer.name for layer in model.layers]
    with pytest.raises(InputError, match="n_classes"):
        conv_bn_leaky((32, 32, 1), 1)
    with pytest.raises(InputError, match="input_shape"):
        cnn4((64, 64), 2)


# ------------------------------------------------------------ lazy import, training
def test_zoo_import_and_data_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from xaikit_tensorflow import zoo\n"
        "zoo.list_models(); zoo.load_data('shapes_cnn4', n=2); str(zoo.ZOO['digits_bn'])\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_training_script_writes_loadable_files(tmp_path) -> None:
    """One epoch of digits_bn in a subprocess (op determinism is process-global)."""
    cmd = [sys.executable, "-m", "xaikit_tensorflow.zoo.train", "--model", "digits_bn", "--epochs", "1",
           "--quiet", "--out", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert "test accuracy" in result.stdout, result.stdout + result.stderr
    meta = json.loads((tmp_path / "digits_bn.json").read_text())
    assert meta["training"]["epochs"] == 1 and meta["n_test"] == len(zoo.load_data("digits_bn"))
    model = zoo.load_model("digits_bn", directory=tmp_path)
    assert model.output_shape == (None, 10)
    assert not [p for p in tmp_path.iterdir() if is_temp_file(p)], "no temporary files left behind"
