"""Synthetic shapes: an image classification task whose evidence is known exactly.

Every image holds exactly one class-defining object (a filled circle, square, triangle
or cross) at a random position, scale, rotation and colour, on a cluttered background
(colour gradient, low-frequency blotches, thin lines, pixel noise) with distractor
objects (elongated blobs and open arcs) whose number, size, colour and placement are
drawn independently of the class. The pixels of the class object are returned as a
boolean mask, so an attribution map can be scored against the ground truth (pointing
game, mask IoU, ...).

The construction follows the "known ground truth" benchmarks of attribution methods:
the class is decided by the object's shape alone, every other factor is independent of
the label, and the four shapes are drawn with the same area for a given scale, so
neither object size nor colour nor position leaks the class.

References
----------
Arras, Osman & Samek, "CLEVR-XAI: A benchmark dataset for the ground truth evaluation
of neural network explanations", Information Fusion 81, 2022.
Yang & Kim, "Benchmarking Attribution Methods with Relative Feature Importance"
(BAM), arXiv:1907.09701, 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..validation import check_nonnegative_float, check_pair, check_positive_int, check_seed
from .dataset import ImageDataset

__all__ = ["BINARY_CLASSES", "SHAPE_CLASSES", "make_shapes"]

SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
"""The shapes :func:`make_shapes` can draw, in the default label order."""

BINARY_CLASSES: tuple[str, ...] = ("circle", "cross")
"""The two classes of the binary variant (label 1 = ``"cross"`` is the positive class).

Circle vs cross rather than circle vs square: the pair differs clearly in shape (like
cats and dogs); trained from scratch on circle vs square, the zoo's 4-conv CNN stayed
at chance level for 10 epochs (6,000 images), while it learns circle vs cross in 4.
"""

# Size factors that give every shape the same area (~2.0 r^2) for a given scale r,
# and the extent (farthest pixel from the centre, 1.25 r) used to place all of them.
_CIRCLE_RADIUS = 0.8          # pi * 0.8^2        = 2.01
_SQUARE_HALF_SIDE = 0.71      # (2 * 0.71)^2      = 2.02
_TRIANGLE_RADIUS = 1.245      # 3 sqrt(3)/4 R^2   = 2.01
_CROSS_ARM, _CROSS_HALF_WIDTH = 1.0, 0.3   # 8 L t - 4 t^2 = 2.04
_EXTENT = 1.25
_SHIFT = 4                    # OpenCV sub-pixel precision: coordinates in 1/16 px
_MIN_CONTRAST = 0.45          # RGB distance between object colour and the background under it


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def _shape_mask(shape: str, h: int, w: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean (h, w) mask of one filled shape centred at (cx, cy) (x = column)."""
    import cv2

    canvas = np.zeros((h, w), dtype=np.uint8)
    scale = 1 << _SHIFT
    if shape == "circle":
        cv2.circle(canvas, (round(cx * scale), round(cy * scale)), round(_CIRCLE_RADIUS * r * scale), 1,
                   thickness=-1, lineType=cv2.LINE_8, shift=_SHIFT)
        return canvas.astype(bool)
    if shape == "square":
        a = _SQUARE_HALF_SIDE
        unit = np.array([[-a, -a], [a, -a], [a, a], [-a, a]])
    elif shape == "triangle":
        k = np.arange(3) * (2 * math.pi / 3)
        unit = _TRIANGLE_RADIUS * np.stack([np.sin(k), -np.cos(k)], axis=1)
    elif shape == "cross":
        L, t = _CROSS_ARM, _CROSS_HALF_WIDTH
        unit = np.array([[t, L], [t, t], [L, t], [L, -t], [t, -t], [t, -L],
                         [-t, -L], [-t, -t], [-L, -t], [-L, t], [-t, t], [-t, L]])
    else:  # guarded by make_shapes
        raise InputError(f"unknown shape {shape!r}; choose from {SHAPE_CLASSES}")
    pts = _rotate(unit * r, angle) + np.array([cx, cy])
    cv2.fillPoly(canvas, [np.round(pts * scale).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas.astype(bool)


def _background(rng: np.random.Generator, h: int, w: int, ramp: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Colour gradient at a random angle plus low-frequency colour blotches."""
    import cv2

    xx, yy = ramp
    c0 = rng.uniform(0.0, 1.0, 3)
    c1 = np.clip(c0 + rng.normal(0.0, 0.3, 3), 0.0, 1.0)
    angle = rng.uniform(0.0, 2 * math.pi)
    t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    image = c0 + t[..., None] * (c1 - c0)
    coarse = rng.normal(0.0, 0.1, (4, 4, 3)).astype(np.float32)
    image = image + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)  # cv2 takes (width, height)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _draw_clutter(rng: np.random.Generator, image: np.ndarray, keep_out: tuple[float, float, float, float],
                  n_distractors: int) -> None:
    """Thin lines anywhere, and blobs/arcs outside the object's box ``keep_out``."""
    import cv2

    h, w = image.shape[:2]
    m = min(h, w)
    for _ in range(rng.integers(0, 4)):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(image, p0, p1, tuple(rng.uniform(0, 1, 3).tolist()), 1, cv2.LINE_8)
    x0, y0, x1, y1 = keep_out
    for _ in range(n_distractors):
        kind = "blob" if rng.random() < 0.5 else "arc"
        major = rng.uniform(0.04, 0.09) * m if kind == "blob" else rng.uniform(0.05, 0.12) * m
        colour = tuple(rng.uniform(0, 1, 3).tolist())
        for _ in range(20):  # rejection sampling: never touch the class object
            cx, cy = rng.uniform(major, w - major), rng.uniform(major, h - major)
            if cx + major < x0 or cx - major > x1 or cy + major < y0 or cy - major > y1:
                break
        else:
            continue
        centre, angle = (round(cx), round(cy)), float(rng.uniform(0, 360))
        if kind == "blob":  # elongated, so it never looks like a small circle
            axes = (max(1, round(major)), max(1, round(major * rng.uniform(0.3, 0.6))))
            cv2.ellipse(image, centre, axes, angle, 0, 360, colour, -1, cv2.LINE_8)
        else:  # an open arc, 60-200 degrees
            radius = max(2, round(major))
            cv2.ellipse(image, centre, (radius, radius), angle, 0, float(rng.uniform(60, 200)), colour, 2,
                        cv2.LINE_8)


def _object_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour far enough from the mean background colour under the object."""
    reference = under.mean(axis=0)
    best, best_distance = None, -1.0
    for _ in range(50):
        colour = rng.uniform(0.0, 1.0, 3)
        distance = float(np.linalg.norm(colour - reference))
        if distance >= _MIN_CONTRAST:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best  # type: ignore[return-value]


def make_shapes(
    n: int,
    *,
    size: int | tuple[int, int] = (64, 64),
    seed: int = 0,
    classes: Sequence[str] = SHAPE_CLASSES,
    object_size: tuple[float, float] = (0.35, 0.6),
    distractors: int = 4,
    noise: float = 0.04,
) -> ImageDataset:
    """Generate ``n`` images of one class-defining shape on a cluttered background.

    Parameters
    ----------
    n
        Number of images.
    size
        ``(height, width)`` (or one int for square images). Non-square sizes keep their
        orientation: the images are ``(n, height, width, 3)``.
    seed
        Seed of the generator. Image ``i`` depends only on ``(seed, i)`` and the other
        arguments, so ``make_shapes(100, seed=s)`` starts with ``make_shapes(10, seed=s)``.
        Global NumPy state is never touched.
    classes
        The shapes that make the classes, in label order: any subset of
        ``("circle", "square", "triangle", "cross")``. ``classes=BINARY_CLASSES``
        (``("circle", "cross")``) is the binary variant, the counterpart of the seeds'
        cats-vs-dogs task for a single-sigmoid model.
    object_size
        Range of the object's extent (the diameter of the circle around it), as a
        fraction of ``min(height, width)``. All shapes have the same area for a given
        extent, so size carries no class information.
    distractors
        Up to this many distractor objects (elongated blobs, open arcs) per image; the
        actual number is uniform in ``0..distractors`` whatever the class. Thin lines
        (0-3) are always added to the background and may pass under the object.
    noise
        Standard deviation of the Gaussian pixel noise added last (object included).

    Returns
    -------
    ImageDataset
        ``images`` float32 ``(n, H, W, 3)`` in ``[0, 1]``; ``labels`` int64, balanced
        (each block of ``len(classes)`` consecutive images holds every class once, in
        a random order); ``masks`` bool ``(n, H, W)``, exactly the pixels of the class
        object (drawn last, never overlapped by a distractor); ``class_names`` = ``classes``.

    Examples
    --------
    >>> from xaikit.datasets import make_shapes
    >>> data = make_shapes(8, size=(48, 80), seed=1)
    >>> data.images.shape, data.masks.shape, data.class_names
    ((8, 48, 80, 3), (8, 48, 80), ('circle', 'square', 'triangle', 'cross'))
    """
    n = check_positive_int("n", n)
    h, w = check_pair("size", size, minimum=16)
    seed = check_seed(seed)
    classes = tuple(classes)
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown or len(classes) < 2 or len(set(classes)) != len(classes):
        raise InputError(f"classes must be at least two distinct names from {SHAPE_CLASSES}; got {classes!r}")
    lo, hi = (check_nonnegative_float("object_size", v, allow_zero=False, maximum=0.8) for v in object_size)
    if lo > hi:
        raise InputError(f"object_size must be a (low, high) range with low <= high; got {object_size!r}")
    distractors = check_positive_int("distractors", distractors, minimum=0)
    noise = check_nonnegative_float("noise", noise, maximum=1.0)

    k = len(classes)
    labels = np.empty(n, dtype=np.int64)
    for block in range(0, n, k):
        perm = np.random.default_rng([seed, 1, block // k]).permutation(k)
        labels[block:block + k] = perm[: n - block]

    images = np.empty((n, h, w, 3), dtype=np.float32)
    masks = np.empty((n, h, w), dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    m = min(h, w)
    for i in range(n):
        rng = np.random.default_rng([seed, 0, i])
        image = _background(rng, h, w, (xx, yy))
        extent = rng.uniform(lo, hi) * m / 2
        r = extent / _EXTENT
        cx = rng.uniform(extent + 1, w - extent - 1)
        cy = rng.uniform(extent + 1, h - extent - 1)
        angle = rng.uniform(0, 2 * math.pi)
        _draw_clutter(rng, image, (cx - extent - 2, cy - extent - 2, cx + extent + 2, cy + extent + 2),
                      int(rng.integers(0, distractors + 1)))
        mask = _shape_mask(classes[labels[i]], h, w, cx, cy, r, angle)
        image[mask] = _object_colour(rng, image[mask])
        if noise:
            image += rng.normal(0.0, noise, image.shape).astype(np.float32)
        images[i] = np.clip(image, 0.0, 1.0)
        masks[i] = mask

    info = {"generator": "xaikit.datasets.make_shapes", "n": n, "size": [h, w], "seed": seed,
            "classes": list(classes), "object_size": [lo, hi], "distractors": distractors, "noise": noise}
    return ImageDataset(images=images, labels=labels, class_names=classes, masks=masks, name="shapes", info=info)
