"""Data sets for demos, tests and benchmarks, with no download and no framework.

* :func:`make_shapes` — synthetic images with exactly one class-defining object and
  its ground-truth mask (4 classes, or the binary ``classes=BINARY_CLASSES``).
* :func:`load_digits` — scikit-learn's bundled 8 x 8 digits, upscaled (needs
  scikit-learn: ``pip install "xaikit[bench]"``).

Both return an :class:`ImageDataset` (images, labels, masks, class names, and a
deterministic ``train_test_split``). Only NumPy and OpenCV are used; importing this
package imports neither TensorFlow nor scikit-learn.
"""

from __future__ import annotations

from .dataset import ImageDataset
from .digits import DIGIT_CLASSES, load_digits
from .synthetic import BINARY_CLASSES, SHAPE_CLASSES, make_shapes

ShapesDataset = ImageDataset
"""Alias: :func:`make_shapes` returns a plain :class:`ImageDataset` (with masks)."""

__all__ = [
    "BINARY_CLASSES",
    "DIGIT_CLASSES",
    "SHAPE_CLASSES",
    "ImageDataset",
    "ShapesDataset",
    "load_digits",
    "make_shapes",
]
