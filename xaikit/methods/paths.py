"""Gradients summed along sampled paths: SmoothGrad (and VarGrad, SquareGrad), integrated and expected gradients.

All stream ``n_images x samples`` rows through one engine primitive
(:meth:`xaikit.engine.Engine.path_gradient_sums`), ``batch_size`` rows alive at a time;
they differ only in the points they ask for (noise, interpolation, references) and, for
the gradient statistics over noise, in the statistic kept.
Random draws come from per-image streams (:class:`xaikit.kernels.ImageStreams`), drawn
a chunk at a time, so neither results nor memory depend on the batching.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, ExampleImages, MethodSchema, Param, shared
from ..catalogue.parts import GRADIENTS, NOISE_PARAMS, expected_gradients_floor, input_gradients_floor
from ..errors import InputError, ModelError
from ..explainer import Attribution
from ..kernels import ImageStreams, chunks, integration_points, reduce_channels, row_plan, segments
from ..spec import ModelSpec
from .base import EngineExplainer, row_groups, stream_sums

__all__ = ["SmoothGrad", "VarGrad", "SquareGrad", "IntegratedGradients", "ExpectedGradients"]


def _draw_rows(streams: ImageStreams, used: np.ndarray, seg: np.ndarray, shape: tuple[int, ...],
               scale: np.ndarray | float, layout: str) -> np.ndarray:
    """Normal noise for rows grouped by image (rows of one image are contiguous), each image's next draws.

    ``shape`` is one row's shape in ``layout`` (the noise is drawn channels-last whatever the layout).
    """
    out = np.empty((len(seg), *shape), np.float32)
    starts = row_groups(seg, len(used))
    for j, image in enumerate(used):
        sigma = float(scale[image]) if np.ndim(scale) else float(scale)
        streams.normal_into(int(image), out[starts[j]:starts[j + 1]], sigma, layout)  # in place: no copy
    return out


class SmoothGrad(EngineExplainer, schema=MethodSchema(
        "smoothgrad", "SmoothGrad",
        "Mean gradient of the target score over n copies of the image with Gaussian noise "
        "(standard deviation = noise x the image's value range).",
        "Smilkov et al., 'SmoothGrad: removing noise by adding noise', 2017 (arXiv:1706.03825).",
        signed=True, cost="n_samples forward + backward passes",
        params=shared("n_samples", "noise", "seed", "channel_reduce"), needs=GRADIENTS, view="magnitude",
        floor_fn=input_gradients_floor("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j dS_t/dx (x + e_j),  e_j ~ N(0, (noise * (max x - min x))^2)",
        example_params={"n_samples": 6, "seed": 3},
        docs=DocsEntry("SmoothGrad", "mean gradient over noisy copies",
                       "`n_samples` forward + backward", "Smilkov et al. 2017"))):
    """Mean gradient over noisy copies of each image.

    For image :math:`x`, :math:`\\frac{1}{n}\\sum_j \\nabla S_t(x + \\epsilon_j)` with
    :math:`\\epsilon_j \\sim N(0, \\sigma^2)`, :math:`\\sigma = noise\\,(\\max x - \\min x)`.
    Samples are streamed through the model ``batch_size`` at a time; the noise of an
    image is drawn from a stream keyed by ``seed`` and the image's content, so an image's
    result depends neither on ``batch_size`` nor on the other images in the batch.

    Parameters
    ----------
    model
    n_samples : int, default 50
    noise : float, default 0.15
        Standard deviation as a fraction of each image's value range (the paper's
        "noise level", 10-20 % recommended).
    seed : int or None
        ``None`` draws a seed, recorded in the result's params.
    batch_size, score, channel_reduce
        As in :class:`~xaikit.methods.gradients.VanillaGradients`.

    References
    ----------
    Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017, arXiv:1706.03825.
    """

    #: Whether the statistic needs the sum of squared gradients too.
    second_moment: ClassVar[bool] = False

    @staticmethod
    def statistic(mean: np.ndarray, mean_square: np.ndarray | None) -> np.ndarray:
        """The statistic of the gradients over the noisy copies, from their mean (and mean square)."""
        return mean

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        n, n_samples, shape = len(images), params["n_samples"], tuple(images.shape[1:])
        flat = images.reshape(n, -1)
        sigma = params["noise"] * (flat.max(axis=1).astype(np.float64) - flat.min(axis=1))
        if not np.all(sigma <= np.finfo(np.float32).max):
            raise InputError(f"noise={params['noise']:g} times the images' value range overflows float32 (sigma up to "
                             f"{sigma.max():.3g}); noise is a fraction of the range: use a value such as 0.15.")
        layout = ctx.layout
        streams = ImageStreams(params["seed"], images, "noise", layout)
        t_all = targets.astype(np.int32)
        zero = np.zeros((1, *shape), np.float32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            index, _ = row_plan(rows, n_samples)
            used, seg = segments(index)
            noise = _draw_rows(streams, used, seg, shape, sigma, layout)
            ones = np.ones(len(index), np.float32)
            return used, seg, zero, noise, ones, ones, t_all[index][:, None]

        sums = stream_sums(engine, images, n * n_samples, params["batch_size"], prepare, score=params["score"],
                           second_moment=self.second_moment)
        if self.second_moment:
            channels = self.statistic(sums[0, 0] / n_samples, sums[1, 0] / n_samples)
        else:
            channels = self.statistic(sums[0] / n_samples, None)
        channels = channels.astype(np.float32)
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, outputs, targets, channels=channels)


class VarGrad(SmoothGrad, schema=MethodSchema(
        "vargrad", "VarGrad",
        "Variance of the target score's gradient over n copies of the image with Gaussian noise (SmoothGrad's "
        "samples, another statistic).",
        "Adebayo et al., 'Sanity Checks for Saliency Maps', NeurIPS 2018; Adebayo et al., 'Local Explanation "
        "Methods for Deep Neural Networks Lack Sensitivity to Parameter Values', ICLR workshop 2018.",
        signed=False, cost="n_samples forward + backward passes", params=NOISE_PARAMS, needs=GRADIENTS, view="positive",
        floor_fn=input_gradients_floor("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j g_j^2 - (1/n sum_j g_j)^2,  g_j = dS_t/dx (x + e_j)",
        example_params={"n_samples": 5, "seed": 3},
        docs=DocsEntry("VarGrad", "variance of the gradient over noisy copies",
                       "`n_samples` forward + backward", "Adebayo et al. 2018"))):
    """Variance of the gradient over noisy copies of each image: SmoothGrad's samples, another statistic.

    :math:`\\frac{1}{n}\\sum_j g_j^2 - \\big(\\frac{1}{n}\\sum_j g_j\\big)^2` with
    :math:`g_j = \\nabla S_t(x + \\epsilon_j)`, per input value, then reduced over channels
    with ``channel_reduce``. This is the population variance, as Captum's
    ``NoiseTunnel(nt_type="vargrad")`` computes it; Xplique's ``VarGrad`` multiplies it
    by ``n / (n - 1)``. The noise, the samples and their streaming are SmoothGrad's
    (same ``n_samples``, ``noise``, ``seed``: the same noisy copies); non-negative by
    definition.

    Parameters
    ----------
    model
    n_samples, noise, seed, batch_size, score, channel_reduce
        As in :class:`SmoothGrad`.

    References
    ----------
    Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018; Adebayo et al.,
    "Local Explanation Methods for Deep Neural Networks Lack Sensitivity to Parameter
    Values", ICLR workshop 2018.
    """

    second_moment = True

    @staticmethod
    def statistic(mean: np.ndarray, mean_square: np.ndarray | None) -> np.ndarray:
        return np.maximum(mean_square - mean * mean, 0.0)  # rounding can leave -1e-9 where the variance is 0


class SquareGrad(SmoothGrad, schema=MethodSchema(
        "squaregrad", "SquareGrad",
        "Mean of the squared gradient of the target score over n copies of the image with Gaussian noise "
        "(SmoothGrad's samples, another statistic).",
        "Hooker et al., 'A Benchmark for Interpretability Methods in Deep Neural Networks', NeurIPS 2019.",
        signed=False, cost="n_samples forward + backward passes", params=NOISE_PARAMS, needs=GRADIENTS, view="positive",
        floor_fn=input_gradients_floor("n_samples"), warmup={"n_samples": 2},
        formula="A = 1/n sum_j g_j^2,  g_j = dS_t/dx (x + e_j)",
        example_params={"n_samples": 5, "seed": 3},
        docs=DocsEntry("SquareGrad", "mean squared gradient over noisy copies",
                       "`n_samples` forward + backward", "Hooker et al. 2019"))):
    """Mean of the squared gradient over noisy copies of each image (SmoothGrad squared).

    :math:`\\frac{1}{n}\\sum_j (\\nabla S_t(x + \\epsilon_j))^2` per input value, then reduced
    over channels with ``channel_reduce``; Captum's ``nt_type="smoothgrad_sq"`` and
    Xplique's ``SquareGrad``. The samples are SmoothGrad's (same parameters, same noisy
    copies).

    Parameters
    ----------
    model
    n_samples, noise, seed, batch_size, score, channel_reduce
        As in :class:`SmoothGrad`.

    References
    ----------
    Hooker et al., "A Benchmark for Interpretability Methods in Deep Neural Networks",
    NeurIPS 2019.
    """

    second_moment = True

    @staticmethod
    def statistic(mean: np.ndarray, mean_square: np.ndarray | None) -> np.ndarray:
        return mean_square


class IntegratedGradients(EngineExplainer, schema=MethodSchema(
        "integrated_gradients", "Integrated gradients",
        "(x - baseline) times the path integral of the gradient along the straight line from "
        "the baseline to x, approximated with `steps` points.",
        "Sundararajan, Taly & Yan, 'Axiomatic Attribution for Deep Networks', ICML 2017.",
        signed=True, cost="steps forward + backward passes",
        params=shared("steps", "baseline", "integration", "channel_reduce"), needs=GRADIENTS,
        floor_fn=input_gradients_floor("steps"), warmup={"steps": 2},
        formula="A = (x - b) * integral_0^1 dS_t/dx (b + a (x - b)) da",
        example_params={"steps": 8},
        docs=DocsEntry("Integrated gradients", "path integral of gradients from a baseline",
                       "`steps` forward + backward", "Sundararajan et al. 2017"))):
    """Integrated gradients along the straight path from a baseline.

    :math:`(x - b) \\odot \\int_0^1 \\nabla S_t(b + \\alpha (x - b))\\, d\\alpha`,
    approximated with ``steps`` points of the chosen quadrature ``integration``.
    The attributions of an image sum to :math:`S_t(x) - S_t(b)` up to the quadrature
    error, reported per image in ``extras["completeness_gap"]``.

    Parameters
    ----------
    model
    steps : int, default 50
    baseline : float, array (C,), image, "blur", {"blur": sigma}, {"mean": references} or (N, ...) array, default 0.0
        The reference input (black image by default), in the model's input units: one for
        every image, or one per image: ``"blur"`` (each image blurred channel by channel
        with a Gaussian of 5 pixels' standard deviation; ``{"blur": sigma}`` for another),
        an array of one baseline per image; ``{"mean": references}`` is the mean image of a
        reference set (:func:`xaikit.kernels.resolve_baseline`).
    integration : {"trapezoid", "left", "right", "midpoint"}, default "trapezoid"
        Quadrature rule. tf-explain's rule is none of these: it averages the gradients at
        ``k/(steps-1), k = 0..steps-1`` (both ends) without multiplying by ``x - b``.
    batch_size, score, channel_reduce
        As in :class:`~xaikit.methods.gradients.VanillaGradients`.

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
    """

    per_image_baseline = True

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        integration_points(params["steps"], params["integration"], np.zeros(0))  # validates the pair
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        shape = tuple(images.shape[1:])
        baseline = params["_baseline"]
        per_image = baseline.ndim == images.ndim  # one reference per image ("blur", an (N, ...) array)
        s_x, outputs, targets_used = self._target_scores(ctx)
        steps, n, rule = params["steps"], len(images), params["integration"]
        if per_image:
            s_b = np.concatenate([engine.class_scores(baseline[s], params["score"])
                                  for s in chunks(n, params["batch_size"])])[np.arange(n), targets_used]
        else:
            # One baseline for every image: its scores are one forward pass of one image (cheaper than
            # hashing the weights of a large model to reuse them).
            s_b = engine.class_scores(baseline[None], params["score"])[0, targets_used]
        zero, base = np.zeros((1, *shape), np.float32), (baseline if per_image else baseline[None])
        t_all = targets_used.astype(np.int32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            index, step = row_plan(rows, steps)
            used, seg = segments(index)
            alphas, weights = integration_points(steps, rule, step)
            r = base[index] if per_image else base
            return used, seg, r, zero, alphas.astype(np.float32), weights.astype(np.float32), t_all[index][:, None]

        total = stream_sums(engine, images, n * steps, params["batch_size"], prepare, score=params["score"])[0]
        if not np.isfinite(total).all():
            self._check_baseline(baseline if per_image else baseline[None], t_all, params)
        channels = ((images - baseline) * total).astype(np.float32)
        gap = channels.reshape(n, -1).sum(axis=1, dtype=np.float64) - (s_x - s_b)
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, outputs, targets_used, channels=channels,
                           extras={"completeness_gap": gap.astype(np.float32)})


    def _check_baseline(self, baseline: np.ndarray, targets: np.ndarray, params: dict[str, Any]) -> None:
        """Raise :class:`~xaikit.ModelError` naming the baseline when the gradient at the baseline itself is NaN/Inf.

        A constant baseline (all zeros) makes every token or channel equal: a
        normalisation of zero variance, an attention over identical keys, can have a
        gradient that is not defined there (maxvit_t at ``baseline=0``). Called only when
        the sums are not finite (the general message follows otherwise).
        """
        grads = self._engine().input_gradients(baseline[:1], targets[:1], params["score"])[0]
        if not np.isfinite(grads).all():
            raise ModelError(f"integrated gradients got NaN/Inf gradients: the model's gradient is not finite at the "
                             f"baseline itself (baseline={params['baseline']!r}; a constant image can make a "
                             "normalisation or an attention layer degenerate). Use another baseline, such as "
                             "baseline=0.1, a per-channel mean or a blurred image.")


class ExpectedGradients(EngineExplainer, schema=MethodSchema(
        "expected_gradients", "Expected gradients (SHAP GradientExplainer)",
        "Expectation over background samples r and t ~ U(0, 1) of grad f(r + t (x - r)) * (x - r), "
        "estimated with n_samples draws, at the input or at a layer.",
        "Erion et al., 'Improving performance of deep learning models with axiomatic attribution "
        "priors and expected gradients', Nature Machine Intelligence 2021; Lundberg & Lee, "
        "'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017.",
        signed=True, cost="n_samples forward + backward passes (above the layer)",
        params=(*shared("background", "n_samples", "local_smoothing", "seed", n_samples=200),
                Param("layer", "layer", None, "Explain at this layer's output instead of the input.",
                      nullable="the input"),
                *shared("completeness", "channel_reduce")),
        needs=GRADIENTS, layer="optional", floor_fn=expected_gradients_floor, warmup={"n_samples": 2},
        formula="A = E_{r, u} [ dS_t/dx (r + u (x~ - r)) * (x~ - r) ],  x~ = x + N(0, local_smoothing^2)",
        example_params={"background": ExampleImages(), "n_samples": 12, "seed": 4},
        docs=DocsEntry("Expected gradients", "integrated gradients averaged over a background (SHAP)",
                       "`n_samples` forward + backward (above the layer)", "Erion et al. 2021"))):
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

    The samples of an image are drawn from streams keyed by ``seed`` and the image's
    content (so they do not depend on the batch or ``batch_size``) and are the same for
    every ranked output (as SHAP re-seeds per output), so :meth:`explain_ranked` shares
    the forward passes between outputs.

    Parameters
    ----------
    model
    background : array
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
        around the noised inputs, so the gap also contains the smoothing's effect). At the
        input this costs one forward pass over the background (at a layer it comes free
        with mapping the background), made once and reused by later calls while the
        background and the model's weights are unchanged (a hash of the weights is read
        at every call, so training or randomising the model between calls is seen).

    References
    ----------
    Erion et al., "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence 3, 2021;
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017.
    """

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if params["layer"] is not None:
            self._engine().check_head(params["layer"])  # fail early if the model cannot be split there
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        return self._attribute_ranked(ctx, None if ctx.targets is None else ctx.targets[:, None])[0]

    def _probe(self, x: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        engine, bs = self._engine(), params["batch_size"]
        parts = [engine.probe(x[i:i + bs], params["score"], params["layer"]) for i in range(0, len(x), bs)]
        features = None if params["layer"] is None else np.concatenate([p[2] for p in parts])
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), features

    def _attribute_ranked(self, ctx: CallContext, ranked: np.ndarray | None) -> list[Attribution]:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        batch_size, layer = params["batch_size"], params["layer"]
        outputs, scores_x, features_x = self._probe(images, params)
        if ranked is None:  # the predicted classes (ctx.targets is None)
            ranked = ctx.targets_for(outputs)[:, None]
        background = params["_background"]
        # What the background gives (its scores; its activations at the layer) depends only
        # on the background and the weights: computed once, reused while neither changes.
        key = ("expected_gradients_background", params["score"], layer, repr(params["background"]))
        if layer is None:
            x_space, bg_space = images, background
            scores_bg = (engine.memo(key, lambda: self._probe(background, params)[1])
                         if params["completeness"] else None)
        else:  # the background is mapped to the layer anyway: its scores come with it
            x_space = features_x
            scores_bg, bg_space = engine.memo(key, lambda: self._probe(background, params)[1:])
        shape = tuple(x_space.shape[1:])
        n, k, n_samples = len(images), ranked.shape[1], params["n_samples"]
        layout = ctx.layout
        references = ImageStreams(params["seed"], images, "references", layout)
        positions = ImageStreams(params["seed"], images, "positions", layout)
        smoothing_noise = ImageStreams(params["seed"], images, "smoothing", layout)
        noise_layout = layout if layer is None else "NHWC"  # layer activations cross the engine channels-last
        smoothing = params["local_smoothing"]
        t_all = ranked.astype(np.int32)
        zero = np.zeros((1, *shape), np.float32)

        def prepare(rows: slice) -> tuple[np.ndarray, ...]:
            index, _ = row_plan(rows, n_samples)
            used, seg = segments(index)
            starts = row_groups(seg, len(used))
            picks = np.empty(len(index), np.int64)
            where = np.empty(len(index), np.float32)
            for j, image in enumerate(used):  # rows of one image are contiguous: its next draws
                count = int(starts[j + 1] - starts[j])
                picks[starts[j]:starts[j + 1]] = references.integers(int(image), count, len(bg_space))
                where[starts[j]:starts[j + 1]] = positions.uniform(int(image), count)
            noise = (_draw_rows(smoothing_noise, used, seg, shape, smoothing, noise_layout) if smoothing > 0
                     else zero)
            return used, seg, bg_space[picks], noise, where, np.ones(len(index), np.float32), t_all[index]

        totals = stream_sums(engine, x_space, n * n_samples, batch_size, prepare, score=params["score"], k=k,
                             layer=layer, times_delta=True)
        s_x = np.take_along_axis(scores_x, ranked, axis=1)
        s_bg = None if scores_bg is None else scores_bg.mean(axis=0)[ranked]
        axis = -1 if layer is not None else ctx.channel_axis
        results = []
        for r in range(k):
            channels = (totals[r] / n_samples).astype(np.float32)
            extras = {}
            if s_bg is not None:
                gap = channels.reshape(n, -1).sum(axis=1, dtype=np.float64) - (s_x[:, r] - s_bg[:, r])
                extras["completeness_gap"] = gap.astype(np.float32)
            maps = reduce_channels(channels, params["channel_reduce"], axis=axis)
            results.append(Attribution(maps, outputs, ranked[:, r].astype(np.int64), at_layer=layer is not None,
                                       channels=channels, extras=extras))
        return results
