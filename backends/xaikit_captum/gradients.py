"""Captum's gradient attributions: Saliency, InputXGradient, IntegratedGradients, NoiseTunnel, GradientShap,
GuidedBackprop and Deconvolution."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from captum.attr import (
    Deconvolution,
    GradientShap,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from xaikit_torch.adapters import to_tensor

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.kernels import chunks, reduce_channels

from ._base import SEED, CaptumExplainer

__all__ = ["CaptumSaliency", "CaptumInputXGradient", "CaptumIntegratedGradients", "CaptumSmoothGrad", "CaptumVarGrad",
           "CaptumSquareGrad", "CaptumGradientShap", "CaptumGuidedBackprop", "CaptumDeconvolution"]

#: Saliency's ``abs`` (Captum's default True): ``|dS/dx|`` per channel.
ABS = Param("abs", "bool", True, "Captum Saliency's abs: return |gradient| per channel (Captum's default); False "
            "returns the signed gradient, the definition.")


class _PixelAttribution(CaptumExplainer):
    """A Captum class taking ``(inputs, target)`` with one forward and one backward pass per call."""

    def _attribution(self, forward: torch.nn.Module) -> Any:
        raise NotImplementedError

    def _kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        algorithm = self._attribution(self._forward(images, params["score"]))
        kwargs = self._kwargs(params)
        channels = self._chunked(images, targets, params["batch_size"],
                                 lambda x, t: algorithm.attribute(x, target=t, **kwargs))
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels)


class CaptumSaliency(_PixelAttribution):
    """Captum's ``Saliency``: the gradient of the target score, **absolute** by default.

    ``Saliency(forward).attribute(x, target=t, abs=True)`` returns :math:`|\\partial S_t / \\partial x|` per
    channel: Captum's default drops the sign. ``abs=False`` returns the signed gradient,
    which is exactly the native ``vanilla_gradients`` (same score, same ``channel_reduce``;
    tested). ``channel_attributions`` holds Captum's per-channel values; the map is their
    ``channel_reduce`` (``"sum"``: with ``abs=True``, the sum of ``|g|`` over channels).

    Parameters
    ----------
    model : torch.nn.Module
    abs : bool, default True
        Captum's ``abs``.
    batch_size : int, default 32
        Images per Captum call.
    score : {None, "logit", "probability", "output"}
        ``None``: what Captum explains when handed the model, its output as it is.
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    """

    method = "vanilla_gradients"
    param_changes = {"abs": ABS}
    aligned_params = {"abs": False}

    def _attribution(self, forward: torch.nn.Module) -> Any:
        return Saliency(forward)

    def _kwargs(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"abs": params["abs"]}


class CaptumInputXGradient(_PixelAttribution):
    """Captum's ``InputXGradient``: :math:`x \\odot \\partial S_t / \\partial x`, the native ``gradient_x_input``.

    Parameters: ``model``, ``batch_size``, ``score``, ``channel_reduce``, as for :class:`CaptumSaliency`.
    """

    method = "gradient_x_input"

    def _attribution(self, forward: torch.nn.Module) -> Any:
        return InputXGradient(forward)


class CaptumGuidedBackprop(_PixelAttribution):
    """Captum's ``GuidedBackprop``: backward hooks on every ``nn.ReLU`` module pass back positive gradients only
    (at positive inputs, through the ReLU's own gradient). Functional ``F.relu`` calls in a ``forward`` are not
    reached (the native backend has the same limit). Equal to the native ``guided_backprop`` (tested).

    Parameters: ``model``, ``batch_size``, ``score``, ``channel_reduce``, as for :class:`CaptumSaliency`.
    """

    method = "guided_backprop"

    def _attribution(self, forward: torch.nn.Module) -> Any:
        return GuidedBackprop(forward)


class CaptumDeconvolution(_PixelAttribution):
    """Captum's ``Deconvolution``: every ``nn.ReLU`` module passes back the ReLU of the gradient; equal to the
    native ``deconvnet`` (tested).

    Parameters: ``model``, ``batch_size``, ``score``, ``channel_reduce``, as for :class:`CaptumSaliency`.
    """

    method = "deconvnet"

    def _attribution(self, forward: torch.nn.Module) -> Any:
        return Deconvolution(forward)


#: Captum's quadrature rules, under Captum's names (``method=`` of ``IntegratedGradients.attribute``).
CAPTUM_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


class CaptumIntegratedGradients(CaptumExplainer):
    """Captum's ``IntegratedGradients``: :math:`(x - b) \\odot \\sum_k w_k \\nabla S_t(b + \\alpha_k (x - b))`.

    Captum's default rule is **Gauss-Legendre** (``integration="gausslegendre"``: the
    ``steps`` Legendre nodes mapped to (0, 1), both ends excluded). Captum's Riemann rules
    relate to the native ones as follows (tested): ``riemann_left``, ``riemann_right``,
    ``riemann_middle`` are the native ``left``, ``right`` and ``midpoint``; Captum's
    ``riemann_trapezoid`` puts ``steps`` points on ``k/(steps-1)`` but weights them
    ``1/steps`` (halved at both ends), so its weights sum to ``(steps-1)/steps``:
    ``riemann_trapezoid = (steps - 1)/steps x`` native ``trapezoid``. The names stay
    Captum's, since the trapezoids differ.

    Batching: images go to Captum ``batch_size`` at a time with
    ``internal_batch_size=batch_size``, so every forward pass holds at most
    ``batch_size`` rows (Captum's own default, ``internal_batch_size=None``, sends all
    ``steps x N`` path points at once). ``extras["completeness_gap"]`` is Captum's
    convergence delta, :math:`\\sum A - (S_t(x) - S_t(b))` per image.

    Parameters
    ----------
    model : torch.nn.Module
    steps : int, default 50
        Captum's ``n_steps``.
    baseline : float, array (C,) or (C, H, W), "blur", {"blur": sigma}, {"mean": references} or (N, C, H, W)
        Captum's ``baselines``, resolved as the native method resolves them (one reference per image for
        ``"blur"`` and an ``(N, C, H, W)`` array).
    integration : {"gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"}
        Captum's ``method`` (default ``"gausslegendre"``).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    """

    method = "integrated_gradients"
    per_image_baseline = True
    param_changes = {
        "integration": Param("integration", "choice", "gausslegendre", "Captum's quadrature rule (its `method`): "
                             "riemann_left/right/middle are the native left/right/midpoint; riemann_trapezoid is "
                             "(steps-1)/steps x the native trapezoid.", choices=CAPTUM_RULES,
                             hint="Captum's rules keep Captum's names; riemann_left, riemann_right and riemann_middle "
                                  "are the native 'left', 'right' and 'midpoint'."),
    }

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if params["integration"].startswith("riemann") and params["steps"] < 2:  # Captum asserts it deep inside
            raise InputError(f"Captum's integration={params['integration']!r} needs steps >= 2; use steps >= 2 or "
                             "integration='gausslegendre'")
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        ig = IntegratedGradients(self._forward(images, params["score"]))
        base = params["_baseline"]
        per_image = base.ndim == images.ndim  # one reference per image ("blur", an (N, ...) array)
        shared = None if per_image else to_tensor(base[None], self.model)
        rows = iter(chunks(len(images), params["batch_size"]))  # the chunks _chunked calls, in its order
        deltas = []

        def call(x: torch.Tensor, t: list[int]) -> torch.Tensor:
            s = next(rows)
            baseline = to_tensor(base[s], self.model) if per_image else shared
            attr, delta = ig.attribute(x, baselines=baseline, target=t, n_steps=params["steps"],
                                       method=params["integration"], internal_batch_size=params["batch_size"],
                                       return_convergence_delta=True)
            deltas.append(delta.detach().cpu().double().numpy())
            return attr

        channels = self._chunked(images, targets, params["batch_size"], call)
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels, extras={"completeness_gap": np.concatenate(deltas).astype(np.float32)})


_NOISE_STD = Param("noise_std", "float", 1.0, "Standard deviation of Captum's Gaussian noise in absolute input units "
                   "(NoiseTunnel's stdevs; the native `noise` is a fraction of the range).", low=0.0)
#: The native ``noise`` (a fraction of each image's value range): the adapter calls Captum once per image, so it can
#: give Captum's ``stdevs`` that image's ``noise * (max - min)``.
_NOISE = replace(SHARED["noise"], default=None, nullable="Captum's absolute noise_std", doc=(
    "Standard deviation of the Gaussian noise as a fraction of each image's value range (max - min), the native "
    "meaning; given, it sets Captum's stdevs image by image and replaces noise_std."))
_NT_BATCH = Param("nt_samples_batch_size", "int", None, "NoiseTunnel's nt_samples_batch_size: noisy samples of an "
                  "image per Captum pass.", low=1, nullable="Captum's default: all n_samples in one batch")


class _NoiseTunnel(CaptumExplainer):
    """``NoiseTunnel(Saliency(forward))`` with one ``nt_type``; see :class:`CaptumSmoothGrad`."""

    nt_type: str = "smoothgrad"
    param_changes = {
        "n_samples": SHARED["n_samples"].with_default(5, "Captum's nt_samples: noisy copies per image."),
        "noise": _NOISE,
        "noise_std": _NOISE_STD,
        "nt_samples_batch_size": _NT_BATCH,
        "abs": ABS,
        "seed": SEED,
    }
    aligned_params = {"abs": False}

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if params["noise"] is None:
            params["_stdevs"] = np.full(len(images), float(params["noise_std"]))
        else:  # the native rule: a fraction of each image's value range
            flat = images.reshape(len(images), -1).astype(np.float64)
            params["_stdevs"] = params["noise"] * (flat.max(axis=1) - flat.min(axis=1))
            params["noise_std"] = None  # not what ran: the per-image stdevs come from noise
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        tunnel = NoiseTunnel(Saliency(self._forward(images, params["score"])))
        stdevs = params["_stdevs"]
        channels = self._per_image(
            images, targets, params["seed"],
            lambda x, t, i: tunnel.attribute(x, nt_type=self.nt_type, nt_samples=params["n_samples"],
                                             nt_samples_batch_size=params["nt_samples_batch_size"],
                                             stdevs=float(stdevs[i]), target=t, abs=params["abs"]))
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels)


class CaptumSmoothGrad(_NoiseTunnel):
    """Captum's ``NoiseTunnel(Saliency(model))`` with ``nt_type="smoothgrad"``: the mean over ``n_samples`` noisy
    copies of Saliency's attribution, which is :math:`|\\nabla S_t|` by default (``abs=True``).

    Noise: :math:`N(0, \\mathrm{noise\\_std}^2)` in **absolute** input units (Captum's
    ``stdevs``, default 1.0), drawn by ``torch.normal`` from torch's global generator.
    The adapter calls Captum once per image with that generator seeded from ``seed`` and
    the image's content (inside ``torch.random.fork_rng``: the caller's stream is
    untouched), so a result does not depend on the batch; the same per-image seed given
    to ``torch.manual_seed`` before calling Captum on that image alone reproduces it.

    Memory: **NoiseTunnel stacks every sample of a call in one batch** (``n_samples``
    rows per image) unless ``nt_samples_batch_size`` is set; then it sends that many
    noisy copies at a time (and draws the noise batch by batch, so the values differ
    from one batch of all samples). ``batch_size`` does not bound it.

    Relation to the native ``smoothgrad``: with ``abs=False``, the mean gradient over
    noisy copies, the native definition; the native noise is ``noise`` times each image's
    value range and comes from xaikit's streams, so the two agree in expectation, and
    exactly on the same noisy images (tested on a linear model, where every sample has the
    same gradient).

    Parameters
    ----------
    model : torch.nn.Module
    n_samples : int, default 5
        Captum's ``nt_samples``.
    noise_std : float, default 1.0
        Captum's ``stdevs``.
    noise : float or None, default None
        The native ``noise``: given, each image's ``stdevs`` is ``noise * (max - min)`` of that
        image (the adapter calls Captum image by image), and ``noise_std`` is unused.
    nt_samples_batch_size : int or None, default None
        Captum's ``nt_samples_batch_size``.
    abs : bool, default True
        Saliency's ``abs``.
    seed : int or None
    batch_size : int, default 32
        Used for the model's outputs only (see Memory).
    score : {None, "logit", "probability", "output"}
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    """

    method = "smoothgrad"
    nt_type = "smoothgrad"


class CaptumSquareGrad(_NoiseTunnel):
    """Captum's ``NoiseTunnel(Saliency(model), nt_type="smoothgrad_sq")``: the mean of the squared Saliency
    attribution over noisy copies, :math:`\\frac{1}{n}\\sum_j g_j^2` (``abs`` changes nothing here). See
    :class:`CaptumSmoothGrad` for the noise, seeds, memory and parameters."""

    method = "squaregrad"
    nt_type = "smoothgrad_sq"


class CaptumVarGrad(_NoiseTunnel):
    """Captum's ``NoiseTunnel(Saliency(model), nt_type="vargrad")``: the variance over noisy copies of Saliency's
    attribution, :math:`\\frac{1}{n}\\sum_j a_j^2 - (\\frac{1}{n}\\sum_j a_j)^2`.

    With Captum's default ``abs=True`` the attribution is :math:`a_j = |g_j|`, so this is
    the variance of the gradient's **magnitude**, not of the gradient (the native
    ``vargrad``): ``abs=False`` gives the latter. See :class:`CaptumSmoothGrad` for the
    noise, seeds, memory and parameters."""

    method = "vargrad"
    nt_type = "vargrad"


class CaptumGradientShap(CaptumExplainer):
    """Captum's ``GradientShap``: expected gradients with noise on the input.

    For each of ``n_samples`` draws Captum adds :math:`N(0, \\mathrm{stdevs}^2)` noise to
    the image (``NoiseTunnel``), picks a baseline :math:`r` uniformly from ``background``
    (``np.random.choice``), a coefficient :math:`t \\sim U(0, 1)` (``np.random.uniform``)
    and returns the mean of :math:`\\nabla S_t(r + t(\\tilde x - r)) \\odot (\\tilde x - r)`:
    the expected-gradients estimator of shap's ``GradientExplainer`` and of the native
    ``expected_gradients``, with Captum's ``stdevs`` as ``local_smoothing`` (the same
    meaning: noise on the explained input, in its units). Only the draws differ (Captum's
    global NumPy and torch generators, seeded per image by the adapter and restored
    afterwards); given the same draws the values are equal (tested on a linear model).
    Captum's defaults: ``n_samples=5``, ``stdevs=0.0``.

    Memory: Captum evaluates all ``n_samples`` draws of an image in one batch (its
    NoiseTunnel has no batch size here). ``extras["completeness_gap"]`` is
    :math:`\\sum A - (S_t(x) - \\overline{S_t(\\mathrm{background})})` per image, as native
    and shap report it.

    Parameters
    ----------
    model : torch.nn.Module
    background : array (B, C, H, W)
        Captum's ``baselines`` (the distribution baselines are drawn from).
    n_samples : int, default 5
    local_smoothing : float, default 0.0
        Captum's ``stdevs``.
    seed : int or None
    batch_size : int, default 32
        Used for the model's outputs and the background's scores.
    score : {None, "logit", "probability", "output"}
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
    """

    method = "expected_gradients"
    param_changes = {
        "n_samples": SHARED["n_samples"].with_default(5, "Captum's n_samples: draws per image, all in one batch."),
        "local_smoothing": SHARED["local_smoothing"].with_default(0.0, "Captum's stdevs: standard deviation of the "
                                                                       "noise added to the input, in its units."),
        "layer": None,
        "completeness": None,  # always reported
        "seed": SEED,
    }

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        forward = self._forward(images, params["score"])
        background = params["_background"]
        explainer = GradientShap(forward)
        baselines = to_tensor(background, self.model)
        channels = self._per_image(
            images, targets, params["seed"],
            lambda x, t, i: explainer.attribute(x, baselines=baselines, n_samples=params["n_samples"],
                                                stdevs=float(params["local_smoothing"]), target=t))
        bg_scores = self._class_scores(background, params["score"], params["batch_size"])
        x_scores = self._class_scores(images, params["score"], params["batch_size"])
        n = len(images)
        expected = x_scores[np.arange(n), targets] - bg_scores.astype(np.float64).mean(axis=0)[targets]
        gap = channels.reshape(n, -1).astype(np.float64).sum(axis=1) - expected
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels, extras={"completeness_gap": gap.astype(np.float32)})
