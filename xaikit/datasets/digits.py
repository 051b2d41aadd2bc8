"""Handwritten digits that ship inside scikit-learn, upscaled for small CNNs.

scikit-learn bundles the UCI "Optical Recognition of Handwritten Digits" test set
(1,797 images of 8 x 8 pixels, 17 grey levels) in the wheel, so this data set needs no
download. It plays the role of the seeds' MNIST / Fashion-MNIST in offline tests.

References
----------
Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
Repository, 1998. https://doi.org/10.24432/C50P49
scikit-learn, ``sklearn.datasets.load_digits``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import MissingDependencyError
from ..validation import check_choice, check_pair, check_seed
from .dataset import ImageDataset

__all__ = ["DIGIT_CLASSES", "load_digits"]

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

_INTERPOLATIONS = ("linear", "cubic", "nearest", "area")
_SPLITS = ("all", "train", "test")


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8 x 8 images (float32, 0..16) and labels, read once per process (read-only arrays)."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            'xaikit.datasets.load_digits needs scikit-learn (it ships the digit images); '
            'install it with pip install "xaikit[bench]" (or pip install scikit-learn).'
        ) from exc
    bunch = sk_load_digits()
    images, labels = np.asarray(bunch.images, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_digits(
    size: int | tuple[int, int] = (32, 32),
    *,
    split: str = "all",
    test_fraction: float = 0.25,
    seed: int = 0,
    interpolation: str = "linear",
) -> ImageDataset:
    """scikit-learn's 8 x 8 digits, upscaled with OpenCV to ``size``, as one-channel images.

    Parameters
    ----------
    size
        ``(height, width)`` of the output images (or one int).
    split
        ``"all"`` (1,797 images), or the ``"train"`` / ``"test"`` part of the
        deterministic stratified split :meth:`ImageDataset.train_test_split` makes
        with ``test_fraction`` and ``seed``.
    test_fraction, seed
        The split; the defaults (0.25, 0) are the ones the model zoo was trained with.
    interpolation
        OpenCV interpolation used to upscale: ``"linear"`` (default, smooth strokes
        without overshoot), ``"cubic"`` (clipped to ``[0, 1]``), ``"nearest"``
        (blocky 8 x 8 look) or ``"area"``.

    Returns
    -------
    ImageDataset
        ``images`` float32 ``(n, H, W, 1)`` in ``[0, 1]`` (white strokes on black; the
        raw grey levels 0..16 divided by 16), ``labels`` int64 0..9, ``class_names``
        ``"0"`` .. ``"9"``, ``masks`` None (digits have no single evidence region).

    Raises
    ------
    MissingDependencyError
        If scikit-learn is not installed (``pip install "xaikit[bench]"``).
    """
    import cv2

    h, w = check_pair("size", size, minimum=8)
    check_choice("split", split, _SPLITS)
    check_choice("interpolation", interpolation, _INTERPOLATIONS)
    seed = check_seed(seed)
    raw, labels = _raw_digits()
    labels = labels.copy()
    flag = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST,
            "area": cv2.INTER_AREA}[interpolation]
    images = np.empty((raw.shape[0], h, w, 1), dtype=np.float32)
    for i, digit in enumerate(raw / 16.0):
        images[i, :, :, 0] = cv2.resize(digit, (w, h), interpolation=flag)  # cv2 takes (width, height)
    np.clip(images, 0.0, 1.0, out=images)
    info = {"source": "sklearn.datasets.load_digits (UCI optdigits, 8x8)", "size": [h, w],
            "interpolation": interpolation, "split": split, "test_fraction": test_fraction, "seed": seed}
    data = ImageDataset(images=images, labels=labels, class_names=DIGIT_CLASSES, masks=None, name="digits", info=info)
    if split == "all":
        return data
    train, test = data.train_test_split(test_fraction, seed=seed)
    return train if split == "train" else test
