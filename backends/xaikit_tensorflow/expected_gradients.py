"""Expected gradients with SHAP GradientExplainer semantics, at the input or at a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.errors import InputError
from xaikit.explainer import Attribution, ModelSpec
from xaikit.explanation import describe_array
from xaikit.validation import check_bool, check_images, check_nonnegative_float, check_positive_int, check_seed

from ._base import (
    TFExplainerWithChannels,
    chunks,
    class_scores,
    image_rng,
    path_gradient_sums_fn,
    reduce_channels,
    segments,
    stream_path_gradient_sums,
)
from ._keras import KerasModelView

__all__ = ["TFExpectedGradients"]


def _probe_fn(view: KerasModelView, score: str, layer: str | None, hwc: tuple[int, ...]) -> Callable[..., Any]:
    """Compiled ``x -> (outputs, class scores, activations of layer)``: one forward pass for all three."""

    def build() -> Callable[..., Any]:
        def fn(x: Any) -> Any:
            cap = view.forward(x, capture=[layer] if layer else [])
            features = tf.cast(cap.outputs[layer], tf.float32) if layer else tf.zeros([tf.shape(x)[0], 0])
            return tf.cast(cap.outputs["__output__"], tf.float32), view.class_scores(cap, score), features
        return fn

    return view.compiled(("expected_gradients_probe", score, layer, hwc), build, [view.image_spec(hwc)])


def _probe(fn: Callable[..., Any], x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [[t.numpy() for t in fn(x[s])] for s in chunks(len(x), batch_size)]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def sampling_params(explainer: Any, images: np.ndarray) -> dict[str, Any]:
    """Validate the parameters every expected-gradients backend shares (native and shap).

    Returns ``background`` (kept as ``_background`` and recorded as shape + checksum),
    ``n_samples``, ``local_smoothing`` and ``seed`` (drawn and recorded when None).
    """
    if explainer.background is None:
        raise InputError("expected_gradients needs background=...: a batch of reference images in the model's "
                         "input space, e.g. 50-100 training images (SHAP calls it `data`).")
    background = check_images(explainer.background, expected_shape=tuple(images.shape[1:]), name="background")
    return {"_background": background, "background": describe_array(background),
            "n_samples": check_positive_int("n_samples", explainer.n_samples),
            "local_smoothing": check_nonnegative_float("local_smoothing", explainer.local_smoothing),
            "seed": check_seed(explainer.seed)}


class TFExpectedGradients(TFExplainerWithChannels):
    """Expected gradients, as SHAP's GradientExplainer computes them.

    For image :math:`x` and target score :math:`S_t`,
    :math:`\\phi = \\frac{1}{n}\\sum_j \\nabla S_t(r_j + u_j (\\tilde x_j - r_j)) \\odot (\\tilde x_j - r_j)`
    with :math:`r_j` drawn uniformly from ``background``, :math:`u_j \\sim U(0, 1)` and
    :math:`\\tilde x_j = x + N(0, \\text{local\\_smoothing}^2)`. In expectation the
    attributions sum to :math:`S_t(x) - E_r S_t(r)`; the per-image difference is in
    ``extras["completeness_gap"]``. At a ``layer`` the same is done on that layer's
    activations (the model is split into the part below and the part above it, as
    SHAP's ``(model.layers[i].input, model.output)`` explainers do); the map is the
    channel sum at layer resolution, upsampled to the input.

    The samples of an image are drawn from a generator keyed by ``seed`` and the image's
    content (so they do not depend on the batch or ``batch_size``) and are the same for
    every ranked output (as SHAP re-seeds per output), so
    :meth:`explain_ranked` shares the forward passes between outputs.

    Parameters
    ----------
    model : keras.Model
    background : array (B, H, W, C)
        Reference images in the model's input space (SHAP's ``data``); mapped to the
        layer's activations when ``layer`` is set.
    n_samples : int, default 200
        SHAP's ``nsamples``.
    local_smoothing : float, default 0.0
        Standard deviation of the noise added to the explained input (SHAP's
        ``local_smoothing``, in absolute units of the input or layer).
    seed : int or None
    layer : str or None
        Explain at this layer's output instead of the input.
    batch_size, score, channel_reduce
        As in the other gradient methods. SHAP explains the model output as it is
        (probabilities for a softmax model): use ``score="probability"`` to match it.
    completeness : bool, default True
        Report ``extras["completeness_gap"]`` (with ``local_smoothing > 0`` the sum is taken
        around the noised inputs, so the gap also contains the smoothing's effect). At the input this costs one forward pass
        over the background (at a layer it comes free with mapping the background), made once
        and reused by later calls while the background and the model's weights are unchanged
        (a fingerprint of the weights is read at every call, so training or randomising the
        model between calls is seen).

    References
    ----------
    Erion et al., "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence 3, 2021;
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017.
    """

    method = "expected_gradients"

    def __init__(self, model: Any, *, background: Any = None, n_samples: int = 200, local_smoothing: float = 0.0,
                 seed: int | None = None, layer: str | None = None, batch_size: int = 32, score: str | None = None,
                 channel_reduce: str = "sum", completeness: bool = True) -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.background = background
        self.n_samples = n_samples
        self.local_smoothing = local_smoothing
        self.seed = seed
        self.layer = layer
        self.channel_reduce = channel_reduce
        self.completeness = completeness

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params.update(sampling_params(self, images))
        params["completeness"] = check_bool("completeness", self.completeness)
        hwc = tuple(images.shape[1:])
        params["layer"] = None if self.layer is None else self._view().check_layer(
            self.layer, hwc, spatial=True, method="expected_gradients")
        if params["layer"] is not None:
            self._view().head(params["layer"])  # fail early if the model cannot be split there
        return params

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        return self._attribute_ranked(images, None if targets is None else targets[:, None], params)[0]

    def _attribute_ranked(self, images: np.ndarray, ranked: np.ndarray | None,
                          params: dict[str, Any]) -> list[Attribution]:
        from xaikit.explainer import predicted_classes

        view = self._view()
        batch_size, layer = params["batch_size"], params["layer"]
        hwc = tuple(images.shape[1:])
        probe = _probe_fn(view, params["score"], layer, hwc)
        outputs, scores_x, features_x = _probe(probe, images, batch_size)
        if ranked is None:
            ranked = predicted_classes(outputs, view.spec)[:, None]
        background = params["_background"]
        # What the background gives (its scores; its activations at the layer) depends only
        # on the background and the weights: computed once, reused while neither changes.
        key = ("expected_gradients_background", params["score"], layer, repr(params["background"]))
        if layer is None:
            x_space, bg_space = images, background
            scores_bg = (view.memo(key, lambda: class_scores(self.model, background, params["score"], batch_size))
                         if params["completeness"] else None)
        else:  # the background is mapped to the layer anyway: its scores come with it
            x_space = features_x
            scores_bg, bg_space = view.memo(key, lambda: _probe(probe, background, batch_size)[1:])
        shape = tuple(x_space.shape[1:])
        n, k, n_samples = len(images), ranked.shape[1], params["n_samples"]
        fn = path_gradient_sums_fn(view, params["score"], shape, k, layer, times_delta=True)
        draws = [image_rng(params["seed"], image) for image in images]
        picks = [(g.integers(0, len(bg_space), n_samples), g.uniform(size=n_samples)) for g in draws]
        reference_index = np.stack([p[0] for p in picks])  # (n, n_samples)
        positions = np.stack([p[1] for p in picks]).astype(np.float32)
        noise_rngs = [image_rng(params["seed"], image, stream=1) for image in images]
        smoothing = params["local_smoothing"]
        targets = ranked.astype(np.int32)
        zero = np.zeros((1, *shape), np.float32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            flat = np.arange(rows.start, rows.stop)
            index, sample = flat // n_samples, flat % n_samples
            used, seg = segments(index)
            noise = zero
            if smoothing > 0:
                noise = np.empty((len(index), *shape), np.float32)
                starts = np.searchsorted(seg, np.arange(len(used) + 1))
                for j, image in enumerate(used):
                    part = noise[starts[j]:starts[j + 1]]
                    noise_rngs[image].standard_normal(out=part, dtype=np.float32)
                    part *= np.float32(smoothing)
            refs = bg_space[reference_index[index, sample]]
            return used, seg, refs, noise, positions[index, sample], np.ones(len(index), np.float32), targets[index]

        totals = stream_path_gradient_sums(fn, x_space, n * n_samples, batch_size, prepare, k=k)
        s_x = np.take_along_axis(scores_x, ranked, axis=1)
        s_bg = None if scores_bg is None else scores_bg.mean(axis=0)[ranked]
        results = []
        for r in range(k):
            channels = (totals[r] / n_samples).astype(np.float32)
            extras = {}
            if s_bg is not None:
                gap = channels.reshape(n, -1).sum(axis=1) - (s_x[:, r] - s_bg[:, r])
                extras["completeness_gap"] = gap.astype(np.float32)
            maps = reduce_channels(channels, params["channel_reduce"])
            results.append(Attribution(maps, outputs, ranked[:, r].astype(np.int64), at_layer=layer is not None,
                                       channels=channels, extras=extras))
        return results
