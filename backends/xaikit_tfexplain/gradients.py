"""Input-gradient methods through tf-explain: vanilla gradients, gradients x inputs, SmoothGrad, IG."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from tf_explain.core.gradients_inputs import GradientsInputs
from tf_explain.core.integrated_gradients import IntegratedGradients
from tf_explain.core.smoothgrad import SmoothGrad
from tf_explain.core.vanilla_gradients import ACTIVATION_LAYER_CLASSES, VanillaGradients

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError
from xaikit.explainer import Attribution, CallContext, ModelSpec

from ._base import ABS_SUM, TFXExplainer, by_target, chunks, probability_name, reduce_channels, score_param

__all__ = ["TFXVanillaGradients", "TFXGradientXInput", "TFXSmoothGrad", "TFXIntegratedGradients",
           "tfexplain_noisy_images"]


class TFXVanillaGradients(TFXExplainer):
    """tf-explain's vanilla gradients (``VanillaGradients.compute_gradients``), raw and per image.

    ``compute_gradients(images, score_model, class_index)`` returns
    :math:`\\partial\\, \\mathrm{score\\_model}(x)[:, c] / \\partial x` per channel. Which
    output that is comes from ``VanillaGradients.get_score_model``: if the model's last
    (top-level) layer is an activation *layer* (``Activation``, ``Softmax``, ``ReLU``...),
    tf-explain differentiates that layer's input -- the logit; otherwise (e.g. a
    ``Dense(..., activation="softmax")`` head, the usual case) it warns and
    differentiates the model output -- the **probability**. ``score=None`` applies the
    same rule (it is recorded in the result); ``score="logit"`` or ``"probability"``
    forces one (xaikit builds the score graph; tf-explain's function is unchanged).
    tf-explain's display takes ``|g|`` summed over channels, then standardises the
    *batch* and casts to uint8; here ``channel_reduce="abs_sum"`` (default) stops before
    that, per image, and ``channel_attributions`` keeps the signed per-channel gradient.

    Differences from the native ``TFVanillaGradients``: native defaults to the logit and
    to ``channel_reduce="sum"``; pass the same ``score`` and ``channel_reduce`` to both
    to agree. Images go through the model ``batch_size`` at a time, grouped by target
    (one ``class_index`` per tf-explain call).

    Parameters
    ----------
    model : keras.Model
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    channel_reduce : {"abs_sum", "sum", "max_abs"}, default "abs_sum"
    """

    method = "vanilla_gradients"
    param_changes = {"channel_reduce": ABS_SUM}
    _compute = staticmethod(VanillaGradients.compute_gradients)

    def _default_score(self, spec: ModelSpec) -> str:
        """``VanillaGradients.get_score_model``'s choice (computed without calling it: it fails on Keras 3
        Sequential models that were never called symbolically, whose last layer has no ``.input``)."""
        view = self._view()
        top_level = [layer for layer in view.model.layers if not isinstance(layer, keras.layers.InputLayer)]
        last = top_level[-1] if top_level else None
        if (isinstance(last, ACTIVATION_LAYER_CLASSES) and last is view.final_layer and view.final_mode == "input"
                and spec.output_activation in ("softmax", "sigmoid", "linear")):
            return "logit"
        return probability_name(spec)

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        graph = self._graph(params["score"])
        outputs, targets = ctx.outputs_and_targets()
        channels = np.zeros(images.shape, np.float32)
        for c, indices in by_target(targets):
            for s in chunks(len(indices), params["batch_size"]):
                rows = indices[s]
                channels[rows] = np.asarray(type(self)._compute(images[rows], graph.model, c), np.float32)
        return Attribution(reduce_channels(channels, params["channel_reduce"]), outputs, targets, channels=channels)


class TFXGradientXInput(TFXVanillaGradients):
    """tf-explain's ``GradientsInputs.compute_gradients``: ``x * d score / d x``, raw and per image.

    Same score rule (``get_score_model``), reduction and batching as
    :class:`TFXVanillaGradients`; compare with native ``gradient_x_input`` using the same
    ``score`` and ``channel_reduce``.
    """

    method = "gradient_x_input"
    _compute = staticmethod(GradientsInputs.compute_gradients)


def tfexplain_noisy_images(images: np.ndarray, n_samples: int, noise: float, rng: np.random.RandomState) -> np.ndarray:
    """``SmoothGrad.generate_noisy_images`` with a private generator instead of NumPy's global one.

    tf-explain draws ``np.random.normal(0, noise, repeated.shape).astype(float32)`` for
    ``np.repeat(images, n_samples, axis=0)``; this is that line with ``rng.normal``. Drawing
    from ``RandomState(seed)`` chunk after chunk, in image order, gives bit-for-bit the
    noise tf-explain draws for the whole batch after ``np.random.seed(seed)`` (the legacy
    generator's stream does not depend on how the draws are split).
    """
    repeated = np.repeat(images, n_samples, axis=0)
    return repeated + rng.normal(0, noise, repeated.shape).astype(np.float32)


class TFXSmoothGrad(TFXExplainer):
    """tf-explain's SmoothGrad (``SmoothGrad.get_averaged_gradients``), raw and per image.

    tf-explain averages over ``n_samples`` noisy copies the gradient of the
    **categorical cross-entropy loss** ``CE(one_hot(c), model(x + eps))``, not of a class
    score. Under Keras 3 the softmax output carries its logits, so the loss is
    ``softmax_cross_entropy_with_logits``: exactly :math:`-\\log p_c`, whose gradient is
    :math:`-\\nabla p_c / p_c` -- it points *away* from the class and is large where
    the class is unlikely. (For a single-sigmoid model xaikit hands tf-explain the
    two-column output ``[1 - p, p]``; the loss is then computed on clipped probabilities,
    ``-log(clip(p_c, 1e-7, 1 - 1e-7))``.) The score is recorded as
    ``"cross_entropy_loss"``; a model whose output is not a probability is refused.

    Noise: :math:`\\epsilon \\sim N(0, \\mathrm{noise}^2)` in absolute input units (native
    SmoothGrad scales ``noise`` by each image's value range). tf-explain draws it from
    NumPy's *global* generator (``np.random.normal``); xaikit draws the same values from
    a private ``np.random.RandomState(seed)`` (see :func:`tfexplain_noisy_images`), so
    ``seed`` reproduces results, equals ``np.random.seed(seed)`` followed by tf-explain
    on the whole batch, and no global RNG state is read or changed.

    Memory: ``get_averaged_gradients`` reshapes its batch to ``(-1, n_samples, ...)``
    and averages, so all ``n_samples`` copies of an image must go through the model in
    one call -- tf-explain's own behaviour, kept: a call holds
    ``max(1, batch_size // n_samples)`` images, i.e. ``n_samples`` rows per image, which
    exceeds ``batch_size`` when ``n_samples > batch_size``. (tf-explain's ``explain``
    stacks *every* image's copies in one call.)

    Differences from the native ``TFSmoothGrad`` and how to agree: native averages the
    gradient of a score (logit or probability) with range-relative noise; the two
    agree sample by sample through :math:`\\nabla CE = -\\nabla p_c / p_c` (native
    ``score="probability"`` gradients at the same noisy images, divided by ``-p_c``).

    Parameters
    ----------
    model : keras.Model
    n_samples : int, default 5
        tf-explain's ``num_samples`` (its default).
    noise_std : float, default 1.0
        Standard deviation of the noise **in input units** (tf-explain's ``noise``, default
        1.0). Not the native ``noise``, which is a fraction of each image's value range:
        one name, one meaning.
    seed : int in [0, 2**32) or None
        ``None`` draws one, recorded in the result's params.
    batch_size : int, default 32
    score : {None, "cross_entropy_loss"}
    channel_reduce : {"abs_sum", "sum", "max_abs"}, default "abs_sum"
        tf-explain takes ``|mean gradient|`` summed over channels.
    """

    method = "smoothgrad"
    param_changes = {
        "n_samples": SHARED["n_samples"].with_default(5),
        "noise": None,
        "noise_std": Param("noise_std", "float", 1.0, "Standard deviation of tf-explain's Gaussian noise in absolute "
                           "input units (tf-explain's `noise`; the native `noise` is a fraction of the range).",
                           low=0.0),
        "seed": Param("seed", "int", None, "Seed of tf-explain's NumPy RandomState noise.", low=0, high=2**32 - 1,
                      nullable="a seed is drawn and recorded"),
        "score": score_param("cross_entropy_loss", doc="tf-explain differentiates the categorical cross-entropy "
                             "-log p_c."),
        "channel_reduce": ABS_SUM,
    }

    def _default_score(self, spec: ModelSpec) -> str:
        return "cross_entropy_loss"

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if spec.output_activation not in ("softmax", "sigmoid"):
            raise InputError(f"tf-explain's SmoothGrad differentiates the categorical cross-entropy of the model's "
                             f"probabilities, but this model's last activation is {spec.output_activation!r}. Use "
                             f"backend='tensorflow' (SmoothGrad of a score), or add a softmax to the model.")
        if params["seed"] is None:
            params["seed"] = int(np.random.SeedSequence().entropy % (2**32))
        params["images_per_call"] = max(1, params["batch_size"] // params["n_samples"])
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        graph = self._graph("probability")
        outputs, targets = ctx.outputs_and_targets()
        n, hwc = params["n_samples"], images.shape[1:]
        rng = np.random.RandomState(params["seed"])
        channels = np.zeros(images.shape, np.float32)
        for s in chunks(len(images), params["images_per_call"]):  # image order: the noise stream is tf-explain's
            noisy = tfexplain_noisy_images(images[s], n, params["noise_std"], rng).reshape(s.stop - s.start, n, *hwc)
            for c, rows in by_target(targets, np.arange(s.start, s.stop)):
                batch = noisy[rows - s.start].reshape(-1, *hwc)
                channels[rows] = np.asarray(SmoothGrad.get_averaged_gradients(batch, graph.model, c, n), np.float32)
        return Attribution(reduce_channels(channels, params["channel_reduce"]), outputs, targets, channels=channels)


class TFXIntegratedGradients(TFXExplainer):
    """tf-explain's "integrated gradients", raw and per image.

    ``IntegratedGradients.generate_linear_path(baseline, x, steps)`` builds
    :math:`b + (x - b)\\,k/(steps-1)` for :math:`k = 0..steps-1` -- both ends included,
    so the baseline itself is a point -- and ``get_integrated_gradients`` returns the
    **plain mean of the gradients** at those points:
    :math:`\\frac{1}{steps}\\sum_k \\nabla S_c(b + \\tfrac{k}{steps-1}(x-b))`.
    It does **not** multiply by :math:`(x - b)`: tf-explain's result is an average
    gradient, not an attribution with the completeness property. ``multiply_by_input``
    (default False, tf-explain's) multiplies xaikit-side by ``images - baseline``.
    tf-explain's ``explain`` hard-codes a zero baseline (float64 ``np.zeros``); xaikit calls
    ``generate_linear_path`` with ``baseline`` (default 0.0, kept in float64 as
    tf-explain does) and differentiates the model's output (the **probability**) unless
    ``score="logit"``. ``steps`` must be at least 2 (tf-explain divides by ``steps - 1``).

    Relation to the native ``TFIntegratedGradients`` (none of its rules is this one):
    with ``R`` the native ``integration="right"`` result for ``steps - 1`` steps and
    ``g_b`` the gradient at the baseline,
    :math:`steps \\cdot IG_{tfx} = (steps - 1) \\cdot R + (x - b)\\, g_b` per channel
    when ``multiply_by_input=True``. Native defaults to the logit and ``channel_reduce="sum"``.

    Memory: ``get_integrated_gradients`` averages over a ``(-1, steps, ...)`` reshape, so
    an image's whole path goes through the model in one call; a call holds
    ``max(1, batch_size // steps)`` images.

    Parameters
    ----------
    model : keras.Model
    steps : int, default 10
        tf-explain's ``n_steps`` (its default 10).
    baseline : float, array (C,) or (H, W, C), default 0.0
    integration : {"inclusive"}
        The only rule tf-explain has (equal weights on ``k/(steps-1)``, ``k = 0..steps-1``);
        named so results record it. Other rules: ``backend="tensorflow"``.
    multiply_by_input : bool, default False
        Multiply the mean gradient by ``images - baseline`` (the integrated-gradients
        attribution of the paper, with tf-explain's quadrature).
    batch_size : int, default 32
    score : {None, "probability", "output", "logit"}
    channel_reduce : {"abs_sum", "sum", "max_abs"}, default "abs_sum"
    """

    method = "integrated_gradients"
    param_changes = {
        "steps": Param("steps", "int", 10, "Number of points on the path, both ends included (tf-explain's "
                       "n_steps; it divides by steps - 1).", low=2),
        "integration": Param("integration", "choice", "inclusive", "tf-explain's one rule: equal weights on "
                             "k/(steps-1), k = 0..steps-1.", choices=("inclusive",),
                             hint="tf-explain's integrated gradients has one rule, integration='inclusive'; for "
                                  "'trapezoid', 'left', 'right' or 'midpoint' use backend='tensorflow'."),
        "multiply_by_input": Param("multiply_by_input", "bool", False, "Multiply tf-explain's mean gradient by "
                                   "images - baseline (the paper's attribution with tf-explain's quadrature)."),
        "channel_reduce": ABS_SUM,
    }
    aligned_params = {"multiply_by_input": True}
    align_limits = ("tf-explain's one quadrature averages the gradients at k/(steps-1), both ends included: not the "
                    "definition's trapezoid (they converge as steps grow)",)

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        given = params["_baseline"] if isinstance(self.baseline, dict) else self.baseline  # {"mean": references}
        params["_baseline"] = np.broadcast_to(np.asarray(given, np.float64), images.shape[1:])  # tf-explain's
        params["images_per_call"] = max(1, params["batch_size"] // params["steps"])
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        graph = self._graph(params["score"])
        outputs, targets = ctx.outputs_and_targets()
        steps, baseline = params["steps"], params["_baseline"]
        channels = np.zeros(images.shape, np.float32)
        for c, indices in by_target(targets):
            for s in chunks(len(indices), params["images_per_call"]):
                rows = indices[s]
                paths = np.concatenate([IntegratedGradients.generate_linear_path(baseline, image, steps)
                                        for image in images[rows]])
                mean_grads = IntegratedGradients.get_integrated_gradients(paths, graph.model, c, steps)
                channels[rows] = np.asarray(mean_grads, np.float32)
        if params["multiply_by_input"]:
            channels = (channels * (images - baseline)).astype(np.float32)
        return Attribution(reduce_channels(channels, params["channel_reduce"]), outputs, targets, channels=channels)
