"""Captum's perturbation attributions: Occlusion, KernelShap and Lime."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from captum.attr import KernelShap, Lime, Occlusion
from xaikit_torch.adapters import to_tensor

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.kernels import image_segments, to_layout
from xaikit.methods.occlusion import resolve_windows

from ._base import SEED, CaptumExplainer

__all__ = ["CaptumOcclusion", "CaptumKernelShap", "CaptumLime"]


class CaptumOcclusion(CaptumExplainer):
    """Captum's ``Occlusion``: each pixel gets the mean drop :math:`S_t(x) - S_t(x_{occluded})` of the windows
    covering it.

    ``Occlusion(forward).attribute(x, sliding_window_shapes=(C, ph, pw),
    strides=(C, sh, sw), baselines=baseline, target=t)``: the windows span every channel
    and sit at ``0, stride, 2 stride, ...`` with the last one clipped at the border --
    the native windows (:func:`xaikit.kernels.patch_windows`), so with the same
    ``patch_size``, ``stride``, ``baseline`` and score both give the same map (tested).
    Captum returns the value at every channel of every pixel (the same value, a window
    spans the channels): the map is that value, ``channel_attributions`` Captum's array.
    Captum has no default window and strides of 1 by default; the adapter keeps xaikit's
    defaults (8 x 8 patches, stride = patch). Captum sends ``perturbations_per_eval``
    occluded copies of each image per pass (its default 1); the adapter sets it so that a
    pass holds about ``batch_size`` rows.

    Parameters
    ----------
    model : torch.nn.Module
    patch_size : int or (int, int), default 8
    stride : int, (int, int) or None
        ``None`` = ``patch_size``.
    baseline : float, array (C,) or (C, H, W), default 0.0
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "occlusion"

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        return resolve_windows(super()._resolve_params(images, spec), images, spec)

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        occlusion = Occlusion(self._forward(images, params["score"]))
        c = images.shape[1]
        window, stride = (c, *params["patch_size"]), (c, *params["stride"])
        baseline = to_tensor(params["_baseline"][None], self.model)
        batch = params["batch_size"]
        channels = self._chunked(
            images, targets, batch,
            lambda x, t: occlusion.attribute(x, sliding_window_shapes=window, strides=stride, baselines=baseline,
                                             target=t, perturbations_per_eval=max(1, batch // len(x))))
        return Attribution(channels[:, 0], outputs, targets, channels=channels)


class _Surrogate(CaptumExplainer):
    """A Captum surrogate (KernelShap, Lime) on xaikit's segments, one image per call."""

    def _algorithm(self, forward: torch.nn.Module, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _check_segments(self, labels: list[np.ndarray]) -> None:
        """Refuse segmentations the library cannot fit (before it fails with its own error)."""

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        algorithm = self._algorithm(self._forward(images, params["score"]), params)
        labels = image_segments(to_layout(images, "NCHW", "NHWC"), params["segmentation"], params["n_segments"],
                                params["compactness"])
        self._check_segments(labels)
        baseline = to_tensor(params["_baseline"][None], self.model)

        def call(x: torch.Tensor, t: int, i: int) -> torch.Tensor:
            mask = torch.from_numpy(np.asarray(labels[i], np.int64))[None, None].to(x.device)
            return algorithm.attribute(x, baselines=baseline, target=t, feature_mask=mask,
                                       n_samples=params["n_samples"], perturbations_per_eval=params["batch_size"])

        channels = self._per_image(images, targets, params["seed"], call)
        return Attribution(channels[:, 0], outputs, targets, channels=channels,
                           extras={"segments": np.stack(labels)})


class CaptumKernelShap(_Surrogate):
    """Captum's ``KernelShap`` on xaikit's segments (the same SLIC superpixels or grid as the native
    ``kernel_shap``, given to Captum as its ``feature_mask``).

    Captum draws ``n_samples`` coalitions -- first the whole image and the empty one, then
    sizes from the Shapley kernel's distribution and uniform subsets (torch's global
    generator, seeded per image by the adapter) -- and fits an ordinary linear regression
    with weight 1 per sample and 1e6 on the two end points (a soft version of the native
    exact constraint). The native ``kernel_shap`` evaluates every coalition when they fit
    in ``n_samples`` and draws paired coalitions otherwise, with the exact constraint.
    Both estimate the segments' Shapley values, so on an additive model (where any
    sample of coalitions determines them) both give the sum of each segment's
    contribution (tested). Captum's default ``n_samples=25``; ``perturbations_per_eval``
    is ``batch_size``.

    Parameters
    ----------
    model : torch.nn.Module
    n_samples : int, default 25
    segmentation : {"slic", "grid"}, default "slic"
    n_segments : int, default 50
    compactness : float, default 1.0
    baseline : float, array (C,) or (C, H, W), default 0.0
        Captum's ``baselines``: what removed segments become.
    seed : int or None
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "kernel_shap"
    param_changes = {"n_samples": SHARED["n_samples"].with_default(25, "Captum's n_samples: coalitions per image, "
                                                                       "the whole image and the empty one included."),
                     "seed": SEED}

    def _algorithm(self, forward: torch.nn.Module, params: dict[str, Any]) -> Any:
        return KernelShap(forward)

    def _check_segments(self, labels: list[np.ndarray]) -> None:
        """Captum draws coalition sizes from the Shapley kernel over 1 .. M - 1 features: M = 1 gives NaN weights."""
        for i, image_labels in enumerate(labels):
            if len(np.unique(image_labels)) < 2:
                raise InputError(f"Captum's KernelShap needs at least 2 segments per image (it draws coalition sizes "
                                 f"between 1 and M - 1); image {i} has 1 (an image this small, or n_segments=1). Use "
                                 "more segments, larger images, or the native kernel_shap (backend='torch').")


class CaptumLime(_Surrogate):
    """Captum's ``Lime`` on xaikit's segments: a **Lasso** (``alpha=0.01``) of the scores on random coalitions,
    weighted by an exponential kernel on the cosine distance between the perturbed and the original **images**.

    Captum's defaults differ from ``lime_image`` and from the native ``lime`` in three
    ways, kept here: the surrogate is ``SkLearnLasso(alpha=0.01)`` (``lasso_alpha``; 0
    fits an ordinary linear regression, ``SkLearnLinearRegression``), not a ridge; the
    kernel :math:`\\exp(-d^2 / (2 w^2))` takes the cosine distance :math:`d` between the
    flattened images (pixels), not between the coalition vectors
    (``input_kernel_width`` :math:`w`, default 1.0; a different quantity from the native
    ``kernel_width``, hence the name); coalitions keep each segment with probability 1/2
    (``torch.bernoulli``, seeded per image) without the whole image as first sample.
    Captum's default ``n_samples=50``. On an additive model an unpenalised fit gives each
    segment's contribution, as the native ``lime`` with ``ridge_alpha=0`` (tested).

    Parameters
    ----------
    model : torch.nn.Module
    n_samples : int, default 50
    segmentation, n_segments, compactness, baseline, seed
        As for :class:`CaptumKernelShap`.
    input_kernel_width : float, default 1.0
    lasso_alpha : float, default 0.01
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "lime"
    param_changes = {
        "n_samples": SHARED["n_samples"].with_default(50, "Captum's n_samples: coalitions per image."),
        "kernel_width": None,
        "ridge_alpha": None,
        "input_kernel_width": Param("input_kernel_width", "float", 1.0, "Width w of Captum's kernel "
                                    "exp(-d^2 / (2 w^2)) on the cosine distance d between the perturbed and the "
                                    "original image.",
                                    low=0.0, low_open=True),
        "lasso_alpha": Param("lasso_alpha", "float", 0.01, "Penalty of Captum's SkLearnLasso surrogate; 0 fits an "
                             "ordinary linear regression (SkLearnLinearRegression).", low=0.0),
        "seed": SEED,
    }

    def _attribute(self, ctx: CallContext) -> Attribution:
        params = ctx.params
        try:
            return super()._attribute(ctx)
        except ValueError as exc:  # scikit-learn refuses a fit whose sample weights are all 0
            if "non-zero" not in str(exc):
                raise
            raise InputError(f"Captum's Lime gave every coalition drawn a similarity weight of 0: input_kernel_width="
                             f"{params['input_kernel_width']:g} is too narrow for their cosine distances (or "
                             "n_samples too few); increase input_kernel_width or n_samples") from None

    def _algorithm(self, forward: torch.nn.Module, params: dict[str, Any]) -> Any:
        surrogate, similarity = _lime_surrogate_and_kernel(params["lasso_alpha"], params["input_kernel_width"])
        return Lime(forward, interpretable_model=surrogate, similarity_func=similarity)


def _lime_surrogate_and_kernel(lasso_alpha: float, kernel_width: float) -> tuple[Any, Any]:
    """Captum's Lime surrogate (``SkLearnLasso``, or ``SkLearnLinearRegression`` for ``lasso_alpha`` 0) and its
    exponential cosine similarity kernel of width ``kernel_width``.

    Captum exports neither from a public module (its own Lime tutorial imports them from
    ``captum._utils`` and ``captum.attr._core``): this function is the one place xaikit
    reaches into another library's private modules, and the private-names test
    (tests/test_private_names.py) exempts exactly these two imports.
    """
    from captum._utils.models.linear_model import SkLearnLasso, SkLearnLinearRegression
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    surrogate = SkLearnLasso(alpha=lasso_alpha) if lasso_alpha > 0 else SkLearnLinearRegression()
    return surrogate, get_exp_kernel_similarity_function("cosine", kernel_width)
