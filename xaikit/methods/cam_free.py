"""Class activation maps without gradients: Score-CAM, Ablation-CAM, Eigen-CAM.

Each reads a layer's activations in one forward pass (:meth:`xaikit.engine.Engine.probe`)
and weighs them: by the scores of the image masked by each channel (Score-CAM), by the
drop of the score when a channel is zeroed above the layer (Ablation-CAM), or by the
activations' first principal direction (Eigen-CAM). The per-channel passes are streamed
``batch_size`` (image, channel) rows at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema
from ..catalogue.parts import ACTIVATIONS, CAM_PARAMS, activations_floor, channel_forwards_floor
from ..explainer import Attribution
from ..kernels import (
    ablation_weights,
    chunks,
    principal_projection,
    row_plan,
    scorecam_weights,
    stream_rows,
    upsample_bilinear,
    weighted_cam,
)
from ..spec import ModelSpec
from .base import EngineExplainer, stream_masked_scores

__all__ = ["ScoreCAM", "AblationCAM", "EigenCAM"]


class _ActivationCAM(EngineExplainer):
    """A layer's activations (one forward pass per chunk) combined into a map by :meth:`_cam`, rectified."""

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["n_channels"] = spec.layer_channels(params["layer"])  # the floor counts passes by it
        return params

    def _cam(self, ctx: CallContext, features: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The unrectified map ``(N, h, w)`` from the activations ``features`` (channels-last) and class scores."""
        raise NotImplementedError

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        parts = [engine.probe(images[s], params["score"], params["layer"], layout=params["_layout"])
                 for s in chunks(len(images), params["batch_size"])]
        outputs, scores, features = (np.concatenate([p[i] for p in parts]) for i in range(3))
        targets = ctx.targets_for(outputs)
        cam = self._cam(ctx, features, scores, targets)
        maps = np.maximum(cam, 0.0) if params["relu"] else cam
        return Attribution(maps.astype(np.float32), outputs, targets, at_layer=True)


class ScoreCAM(_ActivationCAM, schema=MethodSchema(
        "scorecam", "Score-CAM",
        "Feature maps weighted by the softmax over channels of the target score of the image masked by each "
        "channel's upsampled, min-max normalised activation; no gradients.",
        "Wang et al., 'Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks', "
        "CVPR Workshops 2020.",
        signed=False, cost="1 + number of channels forward passes", params=CAM_PARAMS,
        needs=ACTIVATIONS, layer="auto", view="positive", floor_fn=channel_forwards_floor("masked images"),
        formula="L = ReLU(sum_k a_k A^k),  a = softmax_k S_t(x * s(up(A^k))),  s = min-max",
        example_params={"layer": "bn_relu"},
        docs=DocsEntry("Score-CAM", "activations weighted by the scores of channel-masked images",
                       "1 + channels forward", "Wang et al. 2020"))):
    """Score-CAM: activations weighted by the scores of the image masked by each channel.

    Each channel's activation map is upsampled bilinearly to the input, scaled to [0, 1]
    (:math:`(M - \\min M) / (\\max M - \\min M + 10^{-8})`) and multiplies the image; the
    target scores of these ``C`` masked images, softmaxed over the channels, weigh the
    activations: :math:`L = \\mathrm{ReLU}(\\sum_k \\mathrm{softmax}_k(S_t(x \\odot s(\\mathrm{up}(A^k))))\\, A^k)`,
    at layer resolution, then upsampled. This is Algorithm 1 of the paper (the baseline
    score subtracted there cancels in the softmax) and pytorch-grad-cam's ``ScoreCAM``,
    except that pytorch-grad-cam upsamples the masks with ``align_corners=True``; here
    they are upsampled as every map is (half-pixel centres, OpenCV's and the authors'
    code's ``align_corners=False``). The authors' released code instead weighs each map
    by the softmax probability of the class (no softmax over channels): use
    ``score="probability"`` for the closest match in scale. No gradients are needed:
    1 + ``C`` forward passes per image, streamed ``batch_size`` masked images at a time.

    Parameters
    ----------
    model
    layer : str or None
        As in :class:`~xaikit.methods.cam.GradCAM`.
    relu : bool, default True
    batch_size : int, default 32
        Masked images per model call.
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks", CVPR Workshops 2020.
    """

    def _cam(self, ctx: CallContext, features: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
        images, params = ctx.images, ctx.params
        n, _, _, c = features.shape
        size = ctx.image_size
        masked = np.empty(n * c, np.float64)  # row i * c + k: image i masked by channel k

        def prepare(rows: slice) -> tuple[np.ndarray, np.ndarray, None]:
            index, channel = row_plan(rows, c)
            masks = upsample_bilinear(features[index, :, :, channel], size)
            low = masks.min(axis=(1, 2), keepdims=True)
            high = masks.max(axis=(1, 2), keepdims=True)
            return index, (masks - low) / (high - low + 1e-8), None

        def consume(rows: slice, index: np.ndarray, state: None, scores: np.ndarray) -> None:
            masked[rows] = scores

        stream_masked_scores(ctx.engine, images, n * c, params["batch_size"], prepare, consume,
                             fill=np.zeros(images.shape[1:], np.float32), targets=targets, score=params["score"])
        return weighted_cam(features, scorecam_weights(masked.reshape(n, c)), relu=False)


class AblationCAM(_ActivationCAM, schema=MethodSchema(
        "ablationcam", "Ablation-CAM",
        "Feature maps weighted by the relative drop of the target score when each channel is set to zero "
        "(the model above the layer run once per channel); no gradients.",
        "Desai & Ramaswamy, 'Ablation-CAM: Visual Explanations for Deep Convolutional Network via "
        "Gradient-free Localization', WACV 2020.",
        signed=False, cost="1 forward pass + number of channels forward passes above the layer",
        params=CAM_PARAMS, needs=frozenset({"scores", "layers", "head"}), layer="auto", view="positive",
        floor_fn=channel_forwards_floor("ablated channels, counted as whole forward passes: an upper bound"),
        formula="L = ReLU(sum_k w_k A^k),  w_k = (y - y_k) / y,  y_k = S_t with A^k = 0",
        example_params={"layer": "bn_relu"},
        docs=DocsEntry("Ablation-CAM", "activations weighted by the score drop when a channel is zeroed",
                       "1 + channels forward (above the layer)", "Desai & Ramaswamy 2020"))):
    """Ablation-CAM: activations weighted by the relative drop of the score when each channel is zeroed.

    :math:`w_k = (y - y_k) / y` with :math:`y` the target score and :math:`y_k` the score
    computed from the layer's activations with channel :math:`k` set to 0 (the model above
    the layer run on the modified activations, :meth:`xaikit.engine.Engine.head_scores`);
    :math:`L = \\mathrm{ReLU}(\\sum_k w_k A^k)`. As defined, a negative score flips the
    sign of every weight (explain a class whose score is positive, or use
    ``score="probability"``); a score of exactly 0 leaves the drops unnormalised.
    pytorch-grad-cam zeroes the channel too when the layer's minimum activation is 0, but
    sets it to ``min - 1e7`` otherwise (a deviation from the paper it documents).
    1 forward pass to the layer, then ``C`` passes of the model above it per image,
    ``batch_size`` ablated copies at a time; the model must be splittable at the layer
    (a Sequential model, or a Functional one where the layer cuts the graph).

    Parameters
    ----------
    model
    layer : str or None
        As in :class:`~xaikit.methods.cam.GradCAM`.
    relu : bool, default True
    batch_size : int, default 32
        Ablated copies per model call.
    score : {None, "logit", "probability", "output"}

    References
    ----------
    Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional Network
    via Gradient-free Localization", WACV 2020.
    """

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["_layout"].check_writable("Ablation-CAM")  # the ablated maps go back into the model
        self._engine().check_head(params["layer"])  # fail before any work if the model cannot be split there
        return params

    def _cam(self, ctx: CallContext, features: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
        engine, params = ctx.engine, ctx.params
        n, _, _, c = features.shape
        t_all = targets.astype(np.int32)
        ablated_scores = np.empty(n * c, np.float64)  # row i * c + k: image i with channel k zeroed

        def prepare(rows: slice) -> tuple[np.ndarray, np.ndarray]:
            index, channel = row_plan(rows, c)
            ablated = features[index]  # a copy
            ablated[np.arange(len(index)), :, :, channel] = 0.0
            return index, ablated

        def compute(prepared: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            index, ablated = prepared
            return engine.head_scores(ablated, t_all[index], params["score"], params["layer"],
                                      layout=params["_layout"])

        def consume(rows: slice, prepared: tuple[np.ndarray, np.ndarray], scores: np.ndarray) -> None:
            ablated_scores[rows] = scores

        stream_rows(n * c, params["batch_size"], prepare, compute, consume, context=engine.thread_context())
        y = np.take_along_axis(scores, targets[:, None], axis=1)[:, 0]
        return weighted_cam(features, ablation_weights(y, ablated_scores.reshape(n, c)), relu=False)


class EigenCAM(_ActivationCAM, schema=MethodSchema(
        "eigencam", "Eigen-CAM",
        "Projection of a layer's activations on their first principal component (class-agnostic: the "
        "target is recorded, not used), rectified.",
        "Muhammad & Yeasin, 'Eigen-CAM: Class Activation Map using Principal Components', IJCNN 2020.",
        signed=False, cost="1 forward pass (down to the layer)", params=CAM_PARAMS,
        needs=ACTIVATIONS, layer="auto", view="positive", floor_fn=activations_floor,
        formula="L = ReLU(A_c v_1),  A_c = activations (hw x C) centred,  v_1 its first right singular vector",
        docs=DocsEntry("Eigen-CAM", "first principal component of the activations",
                       "1 forward", "Muhammad & Yeasin 2020"))):
    """Eigen-CAM: the activations projected on their first principal component.

    The layer's ``(h w, C)`` activations, centred over locations, are projected on their
    first right singular vector and rectified. A singular vector's sign is arbitrary; it
    is fixed here so that the map correlates positively with the mean activation over
    channels (the vector's components sum to a non-negative number). pytorch-grad-cam
    keeps whatever sign the SVD returns, so after its ReLU it may show the complement of
    this map. The map does not depend on the target (the method is class-agnostic); the
    targets are recorded as for every method. One forward pass per image.

    Parameters
    ----------
    model
    layer : str or None
        As in :class:`~xaikit.methods.cam.GradCAM`.
    relu : bool, default True
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
        Recorded only (the map does not depend on a score).

    References
    ----------
    Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components",
    IJCNN 2020.
    """

    def _cam(self, ctx: CallContext, features: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return principal_projection(features)
