"""Modified backward passes with a reference: DeepLift, DeepLiftShap, and layer-wise relevance propagation (LRP).

The engines compute the modified gradient (:meth:`xaikit.engine.Engine.propagation_gradients`,
capability ``propagation``): DeepLift's rescale rule on a batch of images and their
references, LRP's epsilon and gamma rules; the methods here multiply it by the input's
difference from the reference (DeepLift) or by the input (LRP) and reduce the channels
as the other gradient methods do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, ExampleImages, MethodSchema, Param, shared
from ..catalogue.parts import MAX_POOL, PROPAGATION, input_gradients_floor, reference_pairs_floor
from ..explainer import Attribution
from ..kernels import chunks, reduce_channels
from .base import EngineExplainer

__all__ = ["DeepLift", "DeepLiftShap", "LRP", "PROPAGATION_REFUSAL", "PropagationRule", "pair_rows"]

#: Why DeepLift and LRP take class targets only.
@dataclass(frozen=True)
class PropagationRule:
    """A modified backward pass, as the engines' ``propagation_gradients`` put it in place layer by layer.

    ``kind``: ``"rescale"`` (DeepLift's rescale rule, on a batch of images then references) or ``"lrp"``
    (epsilon rule, or gamma on convolutions and dense layers where ``gamma > 0``); ``max_pool``:
    ``"rescale"`` or ``"gradient"`` (Captum's behaviour where a ReLU feeds a max pool).
    """

    kind: str
    epsilon: float = 1e-9
    gamma: float = 0.0
    max_pool: str = "rescale"

    @property
    def name(self) -> str:
        """``"DeepLift"`` or ``"LRP"``, for messages."""
        return "DeepLift" if self.kind == "rescale" else "LRP"


PROPAGATION_REFUSAL = ("DeepLift and LRP propagate a class's score back through the model's layers with their own "
                       "rules, and a score function is computed from the model's output after its final activation, "
                       "which they have no rule for. Explain a class (targets=int or a list of ints), or use "
                       "integrated_gradients or gradient_x_input with a score function.")


def pair_rows(batch_size: int) -> int:
    """Images per engine call of DeepLift: each comes with its reference, so a call holds ``2 x`` that many rows
    (``batch_size // 2``, at least 1)."""
    return max(1, batch_size // 2)


class DeepLift(EngineExplainer, schema=MethodSchema(
        "deeplift", "DeepLift (rescale rule)",
        "(x - baseline) times the backward pass in which every nonlinearity passes back the ratio of its output and "
        "input differences between the image and the baseline (max pooling: Captum's rule); sums to "
        "S_t(x) - S_t(baseline).",
        "Shrikumar, Greenside & Kundaje, 'Learning Important Features Through Propagating Activation Differences', "
        "ICML 2017.",
        signed=True, cost="1 forward + 1 backward pass of 2 rows (image and baseline)",
        params=(*shared("baseline"), MAX_POOL, *shared("channel_reduce")), needs=PROPAGATION,
        floor_fn=reference_pairs_floor,
        formula="A = (x - b) * m,  m = dS_t/dx with f'(z) replaced by (f(z) - f(z_b)) / (z - z_b) at every "
                "nonlinearity f",
        example_params={"baseline": 0.2},
        docs=DocsEntry("DeepLift", "(x − baseline) × gradient with activations rescaled by their differences",
                       "1 forward + 1 backward of 2 rows", "Shrikumar et al. 2017"))):
    """DeepLift with the rescale rule: :math:`(x - x_0) \\odot` the gradient in which every nonlinearity passes back
    the ratio of its output and input differences from the reference.

    At every elementwise activation :math:`f` (ReLU, LeakyReLU, ELU, sigmoid, tanh,
    softplus) the backward pass multiplies by :math:`(f(z) - f(z_0)) / (z - z_0)`, :math:`z_0`
    being its input when the model runs on the baseline (the gradient :math:`f'(z)` where
    :math:`|z - z_0| < 10^{-10}`); max pooling splits its output difference between the
    image's and the baseline's maxima (Captum's rule; ``max_pool="gradient"`` keeps its gradient);
    linear layers keep their gradients.
    On such networks the attributions of an image sum to :math:`S_t(x) - S_t(x_0)`
    (summation-to-delta; the difference is in ``extras["completeness_gap"]``). Models with
    other nonlinearities (GELU, LayerNorm, attention) are refused by name. Captum's
    ``DeepLift`` computes the same (tested); the images and their baselines run in one
    batch, so a call holds ``2 x (batch_size // 2)`` rows.

    Parameters
    ----------
    model
    baseline : float, array (C,) or image, default 0.0
        The reference input.
    max_pool : {"rescale", "gradient"}, default "rescale"
        The rule at max pooling: Captum's rescale rule (summation-to-delta holds) or the
        pooling's plain gradient (the original DeepLIFT's default "gradient" mode). Captum's
        ``DeepLift`` computes the latter where a ReLU module's output goes straight into a
        max-pooling module (its ReLU hook reads the gradient before the pooling's hook
        rewrites it; the zoo's CNNs are built so): there ``max_pool="gradient"`` equals
        Captum, the default correlates with it (tested).
    batch_size, score, channel_reduce
        As in :class:`~xaikit.methods.gradients.VanillaGradients`.

    References
    ----------
    Shrikumar, Greenside & Kundaje, "Learning Important Features Through Propagating
    Activation Differences", ICML 2017; Ancona et al., "Towards better understanding of
    gradient-based attribution methods for deep neural networks", ICLR 2018.
    """

    score_function_refusal = PROPAGATION_REFUSAL

    def _multipliers(self, images: np.ndarray, references: np.ndarray, targets: np.ndarray, params: dict[str, Any]
                     ) -> tuple[np.ndarray, ...]:
        """``(modified gradients, outputs, targets used, S_t(x), S_t(reference))`` row by row, in chunks."""
        engine = self._engine()
        parts = [engine.propagation_gradients(images[s], targets[s], params["score"], "rescale",
                                              reference=references[s], max_pool=params["max_pool"])
                 for s in chunks(len(images), pair_rows(params["batch_size"]))]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        baseline = params["_baseline"]
        references = np.broadcast_to(baseline, images.shape)
        grads, outputs, used, s_x, s_b = self._multipliers(images, references, ctx.graph_targets(), params)
        channels = ((images - baseline) * grads).astype(np.float32)
        gap = channels.reshape(len(images), -1).sum(axis=1, dtype=np.float64) - (s_x - s_b)
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, outputs, used, channels=channels, extras={"completeness_gap": gap.astype(np.float32)})


class DeepLiftShap(DeepLift, schema=MethodSchema(
        "deepliftshap", "DeepLiftShap",
        "DeepLift averaged over a background of reference images; sums to S_t(x) minus the mean score of the "
        "background.",
        "Lundberg & Lee, 'A Unified Approach to Interpreting Model Predictions', NeurIPS 2017; Shrikumar, Greenside "
        "& Kundaje, ICML 2017.",
        signed=True, cost="1 forward + 1 backward pass of 2 rows per background image",
        params=(*shared("background"), MAX_POOL, *shared("channel_reduce")), needs=PROPAGATION,
        floor_fn=reference_pairs_floor,
        formula="A = 1/m sum_j (x - r_j) * m(x, r_j),  m = DeepLift's multipliers for reference r_j",
        example_params={"background": ExampleImages(2)},
        docs=DocsEntry("DeepLiftShap", "DeepLift averaged over background references",
                       "1 forward + 1 backward of 2 rows per reference", "Lundberg & Lee 2017"))):
    """DeepLiftShap: DeepLift averaged over a background of reference images.

    :math:`\\frac{1}{m}\\sum_j (x - r_j) \\odot m(x, r_j)`, :math:`m(x, r_j)` being DeepLift's
    multipliers for the reference :math:`r_j` (see :class:`DeepLift`), for every image of
    ``background``; the attributions of an image sum to :math:`S_t(x) - \\frac{1}{m}\\sum_j
    S_t(r_j)` on the networks DeepLift handles (``extras["completeness_gap"]``). Captum's
    ``DeepLiftShap`` computes the same (tested). Costs one DeepLift pass (``2`` rows) per
    image and background image.

    Parameters
    ----------
    model
    background : array
        Reference images in the model's input space (SHAP's ``data``).
    max_pool : {"rescale", "gradient"}, default "rescale"
        As in :class:`DeepLift`; with image references only ``"rescale"`` keeps the sum of
        the attributions equal to the score difference.
    batch_size, score, channel_reduce
        As in :class:`DeepLift` (``batch_size`` bounds the (image, reference) rows).

    References
    ----------
    Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017;
    Shrikumar, Greenside & Kundaje, ICML 2017.
    """

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        background = params["_background"]
        n, m = len(images), len(background)
        per_call = pair_rows(params["batch_size"])
        t_all = targets.astype(np.int32)
        totals = np.zeros(images.shape, np.float64)
        gaps = np.zeros(n, np.float64)
        for s in chunks(n * m, per_call):  # pair k: image k // m with background image k % m
            pairs = np.arange(s.start, s.stop)
            image, ref = pairs // m, pairs % m
            x, r = images[image], background[ref]
            grads, _, _, s_x, s_r = engine.propagation_gradients(x, t_all[image], params["score"], "rescale",
                                                                 reference=r, max_pool=params["max_pool"])
            contribution = (x - r) * grads
            np.add.at(totals, image, contribution)
            np.add.at(gaps, image, contribution.reshape(len(pairs), -1).sum(axis=1, dtype=np.float64) - (s_x - s_r))
        channels = (totals / m).astype(np.float32)
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, outputs, targets, channels=channels,
                           extras={"completeness_gap": (gaps / m).astype(np.float32)})


class LRP(EngineExplainer, schema=MethodSchema(
        "lrp", "Layer-wise relevance propagation (epsilon / gamma rules)",
        "The target score propagated back as relevance layer by layer: each convolution, dense, pooling and "
        "batch-norm layer passes back a * J^T (R / (z + epsilon sign z)), the gamma rule with weights "
        "W + gamma W+ in convolution and dense layers; ReLU CNNs.",
        "Bach et al., 'On Pixel-Wise Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance "
        "Propagation', PLOS ONE 2015; Montavon et al., 'Layer-Wise Relevance Propagation: An Overview', 2019.",
        signed=True, cost="1 forward + 1 backward pass",
        params=(Param("rule", "choice", "epsilon", "'epsilon' (every layer: LRP-epsilon) or 'gamma' (convolution "
                      "and dense layers with weights W + gamma W+; pooling and batch norm: epsilon).",
                      choices=("epsilon", "gamma")),
                Param("epsilon", "float", 1e-9, "Stabiliser added to every layer's outputs, with their sign "
                      "(Captum's default 1e-9; larger values absorb weak and contradictory relevance).",
                      low=0.0, low_open=True),
                Param("gamma", "float", 0.25, "Weight of the positive weights under rule='gamma'.", low=0.0),
                *shared("channel_reduce")),
        needs=PROPAGATION, floor_fn=input_gradients_floor(None),
        formula="R_a = a * J'^T (R_z / (z' + epsilon sign z')),  z' = z (epsilon) or with W + gamma W+ (gamma),  "
                "A = R_x",
        example_params={"rule": "gamma", "gamma": 0.5},
        docs=DocsEntry("LRP", "relevance propagated layer by layer (epsilon / gamma rules)",
                       "1 forward + 1 backward", "Bach et al. 2015"))):
    """Layer-wise relevance propagation with the epsilon or the gamma rule, on ReLU networks.

    The target score is the relevance of the output; each convolution, dense, pooling and
    batch-norm layer with input :math:`a` and output :math:`z` passes back
    :math:`R_a = a \\odot J'^T (R_z / (z' + \\epsilon\\,\\mathrm{sign}(z')))`, where
    :math:`z' = z, J' = J` under ``rule="epsilon"`` and, under ``rule="gamma"``, the
    convolution and dense layers use the weights :math:`W + \\gamma W^+` (pooling and
    batch norm keep the epsilon rule); ReLUs, dropout and reshapes pass relevance on
    unchanged. The map is the input's relevance :math:`x \\odot g` reduced over channels.
    With ``epsilon`` near 0 (LRP-0) on a bias-free ReLU network it equals gradient x
    input; with bias-free layers the relevances sum to the score
    (``extras["relevance_gap"]`` holds :math:`\\sum R - S_t(x)` per image: what biases and
    ``epsilon`` absorbed). Captum's ``LRP`` with ``EpsilonRule`` / ``GammaRule`` computes
    the same (tested). Other layers (other activations, LayerNorm, attention; residual
    additions are not seen) are refused by name where the engine can see them.

    Parameters
    ----------
    model
    rule : {"epsilon", "gamma"}, default "epsilon"
    epsilon : float, default 1e-9
        The stabiliser added to every layer's outputs (Captum's default).
    gamma : float, default 0.25
        Weight of the positive weights under ``rule="gamma"``.
    batch_size, score, channel_reduce
        As in :class:`~xaikit.methods.gradients.VanillaGradients`.

    References
    ----------
    Bach et al., "On Pixel-Wise Explanations for Non-Linear Classifier Decisions by
    Layer-Wise Relevance Propagation", PLOS ONE 10(7), 2015; Montavon et al.,
    "Layer-Wise Relevance Propagation: An Overview", in Explainable AI, LNCS 11700, 2019.
    """

    score_function_refusal = PROPAGATION_REFUSAL

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        t_in = ctx.graph_targets()
        gamma = params["gamma"] if params["rule"] == "gamma" else 0.0
        parts = [engine.propagation_gradients(images[s], t_in[s], params["score"], "lrp", epsilon=params["epsilon"],
                                              gamma=gamma)
                 for s in chunks(len(images), params["batch_size"])]
        grads, outputs, used, s_x = (np.concatenate([p[i] for p in parts]) for i in range(4))
        channels = (images * grads).astype(np.float32)
        gap = channels.reshape(len(images), -1).sum(axis=1, dtype=np.float64) - s_x
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, outputs, used, channels=channels, extras={"relevance_gap": gap.astype(np.float32)})
