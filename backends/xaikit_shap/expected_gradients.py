"""Expected gradients computed by SHAP's ``GradientExplainer`` (TensorFlow) on Keras 3 models, in xaikit's format."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import shap
import tensorflow as tf
from xaikit_tensorflow.adapters import KerasModelMixin, versions

from xaikit.errors import LayerError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.kernels import GLOBAL_RNG_LOCK, chunks, reduce_channels

from ._common import ShapExpectedGradientsBase
from ._keras import features_function, head_model, score_function
from ._shapes import normalize_shap_values, split_shap_result

__all__ = ["KerasShapExpectedGradients"]

# shap draws its samples from NumPy's global RNG (np.random.seed(rseed) per output):
# one such call at a time in the process (xaikit.kernels.GLOBAL_RNG_LOCK), so draws never interleave.


@dataclass
class _Cached:
    key: tuple[Any, ...]
    background: np.ndarray  # in feature space, as shap holds it
    explainer: Any


@dataclass
class _Prepared:
    """What one call needs: shap's explainer on the head, the score function, E[S(background)]."""

    explainer: Any
    feature_shape: tuple[int, ...]
    scores: Any
    background_mean_scores: np.ndarray


# shap compiles one gradient function per explained output inside its explainer object;
# keeping the last explainer per model (weakly, as the native backend keeps its views)
# lets repeated calls, including xaikit.explain shortcuts, skip re-tracing them.
_EXPLAINERS: weakref.WeakKeyDictionary[Any, _Cached] = weakref.WeakKeyDictionary()
_EXPLAINERS_LOCK = threading.Lock()


class KerasShapExpectedGradients(KerasModelMixin, ShapExpectedGradientsBase):
    """Expected gradients by ``shap.GradientExplainer``, at the input or at a layer.

    SHAP computes, for image (or layer activation) :math:`x`, output :math:`c` and
    ``n_samples`` draws :math:`j`,
    :math:`\\phi = \\frac{1}{n}\\sum_j \\nabla f_c(t_j \\tilde x_j + (1 - t_j) r_j) \\odot (\\tilde x_j - r_j)`
    with :math:`r_j` drawn uniformly (with replacement) from ``background``,
    :math:`t_j \\sim U(0, 1)` and :math:`\\tilde x_j = x + N(0, \\text{local\\_smoothing}^2)`,
    the same estimator as the native backend's. In expectation the attributions sum to
    :math:`f_c(x) - E_r f_c(r)`; the per-image difference is in
    ``extras["completeness_gap"]``.

    At a ``layer`` the model is split the TF2 way (SHAP's ``map2layer`` recipe needs
    TF1 sessions): images and background go through the part below the layer, and shap
    explains the part above it, a ``keras.Model`` built from the model's own layers.
    The map is the channel sum at layer resolution (``layer_attributions``), upsampled
    to the input.

    What shap explains is the model output as it is: ``score=None`` means
    ``"probability"`` for a softmax/sigmoid model and ``"output"`` otherwise (the native
    backend's default is the logit). ``score="logit"`` hands shap a head returning the
    pre-activation instead, to compare with the native default. A single-sigmoid model
    is given to shap as two outputs ``[1 - p, p]`` (classes 0 and 1).

    Targets: :meth:`explain_ranked` is shap's ``ranked_outputs=k``; ``explain`` with
    explicit (or predicted) targets passes them as shap's ``output_rank_order="custom"``
    with one target per image, so only the asked class is computed (n_samples gradients
    per image), never all K outputs.

    Randomness: shap seeds NumPy's global RNG (``np.random.seed(seed)``, again for each
    output). The global state is saved before and restored after the call, so the
    caller's ``np.random`` stream is unchanged; ``seed=None`` draws a seed (recorded)
    without touching it. Image ``i``'s draws follow those of images ``0..i-1`` (one
    stream for the batch, shap's design), so a map depends on the batch it was computed
    in; the native backend draws per image.

    Parameters
    ----------
    model : keras.Model
        A Keras 3 Functional or Sequential model (subclassed models: input only).
    background : array (B, H, W, C)
        Reference images in the model's input space (shap's ``data``); mapped to the
        layer's activations when ``layer`` is set.
    n_samples : int, default 200
        shap's ``nsamples``: draws per image.
    local_smoothing : float, default 0.0
        shap's ``local_smoothing`` (noise standard deviation, in units of the input or layer).
    seed : int or None
        shap's ``rseed``.
    layer : str or None
        Explain at this layer's output (a spatial ``(N, h, w, C)`` or ``(N, h, w)`` layer).
    batch_size : int, default 32
        shap's ``batch_size`` (shap's own default is 50): the samples of one image are
        sent to the model in chunks of this size. Note that shap builds all
        ``n_samples`` interpolated points of an image in memory first, and predicts all
        images in one batch to rank outputs.
    score : {None, "probability", "output", "logit"}
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
        How per-channel values become a map (``"sum"`` keeps completeness).

    References
    ----------
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017;
    Erion et al., "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence 3, 2021.
    """

    score_function_refusal = ("this adapter hands shap a Keras model ending in xaikit's class scores (a Keras layer "
                              "per score), which has no place for a function of the output yet. Use the native "
                              "'tensorflow' backend's expected_gradients (the same estimator), or shap on a PyTorch "
                              "model.")

    # ------------------------------------------------------------------ hooks
    def _info(self) -> dict[str, Any]:
        return versions("shap")

    def _default_score(self, spec: ModelSpec) -> str:
        """What shap explains when handed the model: its output as it is."""
        return "probability" if spec.output_activation in ("softmax", "sigmoid") else "output"

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        if layer is None:
            return None
        layer = spec.check_layer(layer, spatial=False, method="expected_gradients")
        shape = spec.layer(layer).output_shape if spec.layer(layer) else None
        if shape is None or len(shape) not in (2, 3):
            shown = "unknown" if shape is None else "(N, " + ", ".join(str(s) for s in shape) + ")"
            raise LayerError(f"layer {layer!r} outputs shape {shown}; expected gradients at a layer gives maps "
                             f"only for spatial (N, h, w, C) or (N, h, w) outputs: {', '.join(spec.spatial_layers())}")
        self._view().head(layer)  # the native checks: nested layer, residual cut, subclassed model -> LayerError
        return layer

    # ------------------------------------------------------------------ method
    def _attribute(self, ctx: CallContext) -> Attribution:
        outputs, targets = ctx.outputs_and_targets()
        # One output per image, chosen by us: shap's "custom" rank order takes an (N, 1) index array.
        return self._run(ctx.images, ctx.params, outputs, ranked_outputs=np.asarray(targets, np.int64)[:, None],
                         order="custom")[0]

    def _attribute_ranked(self, ctx: CallContext, ranked: np.ndarray) -> list[Attribution]:
        # shap ranks the outputs itself (ranked_outputs=k); its indexes become the targets.
        return self._run(ctx.images, ctx.params, ctx.outputs, ranked_outputs=int(ranked.shape[1]), order="max")

    # --------------------------------------------------------------- plumbing
    def _prepare(self, params: dict[str, Any], hwc: tuple[int, ...]) -> _Prepared:
        """shap's explainer for this configuration, reused while model, settings and background are unchanged.

        The background is mapped to feature space on every call (the model's weights may
        have changed since the last one); the explainer is rebuilt only when that mapping,
        the layer, the score, batch_size or local_smoothing differ.
        """
        view = self._view()
        layer, score, batch_size = params["layer"], params["score"], params["batch_size"]
        background = params["_background"]
        if layer is None:
            bg_space = background
        else:
            features = features_function(view, layer, hwc)
            bg_space = np.concatenate([features(background[s]).numpy() for s in chunks(len(background), batch_size)])
        feature_shape = tuple(int(s) for s in bg_space.shape[1:])
        key = (layer, score, hwc, batch_size, params["local_smoothing"])
        with _EXPLAINERS_LOCK:
            cached = _EXPLAINERS.get(self.model)
        if (cached is None or cached.key != key or cached.background.shape != bg_space.shape
                or not np.array_equal(cached.background, bg_space)):
            explainer = shap.GradientExplainer(head_model(view, layer, score, feature_shape), bg_space,
                                               batch_size=batch_size, local_smoothing=params["local_smoothing"])
            cached = _Cached(key, bg_space, explainer)
            with _EXPLAINERS_LOCK:
                _EXPLAINERS[self.model] = cached
        scores = view.compiled(("shap_scores", layer, score, feature_shape),
                               lambda: score_function(view, layer, score),
                               [tf.TensorSpec((None, *feature_shape), tf.float32)])
        bg_scores = np.concatenate([scores(bg_space[s]).numpy() for s in chunks(len(bg_space), batch_size)])
        return _Prepared(cached.explainer, feature_shape, scores, bg_scores.astype(np.float64).mean(axis=0))

    def _run(self, images: np.ndarray, params: dict[str, Any], outputs: np.ndarray, *, ranked_outputs: Any,
             order: str) -> list[Attribution]:
        hwc = tuple(images.shape[1:])
        prepared = self._prepare(params, hwc)
        layer, batch_size = params["layer"], params["batch_size"]
        if layer is None:
            x_space = images
        else:
            features = features_function(self._view(), layer, hwc)
            x_space = np.concatenate([features(images[s]).numpy() for s in chunks(len(images), batch_size)])
        n = len(images)
        k = ranked_outputs.shape[1] if order == "custom" else ranked_outputs
        with GLOBAL_RNG_LOCK:
            state = np.random.get_state()
            try:
                result = prepared.explainer.shap_values(x_space, nsamples=params["n_samples"],
                                                        ranked_outputs=ranked_outputs, output_rank_order=order,
                                                        rseed=params["seed"])
            finally:
                np.random.set_state(state)
        raw, indexes = split_shap_result(result, ranked=True)
        values = normalize_shap_values(raw, n_images=n, feature_shape=prepared.feature_shape, n_outputs=k)
        if indexes is None or indexes.shape != (n, k):  # pragma: no cover - split_shap_result checks the rank
            raise RuntimeError(f"shap returned output indexes of shape {getattr(indexes, 'shape', None)}, not {(n, k)}")
        s_x = np.concatenate([prepared.scores(x_space[s]).numpy() for s in chunks(n, batch_size)]).astype(np.float64)
        # the channel axis: the model's at the input ((N, C, H, W) for a channels-first model), last at a layer
        axis = 1 if layer is None and self._describe(images).layout == "NCHW" else -1
        results = []
        for r in range(k):
            targets = indexes[:, r]
            channels = values[r] if values[r].ndim == 4 else values[r][..., None]  # (N, h, w) layer -> one channel
            gap = channels.reshape(n, -1).sum(axis=1) - (s_x[np.arange(n), targets]
                                                          - prepared.background_mean_scores[targets])
            channels = channels.astype(np.float32)
            maps = reduce_channels(channels, params["channel_reduce"], axis=axis)
            results.append(Attribution(maps, outputs, targets.astype(np.int64), at_layer=layer is not None,
                                       channels=channels, extras={"completeness_gap": gap.astype(np.float32)}))
        return results
