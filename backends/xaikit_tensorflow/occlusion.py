"""Occlusion sensitivity: the score drop when patches are covered, patches built in-graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.errors import InputError
from xaikit.explainer import Attribution, ModelSpec
from xaikit.validation import check_pair

from ._base import TFExplainer, broadcast_baseline, chunks, score_fn, segments, stream_rows
from ._keras import KerasModelView

__all__ = ["TFOcclusion", "patch_windows"]


def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Window starts covering ``range(size)``: ``0, stride, ...`` until a window reaches the end.

    With ``stride == patch`` this is tf-explain's grid (the last window clipped at the
    border); with a smaller stride windows overlap and every pixel is still covered.
    """
    count = -(-max(size - patch, 0) // stride) + 1
    return [i * stride for i in range(count)]


def patch_windows(height: int, width: int, patch: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """``(P, 4)`` int32 windows ``(top, left, bottom, right)``, clipped to the image, row-major."""
    rows = _starts(height, patch[0], stride[0])
    cols = _starts(width, patch[1], stride[1])
    return np.array([(r, c, min(r + patch[0], height), min(c + patch[1], width)) for r in rows for c in cols],
                    dtype=np.int32)


class TFOcclusion(TFExplainer):
    """Occlusion sensitivity: how much the target score drops when a patch is covered.

    Every window of ``patch_size`` moved by ``stride`` is replaced by ``baseline``; the
    drop :math:`S_t(x) - S_t(x_{occluded})` is assigned to the pixels of the window and
    each pixel gets the mean drop of the windows that cover it. Occluded images are
    built inside the compiled function, ``batch_size`` (image, window) pairs at a time.

    Parameters
    ----------
    model : keras.Model
    patch_size : int or (int, int), default 8
    stride : int, (int, int) or None
        ``None`` = ``patch_size`` (non-overlapping windows, tf-explain's grid).
    baseline : float, array (C,) or (H, W, C), default 0.0
        The occluding value, in the model's input space (tf-explain uses grey 127.5
        on [0, 255] inputs).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
        The score whose drop is measured. tf-explain scores ``1 - probability``;
        :class:`TFOcclusion` with ``score="probability"`` gives the same ranking.

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """

    method = "occlusion"

    def __init__(self, model: Any, *, patch_size: int | tuple[int, int] = 8, stride: int | tuple[int, int] | None = None,
                 baseline: Any = 0.0, batch_size: int = 32, score: str | None = None) -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.patch_size = patch_size
        self.stride = stride
        self.baseline = baseline

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        patch = check_pair("patch_size", self.patch_size)
        stride = patch if self.stride is None else check_pair("stride", self.stride)
        height, width = images.shape[1:3]
        if patch[0] > height or patch[1] > width:
            raise InputError(f"patch_size {patch} is larger than the images ({height} x {width}); use a smaller patch")
        if stride[0] > patch[0] or stride[1] > patch[1]:
            raise InputError(f"stride {stride} is larger than patch_size {patch}: pixels between the patches would "
                             "never be occluded; use stride <= patch_size")
        params.update(patch_size=list(patch), stride=list(stride), baseline=self.baseline)
        params["_baseline"] = broadcast_baseline(self.baseline, images.shape[1:])
        params["_windows"] = patch_windows(height, width, patch, stride)
        params["n_windows"] = len(params["_windows"])
        return params

    @staticmethod
    def _function(view: KerasModelView, score: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
        height, width = hwc[0], hwc[1]

        def build() -> Callable[..., Any]:
            def fn(images: Any, seg: Any, windows: Any, baseline: Any, t: Any) -> Any:
                x = tf.gather(images, seg)  # row i occludes image seg[i]
                rows = tf.range(height)[None, :, None]
                cols = tf.range(width)[None, None, :]
                top, left, bottom, right = (windows[:, i, None, None] for i in range(4))
                inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
                occluded = tf.where(inside[..., None], baseline[None], x)
                cap = view.forward(occluded)
                return tf.gather(view.class_scores(cap, score), t, batch_dims=1)
            return fn

        signature = [view.image_spec(hwc), tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, 4], tf.int32),
                     tf.TensorSpec(hwc, tf.float32), tf.TensorSpec([None], tf.int32)]
        return view.compiled(("occlusion", score, hwc), build, signature)

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        hwc = tuple(images.shape[1:])
        base = score_fn(view, params["score"], hwc)
        t_in = self._targets_for_graph(targets, len(images))
        s_x, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            sx, out, t = base(images[s], t_in[s])
            s_x.append(sx.numpy())
            outputs.append(out.numpy())
            used.append(t.numpy())
        base_scores, targets_used = np.concatenate(s_x), np.concatenate(used)
        windows, baseline = params["_windows"], params["_baseline"]
        fn = self._function(view, params["score"], hwc)
        n, p = len(images), len(windows)
        drops = np.empty(n * p, np.float64)  # drop of image i, window w at row i * p + w

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            flat = np.arange(rows.start, rows.stop)
            index, window = flat // p, flat % p
            used, seg = segments(index)
            return index, used, seg, windows[window]

        def compute(prepared: tuple[np.ndarray, ...]) -> np.ndarray:
            index, used, seg, window_rows = prepared
            return fn(images[used], seg, window_rows, baseline, targets_used[index]).numpy()

        def consume(rows: slice, prepared: tuple[np.ndarray, ...], scores: np.ndarray) -> None:
            drops[rows] = base_scores[prepared[0]] - scores

        stream_rows(n * p, params["batch_size"], prepare, compute, consume)
        drops = drops.reshape(n, p)
        total = np.zeros(images.shape[:3], np.float64)
        count = np.zeros(images.shape[1:3], np.float64)
        for w, (top, left, bottom, right) in enumerate(windows):  # one vectorised add per window
            total[:, top:bottom, left:right] += drops[:, w, None, None]
            count[top:bottom, left:right] += 1
        maps = (total / count).astype(np.float32)
        return Attribution(maps, np.concatenate(outputs), targets_used)
