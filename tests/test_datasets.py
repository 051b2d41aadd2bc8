"""xaikit.datasets: synthetic shapes with ground-truth masks, upscaled digits, the container."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from xaikit.datasets import (
    BINARY_CLASSES,
    DIGIT_CLASSES,
    SHAPE_CLASSES,
    ImageDataset,
    load_digits,
    make_shapes,
)
from xaikit.errors import InputError, MissingDependencyError


@pytest.fixture(scope="module")
def shapes() -> ImageDataset:
    return make_shapes(120, seed=7)


# ------------------------------------------------------------------ make_shapes
def test_shapes_types_shapes_and_ranges(shapes: ImageDataset) -> None:
    assert shapes.images.shape == (120, 64, 64, 3) and shapes.images.dtype == np.float32
    assert shapes.labels.shape == (120,) and shapes.labels.dtype == np.int64
    assert shapes.masks is not None and shapes.masks.shape == (120, 64, 64) and shapes.masks.dtype == np.bool_
    assert shapes.images.min() >= 0.0 and shapes.images.max() <= 1.0
    assert shapes.class_names == SHAPE_CLASSES == ("circle", "square", "triangle", "cross")
    assert shapes.image_shape == (64, 64, 3) and shapes.n_classes == 4
    assert shapes.masks.reshape(120, -1).any(axis=1).all(), "every image has its class object"


def test_shapes_deterministic_by_seed_and_prefix_stable() -> None:
    a, b = make_shapes(12, seed=3), make_shapes(12, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.masks, b.masks)
    other = make_shapes(12, seed=4)
    assert not np.array_equal(a.images, other.images)
    longer = make_shapes(30, seed=3)  # image i depends on (seed, i) only
    np.testing.assert_array_equal(longer.images[:12], a.images)
    np.testing.assert_array_equal(longer.masks[:12], a.masks)
    np.testing.assert_array_equal(longer.labels[:12], a.labels)


def test_shapes_do_not_touch_global_rng() -> None:
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    make_shapes(4, seed=0)
    assert np.random.random() == expected


@pytest.mark.parametrize("n, classes", [(40, SHAPE_CLASSES), (43, SHAPE_CLASSES), (25, BINARY_CLASSES)])
def test_shapes_class_balance(n: int, classes: tuple[str, ...]) -> None:
    counts = make_shapes(n, seed=1, classes=classes).class_counts()
    assert counts.sum() == n and counts.max() - counts.min() <= 1


def test_masks_are_exactly_the_object(shapes: ImageDataset) -> None:
    """Inside the mask: one flat colour plus pixel noise; just outside: clearly different."""
    import cv2

    kernel = np.ones((5, 5), np.uint8)
    for image, mask in zip(shapes.images, shapes.masks, strict=True):
        inside = image[mask]
        assert inside.std(axis=0).max() < 0.06, "object pixels are one colour + noise (std 0.04)"
        ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
        # The object colour is >= 0.45 (RGB distance) from the background under it.
        contrast = np.linalg.norm(np.median(inside, axis=0) - np.median(image[ring], axis=0))
        assert contrast > 0.2
        # the object lies fully inside the image
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def test_masks_have_the_geometry_of_their_class(shapes: ImageDataset) -> None:
    """Circle, square and triangle masks are one convex blob; a cross is clearly concave."""
    import cv2

    for label, mask in zip(shapes.labels, shapes.masks, strict=True):
        n_parts, _ = cv2.connectedComponents(mask.astype(np.uint8))
        assert n_parts == 2  # background + one object
        points = np.argwhere(mask)[:, ::-1].astype(np.int32)
        solidity = mask.sum() / max(cv2.contourArea(cv2.convexHull(points)), 1.0)
        if SHAPE_CLASSES[label] == "cross":
            assert solidity < 0.85
        else:
            assert solidity > 0.85


def test_object_size_carries_no_class_information() -> None:
    data = make_shapes(400, seed=11)
    areas = data.masks.reshape(len(data), -1).sum(axis=1)
    means = np.array([areas[data.labels == c].mean() for c in range(4)])
    assert means.max() / means.min() < 1.2


def test_non_square_size_keeps_orientation() -> None:
    data = make_shapes(24, size=(40, 96), seed=2)
    assert data.images.shape == (24, 40, 96, 3) and data.masks.shape == (24, 40, 96)
    cols = np.flatnonzero(data.masks.any(axis=(0, 1)))
    rows = np.flatnonzero(data.masks.any(axis=(0, 2)))
    assert cols.max() >= 60, "objects spread along the 96-pixel width"
    assert rows.max() < 40
    assert make_shapes(2, size=32).images.shape == (2, 32, 32, 3)


def test_binary_variant() -> None:
    data = make_shapes(10, seed=0, classes=BINARY_CLASSES)
    assert data.class_names == ("circle", "cross")
    assert set(data.labels.tolist()) == {0, 1}


@pytest.mark.parametrize("kwargs, words", [
    ({"classes": ("circle", "hexagon")}, "hexagon"),
    ({"classes": ("circle",)}, "at least two"),
    ({"size": (8, 64)}, "size"),
    ({"object_size": (0.6, 0.3)}, "low <= high"),
    ({"noise": -1}, "noise"),
    ({"seed": -1}, "seed"),
])
def test_shapes_bad_arguments_name_the_problem(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        make_shapes(4, **kwargs)


# ---------------------------------------------------------------- ImageDataset
def test_split_is_deterministic_stratified_disjoint(shapes: ImageDataset) -> None:
    train, test = shapes.train_test_split(0.25, seed=5)
    _, test2 = shapes.train_test_split(0.25, seed=5)
    np.testing.assert_array_equal(test.images, test2.images)
    assert len(train) + len(test) == len(shapes)
    # 30 images per class, 7.5 rounds to 8: the same count for every class
    np.testing.assert_array_equal(test.class_counts(), [8, 8, 8, 8])
    train_keys = {img.tobytes() for img in train.images}
    assert not any(img.tobytes() in train_keys for img in test.images)
    assert test.masks is not None and test.masks.shape == (32, 64, 64)
    _, other = shapes.train_test_split(0.25, seed=6)
    assert not np.array_equal(other.images, test.images)


def test_take_and_head(shapes: ImageDataset) -> None:
    assert len(shapes.take(3)) == 1
    sel = shapes.labels == 0
    assert (shapes.take(sel).labels == 0).all()
    assert len(shapes.head(10)) == 10 and shapes.head(None) is shapes
    with pytest.raises(InputError):
        shapes.take(np.zeros((2, 2), dtype=int))


def test_dataset_validates_its_fields() -> None:
    images = np.zeros((2, 8, 8, 1), np.float32)
    with pytest.raises(InputError, match="labels"):
        ImageDataset(images, np.array([0, 1], dtype=np.int32), ("a", "b"))
    with pytest.raises(InputError, match="labels must be in"):
        ImageDataset(images, np.array([0, 2]), ("a", "b"))
    with pytest.raises(InputError, match="masks"):
        ImageDataset(images, np.array([0, 1]), ("a", "b"), masks=np.zeros((2, 8, 7), bool))
    with pytest.raises(InputError, match="test_fraction"):
        ImageDataset(images, np.array([0, 1]), ("a", "b")).train_test_split(1.5)


# ---------------------------------------------------------------------- digits
def test_digits_upscaled_and_split() -> None:
    pytest.importorskip("sklearn")
    data = load_digits()
    assert data.images.shape == (1797, 32, 32, 1) and data.images.dtype == np.float32
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0 and data.images.max() > 0.9
    assert data.class_names == DIGIT_CLASSES and data.masks is None
    train, test = load_digits(split="train"), load_digits(split="test")
    assert len(train) + len(test) == 1797 and abs(len(test) - 0.25 * 1797) < 6
    np.testing.assert_array_equal(load_digits(split="test").images, test.images)
    assert np.abs(test.class_counts() - len(test) / 10).max() <= 2
    wide = load_digits((24, 40), split="test")
    assert wide.images.shape == (len(test), 24, 40, 1)


def test_digits_without_sklearn_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from xaikit.datasets import digits

    digits._raw_digits.cache_clear()  # the 8 x 8 arrays are read once per process
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(MissingDependencyError, match=r'xaikit\[bench\]'):
            load_digits()
    finally:
        digits._raw_digits.cache_clear()


# ---------------------------------------------------------------- lazy imports
def test_import_datasets_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "import xaikit.datasets as d\n"
        "d.make_shapes(4, seed=0)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'sklearn', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
