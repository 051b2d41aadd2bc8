"""Input-gradient methods: vanilla gradients, gradient x input, SmoothGrad, integrated gradients."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from xaikit.errors import InputError
from xaikit.explainer import Attribution, ModelSpec
from xaikit.validation import check_choice, check_nonnegative_float, check_positive_int, check_seed

from ._base import (
    TFExplainerWithChannels,
    broadcast_baseline,
    class_scores,
    image_rng,
    path_gradient_sums_fn,
    segments,
    stream_path_gradient_sums,
    chunks,
    gradient_fn,
    reduce_channels,
    resolve_targets,
    score_fn,
)

__all__ = ["TFVanillaGradients", "TFGradientXInput", "TFSmoothGrad", "TFIntegratedGradients", "integration_points"]


class TFVanillaGradients(TFExplainerWithChannels):
    """Gradient of the target score with respect to the input pixels.

    Parameters
    ----------
    model : keras.Model
    batch_size : int, default 32
        Images per model call.
    score : {None, "logit", "probability", "output"}
        What is differentiated; ``None`` = the logit when the model ends in softmax or
        sigmoid (see :func:`xaikit.explainer.resolve_score`).
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
        How per-channel gradients become one map (kept unreduced in
        ``channel_attributions``).

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR workshop 2014.
    """

    method = "vanilla_gradients"
    _times_input = False

    def __init__(self, model: Any, *, batch_size: int = 32, score: str | None = None,
                 channel_reduce: str = "sum") -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.channel_reduce = channel_reduce

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        fn = gradient_fn(view, params["score"], images.shape[1:])
        t_in = self._targets_for_graph(targets, len(images))
        grads, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            g, out, t, _ = fn(images[s], t_in[s])
            grads.append(g.numpy())
            outputs.append(out.numpy())
            used.append(t.numpy())
        channels = grads[0] if len(grads) == 1 else np.concatenate(grads)
        if self._times_input:
            channels = channels * images
        return Attribution(reduce_channels(channels, params["channel_reduce"]), np.concatenate(outputs),
                           np.concatenate(used), channels=channels)


class TFGradientXInput(TFVanillaGradients):
    """Input times the gradient of the target score, element-wise.

    Parameters are those of :class:`TFVanillaGradients`.

    References
    ----------
    Shrikumar et al., "Not Just a Black Box: Learning Important Features Through
    Propagating Activation Differences", 2016, arXiv:1605.01713.
    """

    method = "gradient_x_input"
    _times_input = True


class TFSmoothGrad(TFExplainerWithChannels):
    """Mean gradient over noisy copies of each image.

    For image :math:`x`, :math:`\\frac{1}{n}\\sum_j \\nabla S_t(x + \\epsilon_j)` with
    :math:`\\epsilon_j \\sim N(0, \\sigma^2)`, :math:`\\sigma = noise\\,(\\max x - \\min x)`.
    Samples are streamed through the model ``batch_size`` at a time; the noise of an
    image is drawn from a generator keyed by ``seed`` and the image's content
    (:func:`._base.image_rng`), so an image's result depends neither on ``batch_size``
    nor on the other images in the batch.

    Parameters
    ----------
    model : keras.Model
    n_samples : int, default 50
    noise : float, default 0.15
        Standard deviation as a fraction of each image's value range (the paper's
        "noise level", 10-20 % recommended).
    seed : int or None
        ``None`` draws a seed, recorded in the result's params.
    batch_size, score, channel_reduce
        As in :class:`TFVanillaGradients`.

    References
    ----------
    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017, arXiv:1706.03825.
    """

    method = "smoothgrad"

    def __init__(self, model: Any, *, n_samples: int = 50, noise: float = 0.15, seed: int | None = None,
                 batch_size: int = 32, score: str | None = None, channel_reduce: str = "sum") -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.n_samples = n_samples
        self.noise = noise
        self.seed = seed
        self.channel_reduce = channel_reduce

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["n_samples"] = check_positive_int("n_samples", self.n_samples)
        params["noise"] = check_nonnegative_float("noise", self.noise)
        params["seed"] = check_seed(self.seed)
        return params

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        outputs, targets = resolve_targets(view, images, targets, params["batch_size"])
        hwc = tuple(images.shape[1:])
        fn = path_gradient_sums_fn(view, params["score"], hwc)
        n, n_samples = len(images), params["n_samples"]
        sigma = params["noise"] * (images.reshape(n, -1).max(axis=1) - images.reshape(n, -1).min(axis=1))
        rngs = [image_rng(params["seed"], image) for image in images]
        t_all = targets.astype(np.int32)
        zero = np.zeros((1, *hwc), np.float32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            index = np.arange(rows.start, rows.stop) // n_samples  # image of each sample row
            used, seg = segments(index)
            noise = np.empty((len(index), *hwc), np.float32)
            starts = np.searchsorted(seg, np.arange(len(used) + 1))
            for j, image in enumerate(used):  # rows of one image are contiguous
                part = noise[starts[j]:starts[j + 1]]
                rngs[image].standard_normal(out=part, dtype=np.float32)
                part *= np.float32(sigma[image])
            ones = np.ones(len(index), np.float32)
            return used, seg, zero, noise, ones, ones, t_all[index][:, None]

        total = stream_path_gradient_sums(fn, images, n * n_samples, params["batch_size"], prepare)[0]
        channels = (total / n_samples).astype(np.float32)
        return Attribution(reduce_channels(channels, params["channel_reduce"]), outputs, targets, channels=channels)


def integration_points(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Path positions ``alpha`` in [0, 1] and quadrature weights (summing to 1)."""
    k = np.arange(steps, dtype=np.float64)
    if rule == "trapezoid":
        alphas = k / (steps - 1)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return alphas, weights
    weights = np.full(steps, 1.0 / steps)
    alphas = {"left": k / steps, "right": (k + 1) / steps, "midpoint": (k + 0.5) / steps}[rule]
    return alphas, weights


class TFIntegratedGradients(TFExplainerWithChannels):
    """Integrated gradients along the straight path from a baseline.

    :math:`(x - b) \\odot \\int_0^1 \\nabla S_t(b + \\alpha (x - b))\\, d\\alpha`,
    approximated with ``steps`` points of the chosen quadrature ``integration``.
    The attributions of an image sum to :math:`S_t(x) - S_t(b)` up to the quadrature
    error, reported per image in ``extras["completeness_gap"]``.

    Parameters
    ----------
    model : keras.Model
    steps : int, default 50
    baseline : float, array (C,) or (H, W, C), default 0.0
        The reference input (black image by default).
    integration : {"trapezoid", "left", "right", "midpoint"}, default "trapezoid"
        Quadrature rule. tf-explain's rule is none of these: it averages the gradients at
        ``k/(steps-1), k = 0..steps-1`` (both ends) without multiplying by ``x - b``.
    batch_size, score, channel_reduce
        As in :class:`TFVanillaGradients`.

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
    """

    method = "integrated_gradients"

    def __init__(self, model: Any, *, steps: int = 50, baseline: Any = 0.0, integration: str = "trapezoid",
                 batch_size: int = 32, score: str | None = None, channel_reduce: str = "sum") -> None:
        super().__init__(model, batch_size=batch_size, score=score)
        self.steps = steps
        self.baseline = baseline
        self.integration = integration
        self.channel_reduce = channel_reduce

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["steps"] = check_positive_int("steps", self.steps)
        params["integration"] = check_choice("integration", self.integration, ("trapezoid", "left", "right", "midpoint"))
        if params["integration"] == "trapezoid" and params["steps"] < 2:
            raise InputError("integration='trapezoid' needs steps >= 2 (both ends of the path); use steps >= 2 or "
                             "integration='right'/'midpoint' for a single point")
        params["_baseline"] = broadcast_baseline(self.baseline, images.shape[1:])
        params["baseline"] = self.baseline
        return params

    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        view = self._view()
        hwc = images.shape[1:]
        baseline = params["_baseline"]
        scores = score_fn(view, params["score"], hwc)
        t_in = self._targets_for_graph(targets, len(images))
        s_x, outputs, used = [], [], []
        for s in chunks(len(images), params["batch_size"]):
            sx, out, t = scores(images[s], t_in[s])
            s_x.append(sx.numpy())
            outputs.append(out.numpy())
            used.append(t.numpy())
        targets_used = np.concatenate(used)
        # One baseline for every image: its scores are one forward pass, kept while the weights are unchanged.
        key = ("baseline_scores", params["score"], tuple(hwc),
               hashlib.blake2b(np.ascontiguousarray(baseline, np.float32).tobytes(), digest_size=16).digest())
        baseline_scores = view.memo(key, lambda: class_scores(self.model, baseline[None].astype(np.float32),
                                                              params["score"], 1))
        s_b = baseline_scores[0, targets_used]
        alphas, weights = integration_points(params["steps"], params["integration"])
        fn = path_gradient_sums_fn(view, params["score"], hwc)
        steps, n = params["steps"], len(images)
        delta = images - baseline
        zero, base = np.zeros((1, *hwc), np.float32), baseline[None].astype(np.float32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            flat = np.arange(rows.start, rows.stop)
            index, step = flat // steps, flat % steps
            used, seg = segments(index)
            return (used, seg, base, zero, alphas[step].astype(np.float32), weights[step].astype(np.float32),
                    targets_used[index][:, None].astype(np.int32))

        total = stream_path_gradient_sums(fn, images, n * steps, params["batch_size"], prepare)[0]
        channels = (delta * total).astype(np.float32)
        gap = channels.reshape(n, -1).sum(axis=1) - (np.concatenate(s_x) - s_b)
        return Attribution(reduce_channels(channels, params["channel_reduce"]), np.concatenate(outputs), targets_used,
                           channels=channels, extras={"completeness_gap": gap.astype(np.float32)})
