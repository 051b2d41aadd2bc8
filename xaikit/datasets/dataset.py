"""The container every xaikit data set is returned in.

:class:`ImageDataset` is a plain NumPy record (images, labels, optional ground-truth
masks, class names) with a deterministic stratified train/test split, so that the
demo, the tests and the benchmark suite all slice data the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_nonnegative_float, check_seed

__all__ = ["ImageDataset"]


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled batch of images, optionally with a ground-truth mask per image.

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(N, H, W, C)``, channels last, values in ``[0, 1]``.
    labels : numpy.ndarray
        int64 ``(N,)`` class indices into :attr:`class_names`.
    class_names : tuple of str
        One name per class; ``labels`` take values ``0 .. len(class_names) - 1``.
    masks : numpy.ndarray or None
        bool ``(N, H, W)``: the pixels that decide the class (for the synthetic shapes,
        exactly the class-defining object), or None when the data set has no such
        ground truth.
    name : str
        Short id of the data set (``"shapes"``, ``"digits"``).
    info : dict
        How the data were made (generator parameters, seed, source), for provenance.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    masks: np.ndarray | None = None
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        labels = np.asarray(self.labels)
        if images.ndim != 4 or images.dtype != np.float32:
            raise InputError(f"images must be float32 (N, H, W, C); got {images.dtype} {images.shape}")
        n = images.shape[0]
        if labels.shape != (n,) or labels.dtype != np.int64:
            raise InputError(f"labels must be int64 of shape ({n},); got {labels.dtype} {labels.shape}")
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if n and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise InputError(f"labels must be in 0..{len(self.class_names) - 1} (one per class name); "
                             f"got values {labels.min()}..{labels.max()}")
        if self.masks is not None:
            masks = np.asarray(self.masks)
            if masks.dtype != np.bool_ or masks.shape != images.shape[:3]:
                raise InputError(f"masks must be bool of shape {images.shape[:3]}; got {masks.dtype} {masks.shape}")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_classes(self) -> int:
        """Number of classes (length of :attr:`class_names`)."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image, the ``input_shape`` a model for it takes."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> np.ndarray:
        """int64 ``(n_classes,)``: how many images each class has."""
        return np.bincount(self.labels, minlength=self.n_classes).astype(np.int64)

    def __repr__(self) -> str:
        h, w, c = self.image_shape
        masks = "yes" if self.masks is not None else "no"
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, size={h}x{w}x{c}, "
                f"classes={list(self.class_names)}, masks={masks})")

    # -------------------------------------------------------------- selection
    def take(self, index: int | slice | np.ndarray | list[int]) -> ImageDataset:
        """A new data set with the selected images (an int keeps the batch axis)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, slice):
            sel = index
        else:
            sel = np.asarray(index)
            if sel.dtype == np.bool_:
                sel = np.flatnonzero(sel)
            if sel.ndim != 1 or not (np.issubdtype(sel.dtype, np.integer) or sel.size == 0):
                raise InputError(f"index must be an int, a slice, or a 1-D array of ints or bools; got {index!r}")
            sel = sel.astype(np.int64)
        return replace(
            self,
            images=self.images[sel],
            labels=self.labels[sel],
            masks=None if self.masks is None else self.masks[sel],
        )

    def head(self, n: int | None) -> ImageDataset:
        """The first ``n`` images (all of them for ``n=None``)."""
        return self if n is None or n >= len(self) else self.take(slice(0, int(n)))

    def train_test_split(self, test_fraction: float = 0.25, *, seed: int = 0,
                         stratify: bool = True) -> tuple[ImageDataset, ImageDataset]:
        """Split into ``(train, test)`` deterministically.

        Parameters
        ----------
        test_fraction
            Share of the images that go to the test part, in ``(0, 1)``.
        seed
            Seed of the split (a private ``numpy.random.default_rng``; global NumPy state
            is never touched).
        stratify
            Keep the class proportions in both parts (per-class rounding), as
            scikit-learn's ``train_test_split(stratify=labels)`` does.

        Returns
        -------
        tuple of ImageDataset
            Both parts keep the original image order, so ``test.head(200)`` is a stable
            sample whatever the size of the request.
        """
        fraction = check_nonnegative_float("test_fraction", test_fraction, allow_zero=False)
        if fraction >= 1:
            raise InputError(f"test_fraction must be in (0, 1); got {test_fraction}")
        rng = np.random.default_rng(check_seed(seed))
        is_test = np.zeros(len(self), dtype=bool)
        if stratify:
            groups = [np.flatnonzero(self.labels == c) for c in range(self.n_classes)]
        else:
            groups = [np.arange(len(self))]
        for members in groups:
            k = round(fraction * len(members))
            is_test[rng.permutation(members)[:k]] = True
        if is_test.all() or not is_test.any():
            raise InputError(f"test_fraction={test_fraction} leaves one part empty for {len(self)} images; "
                             f"use a fraction between 1/N and 1 - 1/N")
        return self.take(~is_test), self.take(is_test)
