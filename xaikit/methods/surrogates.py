"""Linear surrogates on segments: KernelSHAP and LIME, written once on the engine's masked scores.

Both cut each image into segments (SLIC superpixels or a grid), evaluate the target score
on coalitions of segments (a removed segment takes the ``baseline``), and fit a weighted
linear model of the score on the coalitions; they differ in the coalitions drawn, their
weights and the fit. Coalitions are drawn from per-image streams (``seed`` and the
image's content), evaluated ``batch_size`` at a time, and reduced to the fit's weighted
moments as they come (:class:`xaikit.kernels.WeightedMoments`): memory is bounded by
``batch_size``, not by ``n_samples``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, Param, shared
from ..catalogue.parts import SCORES, SEGMENT_PARAMS, sample_forwards_floor
from ..explainer import Attribution
from ..kernels import (
    ImageStreams,
    WeightedMoments,
    coalition_masks,
    enumerated_coalitions,
    image_segments,
    lime_kernel,
    paired_coalitions,
    ragged_row_plan,
    segments,
    shapley_kernel,
    to_layout,
)
from .base import EngineExplainer, row_groups, stream_masked_scores

__all__ = ["KernelSHAP", "LIME"]


class _SegmentSurrogate(EngineExplainer):
    """Scores of coalitions of segments, reduced to weighted moments per image; subclasses say which coalitions,
    which weights, and how the fit becomes the values of the segments."""

    def _rows(self, m: int, params: dict[str, Any]) -> int:
        """Coalitions evaluated for an image of ``m`` segments."""
        raise NotImplementedError

    def _enumerates(self, m: int, params: dict[str, Any]) -> bool:
        """Whether every proper coalition of ``m`` segments is evaluated (in order) instead of drawn."""
        return False

    def _draw(self, image: int, samples: np.ndarray, m: int, streams: ImageStreams, state: dict[int, Any]
              ) -> np.ndarray:
        """Random coalitions ``(R, m)`` number ``samples`` of ``image`` (contiguous, increasing over calls);
        ``state`` is this explanation's scratch space."""
        raise NotImplementedError

    def _weights(self, z: np.ndarray, enumerated: bool, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, moments: list[WeightedMoments], full: np.ndarray, empty: np.ndarray, params: dict[str, Any]
             ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Values of the segments per image, and the result's extras."""
        raise NotImplementedError

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, spec, images, params = ctx.engine, ctx.spec, ctx.images, ctx.params
        full, outputs, targets_used = self._target_scores(ctx)
        # the score with every segment removed: the baseline image
        empty = engine.class_scores(params["_baseline"][None], params["score"])[0][targets_used]
        labels = image_segments(to_layout(images, spec.layout, "NHWC"), params["segmentation"], params["n_segments"],
                                params["compactness"])
        ms = [int(lab.max()) + 1 for lab in labels]
        counts = [self._rows(m, params) for m in ms]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        moments = [WeightedMoments(m) for m in ms]
        enumerates = [self._enumerates(m, params) for m in ms]
        streams = ImageStreams(params["seed"], images, "masks", spec.layout)
        state: dict[int, Any] = {}

        def coalitions(i: int, samples: np.ndarray) -> np.ndarray:
            if enumerates[i]:
                return enumerated_coalitions(ms[i], samples)
            return self._draw(i, samples, ms[i], streams, state)

        def prepare(rows: slice) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...]]:
            index, sample = ragged_row_plan(rows, offsets)
            used, seg = segments(index)
            starts = row_groups(seg, len(used))
            zs = [coalitions(int(i), sample[starts[j]:starts[j + 1]]) for j, i in enumerate(used)]
            masks = np.concatenate([coalition_masks(z, labels[i]) for z, i in zip(zs, used)])
            return index, masks, (used, starts, zs)

        def consume(rows: slice, index: np.ndarray, state: tuple[Any, ...], scores: np.ndarray) -> None:
            used, starts, zs = state
            for j, i in enumerate(used):
                z = zs[j]
                moments[i].add(z, scores[starts[j]:starts[j + 1]] - empty[i], self._weights(z, enumerates[i], params))

        self._begin(moments, full - empty, params)
        stream_masked_scores(engine, images, int(offsets[-1]), params["batch_size"], prepare, consume,
                             fill=params["_baseline"], targets=targets_used, score=params["score"])
        values, extras = self._fit(moments, full, empty, params)
        maps = np.stack([v[lab] for v, lab in zip(values, labels)]).astype(np.float32)
        extras["segments"] = np.stack(labels)
        return Attribution(maps, outputs, targets_used, extras=extras)

    def _begin(self, moments: list[WeightedMoments], gains: np.ndarray, params: dict[str, Any]) -> None:
        """Samples known without a model pass (LIME's whole image), added before streaming."""


class KernelSHAP(_SegmentSurrogate, schema=MethodSchema(
        "kernel_shap", "KernelSHAP (superpixels)",
        "Shapley values of the image's segments for the target score (a removed segment takes the baseline), "
        "estimated by weighted least squares on coalitions sampled from the Shapley kernel, exact when every "
        "coalition fits in n_samples.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017.",
        signed=True, cost="2 + n_samples forward passes (fewer when every coalition is evaluated)",
        params=(*shared("n_samples", n_samples=1000), *SEGMENT_PARAMS, *shared("seed")),
        needs=SCORES, floor_fn=sample_forwards_floor(lambda p: p["n_samples"], "coalitions", extra=2),
        warmup={"n_samples": 2},
        formula="phi = argmin sum_z pi(z) (S_t(z) - S_t(0) - z . phi)^2  s.t. sum phi = S_t(1) - S_t(0)",
        example_params={"n_samples": 30, "n_segments": 10, "seed": 3},
        docs=DocsEntry("KernelSHAP", "Shapley values of superpixels (weighted least squares)",
                       "2 + `n_samples` forward", "Lundberg & Lee 2017"))):
    """KernelSHAP on segments: the Shapley values of the image's segments for the target score.

    The game: a coalition :math:`z \\in \\{0, 1\\}^M` of segments scores
    :math:`v(z) = S_t(x \\odot m(z) + b \\odot (1 - m(z)))` (``baseline`` ``b`` where a segment is
    removed). The values solve the weighted least squares of Lundberg & Lee (2017)

    .. math::

        \\min_\\phi \\sum_z \\pi(z) \\big(v(z) - v(0) - z \\cdot \\phi\\big)^2
        \\quad\\text{s.t.}\\quad \\sum_i \\phi_i = v(1) - v(0)

    with the Shapley kernel :math:`\\pi`. When every proper coalition fits in ``n_samples``
    (``2^M - 2 <= n_samples``) all are evaluated with their kernel weights and the result
    is the exact Shapley values; otherwise ``n_samples`` coalitions are drawn from the
    kernel (a size with probability :math:`\\propto 1/(k (M - k))`, then a uniform subset),
    each followed by its complement as shap's KernelExplainer pairs them, and weighted
    equally. The constraint is exact (the values of an image sum to
    :math:`v(1) - v(0)`); :math:`v(0)` is in ``extras["base_value"]``, the segments in
    ``extras["segments"]``. Every pixel of a segment gets the segment's value.

    Parameters
    ----------
    model
    n_samples : int, default 1000
        Coalitions evaluated per image (at most).
    segmentation : {"slic", "grid"}, default "slic"
    n_segments : int, default 50
    compactness : float, default 1.0
        SLIC's, on the image scaled to [0, 1].
    baseline : float, array (C,) or image, default 0.0
        What removed segments become, in the model's input space.
    seed : int or None
    batch_size : int, default 32
        Masked images per model call.
    score : {None, "logit", "probability", "output"}
        shap explains the model's output as it is: ``score="probability"`` (or
        ``"output"``) to match it on a softmax model.

    References
    ----------
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017.
    """

    def _rows(self, m: int, params: dict[str, Any]) -> int:
        if m < 2:
            return 0  # one segment takes the whole gain
        return 2 ** m - 2 if self._enumerates(m, params) else params["n_samples"]

    def _enumerates(self, m: int, params: dict[str, Any]) -> bool:
        return m >= 2 and 2 ** m - 2 <= params["n_samples"]

    def _draw(self, image: int, samples: np.ndarray, m: int, streams: ImageStreams, state: dict[int, Any]
              ) -> np.ndarray:
        first, last = int(samples[0]), int(samples[-1])
        new_from, new_to = (first + 1) // 2, last // 2  # pairs not drawn yet (an odd first row's pair was)
        count = max(new_to - new_from + 1, 0)
        drawn = paired_coalitions(streams.uniform(image, count * (m + 1)).reshape(count, m + 1), m)
        pairs = np.vstack([state[image], drawn]) if first % 2 else drawn  # rows from pair first // 2 on
        state[image] = pairs[-2:]
        offset = first - 2 * (first // 2)
        return pairs[offset:offset + len(samples)]

    def _weights(self, z: np.ndarray, enumerated: bool, params: dict[str, Any]) -> np.ndarray:
        if enumerated:
            return shapley_kernel(z.shape[1], z.sum(axis=1).astype(np.int64))
        return np.ones(len(z))

    def _fit(self, moments: list[WeightedMoments], full: np.ndarray, empty: np.ndarray, params: dict[str, Any]
             ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        values = [mom.shapley(float(full[i] - empty[i])) for i, mom in enumerate(moments)]
        return values, {"base_value": empty.astype(np.float32)}


class LIME(_SegmentSurrogate, schema=MethodSchema(
        "lime", "LIME (superpixels)",
        "Coefficients of a weighted ridge regression of the target score on random coalitions of the image's "
        "segments (a removed segment takes the baseline), weighted by an exponential kernel on the cosine "
        "distance to the whole image.",
        "Ribeiro, Singh & Guestrin, '\"Why Should I Trust You?\": Explaining the Predictions of Any "
        "Classifier', KDD 2016.",
        signed=True, cost="n_samples forward passes (the first sample is the image itself)",
        params=(*shared("n_samples", n_samples=1000), *SEGMENT_PARAMS,
                Param("kernel_width", "float", 0.25, "Width of the exponential kernel on the cosine distance "
                      "between a coalition and the whole image (lime_image's 0.25).", low=0.0, low_open=True),
                Param("ridge_alpha", "float", 1.0, "Ridge penalty of the surrogate linear model (lime's "
                      "Ridge(alpha=1)); 0 is ordinary weighted least squares.", low=0.0),
                *shared("seed")),
        needs=SCORES, floor_fn=sample_forwards_floor(lambda p: p["n_samples"] - 1, "coalitions"),
        warmup={"n_samples": 2},
        formula="A = coefficients of Ridge(ridge_alpha) fitted to (z_j, S_t(z_j)) with weights "
                "sqrt(exp(-d(z_j, 1)^2 / kernel_width^2)),  d = cosine distance",
        example_params={"n_samples": 30, "n_segments": 10, "seed": 3},
        docs=DocsEntry("LIME", "ridge regression of the score on superpixel coalitions",
                       "`n_samples` forward", "Ribeiro et al. 2016"))):
    """LIME on segments: a weighted ridge regression of the target score on random coalitions of segments.

    As ``lime_image`` builds it: ``n_samples`` coalitions, the first the whole image and
    the others keeping each segment with probability 1/2; each weighted by
    :math:`\\sqrt{\\exp(-d^2 / w^2)}` with :math:`d` the cosine distance between the
    coalition and the whole image (``kernel_width`` :math:`w`); a ridge regression with
    intercept (``ridge_alpha``) of the scores on the coalitions. The coefficients are the
    segments' values (``extras["intercept"]`` the intercept, ``extras["segments"]`` the
    segments). ``lime_image`` differs in its defaults, not its definition: quickshift
    segments and removed segments filled with their mean colour (here ``baseline``, 0 by
    default); Xplique's ``Lime`` uses a Euclidean-distance kernel by default.

    Parameters
    ----------
    model
    n_samples : int, default 1000
        Coalitions per image, the whole image included.
    segmentation : {"slic", "grid"}, default "slic"
    n_segments : int, default 50
    compactness : float, default 1.0
    baseline : float, array (C,) or image, default 0.0
    kernel_width : float, default 0.25
    ridge_alpha : float, default 1.0
    seed : int or None
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
        lime explains the classifier's probabilities: ``score="probability"`` to match it.

    References
    ----------
    Ribeiro, Singh & Guestrin, "'Why Should I Trust You?': Explaining the Predictions of
    Any Classifier", KDD 2016.
    """

    def _rows(self, m: int, params: dict[str, Any]) -> int:
        return params["n_samples"] - 1  # the first coalition is the whole image, scored already

    def _draw(self, image: int, samples: np.ndarray, m: int, streams: ImageStreams, state: dict[int, Any]
              ) -> np.ndarray:
        return (streams.uniform(image, len(samples) * m).reshape(len(samples), m) < 0.5).astype(np.float32)

    def _weights(self, z: np.ndarray, enumerated: bool, params: dict[str, Any]) -> np.ndarray:
        return lime_kernel(z, params["kernel_width"])

    def _begin(self, moments: list[WeightedMoments], gains: np.ndarray, params: dict[str, Any]) -> None:
        for mom, gain in zip(moments, gains):
            mom.add(np.ones((1, mom.m)), np.array([gain]), np.ones(1))

    def _fit(self, moments: list[WeightedMoments], full: np.ndarray, empty: np.ndarray, params: dict[str, Any]
             ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        fits = [mom.ridge(params["ridge_alpha"]) for mom in moments]
        intercepts = np.array([b for _, b in fits]) + empty  # the scores were fitted minus the empty one's
        return [coef for coef, _ in fits], {"intercept": intercepts.astype(np.float32)}
