"""One place that absorbs the shapes ``GradientExplainer.shap_values`` returns across shap versions.

Pure NumPy (no shap, no TensorFlow), so it is unit-tested with hand-made arrays of
every layout. For one input of per-image shape ``S`` (an image ``(H, W, C)`` or a layer
output ``(h, w, C)``), N images and K explained outputs (all outputs, or the
``ranked_outputs`` ones), shap has returned:

============================  ==========================================================
shap <= 0.44                  one output model: ``(N, *S)``;
                              several outputs: a list of K arrays ``(N, *S)``
shap >= 0.45 (PR #3318)       one array ``(N, *S, K)``, also for a model with one
                              output (then ``K == 1``)
``ranked_outputs`` given      a pair ``(values, indexes)`` with ``indexes`` ``(N, K)``;
                              ``(values, variances, indexes)`` with ``return_variances``
============================  ==========================================================

:func:`split_shap_result` takes the pair apart and :func:`normalize_shap_values` turns
any of the layouts into one array ``(K, N, *S)``. A layout it does not recognise raises
instead of being reshaped by guesswork, so a future shap release cannot silently
scramble maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["normalize_shap_values", "split_shap_result"]


def _describe(raw: Any) -> str:
    if isinstance(raw, (list, tuple)):
        return f"{type(raw).__name__} of {len(raw)}: [" + ", ".join(_describe(r) for r in raw[:4]) + \
            (", ..." if len(raw) > 4 else "") + "]"
    shape = getattr(raw, "shape", None)
    return f"array{tuple(shape)}" if shape is not None else type(raw).__name__


def _one_output(arr: np.ndarray, n: int, shape: tuple[int, ...]) -> np.ndarray | None:
    """``(N, *S)``, or ``(N, *S[:-1])`` when a single channel was dropped; else None."""
    if arr.shape == (n, *shape):
        return arr
    if len(shape) >= 2 and shape[-1] == 1 and arr.shape == (n, *shape[:-1]):
        return arr[..., None]
    return None


def normalize_shap_values(raw: Any, *, n_images: int, feature_shape: Sequence[int], n_outputs: int) -> np.ndarray:
    """Return shap values as one float64 array ``(n_outputs, n_images, *feature_shape)``.

    Parameters
    ----------
    raw
        The values part of what ``shap_values`` returned (see :func:`split_shap_result`):
        an array ``(N, *S, K)`` (shap >= 0.45), a list of K arrays ``(N, *S)``
        (shap <= 0.44), or one array ``(N, *S)`` for a single output (shap <= 0.44).
        A one-element list wrapping one of these (shap's multi-input layout with one
        input) is unwrapped. A single-channel axis shap dropped (``(N, H, W)`` for
        ``S = (H, W, 1)``) is restored.
    n_images, feature_shape, n_outputs
        What was asked of shap: N, the per-image input shape S, and K.

    Raises
    ------
    RuntimeError
        For any other layout, naming what was received and what was expected.
    """
    shape = tuple(int(s) for s in feature_shape)
    n, k = int(n_images), int(n_outputs)
    expected = (f"expected (N, *S, K) = {(n, *shape, k)}, a list of {k} arrays {(n, *shape)}"
                + (f" or one array {(n, *shape)}" if k == 1 else ""))

    def fail() -> RuntimeError:
        import importlib.metadata

        try:
            version = importlib.metadata.version("shap")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            version = "unknown"
        return RuntimeError(f"shap {version} returned values as {_describe(raw)}; xaikit's shap adapter "
                            f"{expected}. This shap version changed its return layout: please report it "
                            f"(xaikit_shap._shapes.normalize_shap_values).")

    if isinstance(raw, (list, tuple)):
        items = list(raw)
        if len(items) == 1 and np.ndim(items[0]) == len(shape) + 2:  # [array (N, *S, K)]: multi-input wrapping
            return normalize_shap_values(items[0], n_images=n, feature_shape=shape, n_outputs=k)
        if len(items) != k:
            raise fail()
        per_output = [_one_output(np.asarray(item, dtype=np.float64), n, shape) for item in items]
        if any(p is None for p in per_output):
            raise fail()
        return np.stack(per_output)  # type: ignore[arg-type]
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim == len(shape) + 2 and arr.shape == (n, *shape, k):  # shap >= 0.45: trailing output axis
        return np.moveaxis(arr, -1, 0)
    if len(shape) >= 2 and shape[-1] == 1 and arr.shape == (n, *shape[:-1], k) and k > 1:  # channel dropped
        return np.moveaxis(arr, -1, 0)[..., None]
    if k == 1:
        single = _one_output(arr, n, shape)
        if single is not None:  # shap <= 0.44, one output
            return single[None]
    raise fail()


def split_shap_result(result: Any, *, ranked: bool) -> tuple[Any, np.ndarray | None]:
    """Split what ``shap_values`` returned into ``(values, indexes)``.

    With ``ranked_outputs`` shap returns ``(values, indexes)``, or
    ``(values, variances, indexes)`` with ``return_variances=True``; ``indexes`` is an
    integer ``(N, K)`` array. Without it, the values alone (``indexes`` is None).
    """
    if not ranked:
        return result, None
    if isinstance(result, tuple) and len(result) in (2, 3):
        indexes = np.asarray(result[-1])
        if indexes.ndim == 2 and np.issubdtype(indexes.dtype, np.integer):
            return result[0], indexes.astype(np.int64)
    raise RuntimeError(f"shap returned {_describe(result)} for ranked_outputs; xaikit's shap adapter expected a "
                       f"(values, indexes) pair with integer indexes of shape (N, K). Please report it.")
