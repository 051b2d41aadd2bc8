"""Occlusion sensitivity, written once on the engine's occluded scores."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, shared
from ..catalogue.parts import occlusion_floor
from ..errors import InputError
from ..explainer import Attribution
from ..kernels import accumulate_windows, patch_windows, row_plan, segments, stream_rows
from ..spec import ModelSpec
from .base import EngineExplainer, image_size

__all__ = ["Occlusion", "resolve_windows"]


def resolve_windows(params: dict[str, Any], images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    """Check ``patch_size`` and ``stride`` against the images; add ``stride`` (None -> the patch), the windows
    (``_windows``, :func:`xaikit.kernels.patch_windows`) and their count (``n_windows``) to ``params``.

    Shared by every occlusion (the core's and the adapters'), so that they occlude the same windows.
    """
    patch = tuple(params["patch_size"])
    stride = patch if params["stride"] is None else tuple(params["stride"])
    height, width = image_size(images, spec)
    if patch[0] > height or patch[1] > width:
        raise InputError(f"patch_size {list(patch)} is larger than the images ({height} x {width}); use a smaller "
                         "patch")
    if stride[0] > patch[0] or stride[1] > patch[1]:
        raise InputError(f"stride {list(stride)} is larger than patch_size {list(patch)}: pixels between the "
                         "patches would never be occluded; use stride <= patch_size")
    params["stride"] = list(stride)
    params["_windows"] = patch_windows(height, width, patch, stride)  # type: ignore[arg-type]
    params["n_windows"] = len(params["_windows"])
    return params


class Occlusion(EngineExplainer, schema=MethodSchema(
        "occlusion", "Occlusion sensitivity",
        "Drop of the target score when a patch of the image is replaced by a baseline value; "
        "each pixel gets the mean drop of the patches covering it.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014.",
        signed=True, cost="1 + number of patches forward passes",
        params=shared("patch_size", "stride", "baseline"), needs=frozenset({"scores"}),
        floor_fn=occlusion_floor, warmup={"patch_size": "image", "stride": None},
        formula="A(p) = mean over patches P containing p of [S_t(x) - S_t(x with P set to the baseline)]",
        example_params={"patch_size": 4, "stride": 3},
        docs=DocsEntry("Occlusion", "score drop when a patch is covered",
                       "1 + number of windows forward", "Zeiler & Fergus 2014"))):
    """Occlusion sensitivity: how much the target score drops when a patch is covered.

    Every window of ``patch_size`` moved by ``stride`` is replaced by ``baseline``; the
    drop :math:`S_t(x) - S_t(x_{occluded})` is assigned to the pixels of the window and
    each pixel gets the mean drop of the windows that cover it. ``batch_size`` (image,
    window) pairs go through the model at a time; engines build the occluded images on
    their device.

    Parameters
    ----------
    model
    patch_size : int or (int, int), default 8
    stride : int, (int, int) or None
        ``None`` = ``patch_size`` (non-overlapping windows, tf-explain's grid).
    baseline : float, array (C,) or image, default 0.0
        The occluding value, in the model's input space (tf-explain uses grey 127.5
        on [0, 255] inputs).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
        The score whose drop is measured. tf-explain scores ``1 - probability``;
        ``score="probability"`` gives the same ranking.

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        return resolve_windows(super()._resolve_params(images, spec), images, spec)

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        base_scores, outputs, targets_used = self._target_scores(ctx)
        windows, baseline, score = params["_windows"], params["_baseline"], params["score"]
        n, p = len(images), len(windows)
        drops = np.empty(n * p, np.float64)  # drop of image i, window w at row i * p + w
        t_all = targets_used.astype(np.int32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            index, window = row_plan(rows, p)
            used, seg = segments(index)
            return index, used, seg, windows[window]

        def compute(prepared: tuple[np.ndarray, ...]) -> np.ndarray:
            index, used, seg, window_rows = prepared
            return engine.occlusion_scores(images[used], seg, window_rows, baseline, t_all[index], score)

        def consume(rows: slice, prepared: tuple[np.ndarray, ...], scores: np.ndarray) -> None:
            drops[rows] = base_scores[prepared[0]] - scores

        stream_rows(n * p, params["batch_size"], prepare, compute, consume, context=engine.thread_context())
        maps = accumulate_windows(drops.reshape(n, p), windows, ctx.image_size)
        return Attribution(maps, outputs, targets_used)
