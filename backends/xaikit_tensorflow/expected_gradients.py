"""Expected gradients with SHAP GradientExplainer semantics, at the input or at a layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.errors import InputError
from xaikit.explainer import Attribution, ModelSpec
from xaikit.validation import check_images, check_nonnegative_float, check_positive_int, check_seed

from ._base import (
    TFExplainerWithChannels,
    add_rows,
    chunks,
    class_scores,
    image_rng,
    reduce_channels,
    resolve_targets,
)
from ._keras import KerasModelView

__all__ = ["TFExpectedGradients"]


def _multi_gradient_fn(view: KerasModelView, score: str, layer: str | None, shape: tuple[int, ...],
                       k: int) -> Callable[..., Any]:
    """Compiled ``(points, T (B, k)) -> grads (k, B, *shape)``: one forward, k backward passes.

    ``points`` are images (``layer`` None) or activations of ``layer`` fed to the model
    above it.
    """

    def build() -> Callable[..., Any]:
        def fn(points: Any, t: Any) -> Any:
            with tf.GradientTape(persistent=k > 1) as tape:
                tape.watch(points)
                cap = view.forward(points) if layer is None else view.run_head(layer, points)
                scores = view.class_scores(cap, score)
                selected = [tf.gather(scores, t[:, r], batch_dims=1) for r in range(k)]
            grads = [tf.cast(tape.gradient(s, points), tf.float32) for s in selected]
            del tape
            return tf.stack(grads)
        return fn

    spec = tf.TensorSpec((None, *shape), tf.float32)
    return view.compiled(("expected_gradients", score, layer, shape, k), build,
                         [spec, tf.TensorSpec([None, k], tf.int32)])


def _features_fn(view: KerasModelView, layer: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
    def build() -> Callable[..., Any]:
        def fn(x: Any) -> Any:
            return tf.cast(view.forward(x, capture=[layer]).outputs[layer], tf.float32)
        return fn

    return view.compiled(("features", layer, hwc), build, [view.image_spec(hwc)])


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

    References
    ----------
    Erion et al., "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence 3, 2021;
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017.
    """

    method = "expected_gradients"

    def __init__(self, model: Any, *, background: Any = None, n_samples: int = 200, local_smoothing: float = 0.0,
                 seed: int | None = None, layer: str | None = None, batch_size: int = 32, score: str | None = None,
                 channel_reduce: str = "sum") -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.background = background
        self.n_samples = n_samples
        self.local_smoothing = local_smoothing
        self.seed = seed
        self.layer = layer
        self.channel_reduce = channel_reduce

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if self.background is None:
            raise InputError("expected_gradients needs background=...: a batch of reference images in the model's "
                             "input space, e.g. 50-100 training images (SHAP calls it `data`).")
        background = check_images(self.background, expected_shape=tuple(images.shape[1:]), name="background")
        params["_background"] = background
        params["background"] = background  # recorded as shape + checksum
        params["n_samples"] = check_positive_int("n_samples", self.n_samples)
        params["local_smoothing"] = check_nonnegative_float("local_smoothing", self.local_smoothing)
        params["seed"] = check_seed(self.seed)
        hwc = tuple(images.shape[1:])
        params["layer"] = None if self.layer is None else self._view().check_layer(
            self.layer, hwc, spatial=True, method="expected_gradients")
        if params["layer"] is not None:
            self._view().head(params["layer"])  # fail early if the model cannot be split there
        return params

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        outputs, targets = resolve_targets(view, images, targets, params["batch_size"])
        return self._attribute_ranked(images, targets[:, None], params, outputs=outputs)[0]

    def _attribute_ranked(self, images: np.ndarray, ranked: np.ndarray, params: dict[str, Any],
                          outputs: np.ndarray | None = None) -> list[Attribution]:
        view = self._view()
        batch_size, layer = params["batch_size"], params["layer"]
        hwc = tuple(images.shape[1:])
        if outputs is None:
            outputs = view.predict(images, batch_size)
        background = params["_background"]
        if layer is None:
            x_space, bg_space = images, background
        else:
            features = _features_fn(view, layer, hwc)
            x_space = np.concatenate([features(images[s]).numpy() for s in chunks(len(images), batch_size)])
            bg_space = np.concatenate([features(background[s]).numpy() for s in chunks(len(background), batch_size)])
        shape = tuple(x_space.shape[1:])
        n, k, n_samples = len(images), ranked.shape[1], params["n_samples"]
        fn = _multi_gradient_fn(view, params["score"], layer, shape, k)
        draws = [image_rng(params["seed"], image) for image in images]
        picks = [(g.integers(0, len(bg_space), n_samples), g.uniform(size=n_samples)) for g in draws]
        reference_index = np.stack([p[0] for p in picks])  # (n, n_samples)
        positions = np.stack([p[1] for p in picks]).astype(np.float32)
        noise_rngs = [image_rng(params["seed"], image, stream=1) for image in images]
        smoothing = params["local_smoothing"]
        totals = np.zeros((k, *x_space.shape), np.float64)
        targets = ranked.astype(np.int32)
        for rows in chunks(n * n_samples, batch_size):
            flat = np.arange(rows.start, rows.stop)
            index, sample = flat // n_samples, flat % n_samples
            x_rows = x_space[index]
            if smoothing > 0:
                for image in np.unique(index):
                    where = index == image
                    x_rows[where] += smoothing * noise_rngs[image].standard_normal(
                        (int(where.sum()), *shape), dtype=np.float32)
            refs = bg_space[reference_index[index, sample]]
            u = positions[index, sample].reshape((-1,) + (1,) * len(shape))
            delta = x_rows - refs
            grads = fn(refs + u * delta, targets[index]).numpy()
            for r in range(k):
                add_rows(totals[r], index, grads[r] * delta)
        s_x = np.take_along_axis(class_scores(self.model, images, params["score"], batch_size), ranked, axis=1)
        s_bg = class_scores(self.model, background, params["score"], batch_size).mean(axis=0)[ranked]
        results = []
        for r in range(k):
            channels = (totals[r] / n_samples).astype(np.float32)
            gap = channels.reshape(n, -1).sum(axis=1) - (s_x[:, r] - s_bg[:, r])
            maps = reduce_channels(channels, params["channel_reduce"])
            results.append(Attribution(maps, outputs, ranked[:, r].astype(np.int64), at_layer=layer is not None,
                                       channels=channels, extras={"completeness_gap": gap.astype(np.float32)}))
        return results
