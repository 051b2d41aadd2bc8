"""Occlusion sensitivity with tf-explain's recipe, correctly oriented for non-square images."""

from __future__ import annotations

import warnings
from typing import Any

import cv2
import numpy as np
from tf_explain.utils.image import apply_grey_patch

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.progress import report as report_progress

from ._base import TFXExplainer, chunks, probability_name, score_param

__all__ = ["TFXOcclusion", "tfexplain_grid"]

_GREY = 127.5  # tf-explain's apply_grey_patch value


def tfexplain_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    """tf-explain's sensitivity grid: ``(ceil(H / patch), ceil(W / patch))`` non-overlapping cells."""
    return -(-height // patch), -(-width // patch)


def _warn_if_outside(fill: np.ndarray, images: np.ndarray, given: Any) -> None:
    """Warn when the occluding value lies outside the images' value range (a default meant for other inputs)."""
    low, high = float(images.min()), float(images.max())
    if float(fill.min()) >= low and float(fill.max()) <= high:
        return
    shown = f"{float(given):g}" if np.ndim(given) == 0 and not isinstance(given, dict) else "the given array"
    warnings.warn(f"tf-explain occlusion fills the patches with baseline={shown}, outside the images' value range "
                  f"[{low:.4g}, {high:.4g}]: the occluded copies are unlike any input (127.5, tf-explain's grey for "
                  f"[0, 255] pixels, saturates a model taking [0, 1] images and flattens the map). Set baseline= to "
                  f"a value in the model's input units, e.g. a grey pixel after your preprocessing: "
                  f"xaikit.preprocessing.pixel_input(scheme, 'grey') (0.5 for [0, 1], 0.0 for [-1, 1]); on the "
                  f"command line --baseline grey.", UserWarning, stacklevel=4)


class TFXOcclusion(TFXExplainer):
    """tf-explain's occlusion sensitivity, per image, at input resolution and correctly oriented.

    tf-explain (``OcclusionSensitivity.get_sensitivity_map``) covers the image with
    non-overlapping ``patch_size`` squares (the last row/column clipped at the border),
    fills each with grey **127.5** (``apply_grey_patch``), runs ``model.predict`` on all
    patched copies and stores **1 - p_c(occluded)** in a coarse
    ``(ceil(H/p), ceil(W/p))`` grid, which it resizes to the image with ``cv2.resize``
    (bilinear). High values mean "covering this patch lowers the class probability".

    Why xaikit does not call ``get_sensitivity_map`` itself: for non-square images it is
    wrong in two ways -- (1) its patch loops take positions from ``range(0, H, p)`` as
    *columns* and ``range(0, W, p)`` as *rows* and write the scores back in yet another
    order, so part of the image is never occluded and scores land in the wrong cells;
    (2) it returns ``cv2.resize(grid, image.shape[0:2])``, and cv2 takes
    ``(width, height)``, so the map comes back with shape ``(W, H)``. It also stacks every
    patched copy of an image in one array. The adapter runs the same recipe with the
    rows and columns right: the library's ``apply_grey_patch`` for the grey fill (another
    ``baseline`` is filled the same way), Keras' predict step (``predict_on_batch``: what
    ``model.predict`` runs, without its per-call data-pipeline set-up) on at most
    ``batch_size`` patched copies at a time (streamed across images), ``1 - p`` in the same grid, and
    ``cv2.resize`` to ``(W, H)``. For square images and the grey baseline the result
    equals ``get_sensitivity_map``'s (tested).

    Differences from the native ``TFOcclusion`` and how to agree: native measures the
    *drop* ``S_c(x) - S_c(x_occluded)`` (default: of the logit; baseline 0.0; each pixel
    gets its own window's value, no interpolation; any stride). With native
    ``score="probability"``, ``stride=patch_size`` and the same ``baseline``, and
    ``upsample="patch"`` here, ``tf-explain = native + (1 - p_c(x))`` exactly -- a
    per-image constant. With the default ``upsample="bilinear"`` the same holds on the
    grid (``extras["sensitivity_grid"]``), and the full map is its bilinear resize.

    Parameters
    ----------
    model : keras.Model
    patch_size : int, default 8
        Side of the square patches (tf-explain takes one int; the stride is the patch).
    baseline : float, array (C,) or (H, W, C), default 127.5
        The occluding value, in the model's input space (tf-explain hard-codes 127.5:
        grey on [0, 255] inputs, but *not* grey for [0, 1] or [-1, 1] preprocessing). A
        fill outside the images' value range raises a ``UserWarning`` naming this
        parameter: on [0, 1] inputs 127.5 saturates the model, so every patch covering the
        object gives the same score and the map's interior is flat (exactly 0).
    upsample : {"bilinear", "patch"}, default "bilinear"
        ``"bilinear"``: tf-explain's ``cv2.resize`` of the grid (oriented correctly);
        ``"patch"``: every pixel gets the value of the patch covering it.
    batch_size : int, default 32
        Patched copies per model call.
    score : {None, "1-probability", "1-output"}
        Recorded as ``"1-probability"`` for softmax/sigmoid models (``"1-output"`` otherwise).
    """

    method = "occlusion"
    param_changes = {
        "patch_size": Param("patch_size", "int", 8, "Side of tf-explain's square patches (one int; the stride is the "
                            "patch).", low=1,
                            hint="tf-explain takes one int patch_size (square patches, stride = patch); for "
                                 "rectangular patches or another stride use backend='tensorflow'."),
        "stride": None,
        "baseline": SHARED["baseline"].with_default(_GREY, "The occluding value in the model's input space; "
                                                    "tf-explain hard-codes 127.5 (grey on [0, 255] inputs only)."),
        "upsample": Param("upsample", "choice", "bilinear", "'bilinear': tf-explain's cv2.resize of the grid; "
                          "'patch': each pixel gets the value of its patch.", choices=("bilinear", "patch")),
        "score": score_param("1-probability", "1-output", doc="tf-explain scores 1 minus the model's output."),
    }
    aligned_params = {"upsample": "patch"}

    def _default_score(self, spec: ModelSpec) -> str:
        return "1-" + probability_name(spec)

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if params["score"] != self._default_score(spec):
            raise InputError(f"tf-explain's occlusion scores 1 minus the model's output; for this model that is "
                             f"score={self._default_score(spec)!r} (got {params['score']!r}).")
        patch = params["patch_size"]
        height, width = images.shape[1:3]
        if patch > min(height, width):
            raise InputError(f"patch_size {patch} is larger than the images ({height} x {width}); use a smaller patch")
        params.update(patch_size=[patch, patch], stride=[patch, patch])
        _warn_if_outside(params["_baseline"], images, self.baseline)
        params["_grey"] = (not isinstance(self.baseline, dict) and np.ndim(self.baseline) == 0
                           and float(self.baseline) == _GREY)
        params["n_windows"] = int(np.prod(tfexplain_grid(height, width, patch)))
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        graph = self._graph("probability")
        outputs, targets = ctx.outputs_and_targets()
        n, height, width = images.shape[:3]
        patch = params["patch_size"][0]
        grid_h, grid_w = tfexplain_grid(height, width, patch)
        cells = grid_h * grid_w
        baseline = params["_baseline"]
        grid = np.zeros((n, grid_h, grid_w), np.float64)  # tf-explain's np.zeros map (float64)
        for flat in chunks(n * cells, params["batch_size"]):
            index = np.arange(flat.start, flat.stop)
            image_of, cell = index // cells, index % cells
            rows, cols = (cell // grid_w) * patch, (cell % grid_w) * patch
            batch = np.empty((len(index), *images.shape[1:]), np.float32)
            for k, (i, r, c) in enumerate(zip(image_of, rows, cols)):
                if params["_grey"]:
                    batch[k] = apply_grey_patch(images[i], top_left_x=c, top_left_y=r, patch_size=patch)
                else:
                    batch[k] = images[i]
                    batch[k, r:r + patch, c:c + patch] = baseline[r:r + patch, c:c + patch]
            predictions = np.asarray(graph.model.predict_on_batch(batch))
            confidence = predictions[np.arange(len(index)), targets[image_of]]
            grid[image_of, cell // grid_w, cell % grid_w] = 1 - confidence
            report_progress(flat.stop, n * cells)
        if params["upsample"] == "bilinear":
            maps = np.stack([cv2.resize(g, (width, height)) for g in grid])  # cv2 takes (width, height)
        else:
            maps = np.repeat(np.repeat(grid, patch, axis=1), patch, axis=2)[:, :height, :width]
        return Attribution(maps.astype(np.float32), outputs, targets,
                           extras={"sensitivity_grid": grid.astype(np.float32)})
