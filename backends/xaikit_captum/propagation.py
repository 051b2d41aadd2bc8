"""Captum's DeepLift, DeepLiftShap, LRP and LayerConductance, in xaikit's result format."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from captum.attr import LRP, DeepLift, DeepLiftShap, LayerConductance
from torch import nn
from xaikit_torch.adapters import layer_map, to_tensor
from xaikit_torch.engine import engine_for

from xaikit.catalogue import Param
from xaikit.errors import InputError, ModelError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.kernels import reduce_channels
from xaikit.methods.propagation import PROPAGATION_REFUSAL

from ._base import CaptumExplainer
from .gradients import CAPTUM_RULES

__all__ = ["CaptumDeepLift", "CaptumDeepLiftShap", "CaptumLRP", "CaptumLayerConductance"]


class CaptumDeepLift(CaptumExplainer):
    """Captum's ``DeepLift`` (rescale rule): :math:`(x - b) \\odot` the rescaled gradient, with its default ``eps``.

    ``DeepLift(forward).attribute(x, baselines=b, target=t)``. Equal to the native
    ``deeplift`` on networks whose ReLU modules do not feed max-pooling modules directly;
    where one does, Captum's ReLU rescales with the max pooling's plain gradient (its hook
    on the ReLU's output reads the gradient before the max pooling's hook rewrites it):
    there it equals the native ``deeplift(max_pool="gradient")`` (tested on the zoo's CNN
    twin), while the native default chains the two rules (see ``docs/methods/deeplift.md``).
    ``extras["completeness_gap"]`` is Captum's convergence delta. Images go to Captum one
    at a time: where an input difference of a max pooling is zero, Captum's rule falls back
    to the gradient of the *first row* of its batch, so a batched call would make an
    image's map depend on the other images.

    Parameters: ``model``, ``baseline``, ``batch_size``, ``score``, ``channel_reduce``.
    """

    method = "deeplift"
    param_changes = {"max_pool": None}
    score_function_refusal = PROPAGATION_REFUSAL

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        algorithm = DeepLift(self._forward(images, params["score"]))
        baseline = to_tensor(params["_baseline"][None], self.model)
        deltas = []

        def call(x: torch.Tensor, t: list[int]) -> torch.Tensor:
            attr, delta = algorithm.attribute(x, baselines=baseline.expand_as(x), target=t,
                                              return_convergence_delta=True)
            deltas.append(delta.detach().cpu().double().numpy())
            return attr

        channels = self._chunked(images, targets, 1, call)  # one image per call: see the class docstring
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels, extras={"completeness_gap": np.concatenate(deltas).astype(np.float32)})


class CaptumDeepLiftShap(CaptumExplainer):
    """Captum's ``DeepLiftShap``: DeepLift averaged over the background images (one image per Captum call, as for
    :class:`CaptumDeepLift`, with every background image in that batch: ``2 x background`` rows).

    Parameters: ``model``, ``background``, ``batch_size``, ``score``, ``channel_reduce``.
    """

    method = "deepliftshap"
    param_changes = {"max_pool": None}
    score_function_refusal = PROPAGATION_REFUSAL

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        algorithm = DeepLiftShap(self._forward(images, params["score"]))
        if len(params["_background"]) < 2:  # Captum asserts it deep inside, with the whole tensor in the message
            raise InputError("Captum's DeepLiftShap needs a background of at least 2 images; pass more, or use "
                             "deeplift with that image as the baseline (or backend='torch').")
        background = to_tensor(params["_background"], self.model)
        channels = self._chunked(images, targets, 1,
                                 lambda x, t: algorithm.attribute(x, baselines=background, target=t))
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels)


class _LRP(LRP):
    """Captum's LRP without the modules the explained score never reaches (the final softmax of a logit)."""

    skip: tuple[nn.Module, ...] = ()

    def _get_layers(self, model: nn.Module) -> None:
        super()._get_layers(model)
        self.layers = [layer for layer in self.layers if not any(layer is s for s in self.skip)]


class CaptumLRP(CaptumExplainer):
    """Captum's ``LRP``: ``EpsilonRule(epsilon)`` on every layer, or ``GammaRule(gamma)`` (its stabiliser
    ``epsilon``) on convolutions and ``nn.Linear`` under ``rule="gamma"``.

    ``nn.Flatten`` modules (which Captum has no rule for) get the epsilon rule, which passes
    relevance through them unchanged up to ``epsilon``; a final softmax or sigmoid whose
    input is the explained logit is left out; for that reason the default score is the
    logit (the native rule), not the model's output as it is. Equal to the native ``lrp``
    (tested).

    Parameters: ``model``, ``rule``, ``epsilon``, ``gamma``, ``batch_size``, ``score``, ``channel_reduce``.
    """

    method = "lrp"
    score_function_refusal = PROPAGATION_REFUSAL

    def _default_score(self, spec: ModelSpec) -> str | None:
        """The logit where the model's output activation is known (Captum's LRP has no rule for a final softmax or
        sigmoid, so the model's output as it is cannot be explained), as the native default."""
        return None

    def _rules(self, params: dict[str, Any]) -> list[tuple[nn.Module, Any]]:
        # Captum exports its LRP rules from no public module; its own tutorials import them from here.
        from captum.attr._utils.lrp_rules import EpsilonRule, GammaRule

        rules = []
        for module in self.model.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and params["rule"] == "gamma":
                rule = GammaRule(gamma=params["gamma"])
                rule.STABILITY_FACTOR = params["epsilon"]
                rules.append((module, rule))
            elif isinstance(module, (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                                     nn.BatchNorm2d, nn.Flatten)):
                rules.append((module, EpsilonRule(epsilon=params["epsilon"])))
        return rules

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        forward = self._forward(images, params["score"])
        engine = engine_for(self.model)
        probe = engine.view.probe(tuple(int(s) for s in images.shape[1:]))
        algorithm = _LRP(forward)
        if probe.logit_is_input and params["score"] == "logit":
            algorithm.skip = (engine.view.modules[probe.final],)
        elif probe.logit_is_input:
            raise ModelError(f"Captum's LRP has no rule for the final {probe.output_activation} of this model, which "
                             f"score={params['score']!r} goes through: explain the logit (score='logit').")

        def call(x: torch.Tensor, t: list[int]) -> torch.Tensor:
            for module, rule in self._rules(params):  # Captum removes them after each call
                module.rule = rule
            return algorithm.attribute(x, target=t)

        channels = self._chunked(images, targets, params["batch_size"], call)
        return Attribution(reduce_channels(channels, params["channel_reduce"], axis=1), outputs, targets,
                           channels=channels)


class CaptumLayerConductance(CaptumExplainer):
    """Captum's ``LayerConductance`` at a layer, summed over channels at layer resolution and upsampled as the CAM
    maps are. ``integration="riemann_trapezoid"`` is the native ``layer_conductance`` (Captum's points
    ``k/steps``, ``k = 0..steps``; tested); Captum's default ``"gausslegendre"`` puts the ``steps + 1`` points on
    Legendre nodes, which miss both ends of the path.

    Parameters: ``model``, ``layer``, ``layer_layout``, ``steps``, ``baseline``, ``integration``, ``batch_size``,
    ``score``.
    """

    method = "layer_conductance"
    param_changes = {
        "integration": Param("integration", "choice", "gausslegendre", "Captum's quadrature points (its `method`): "
                             "riemann_trapezoid is the native layer_conductance's k/steps.", choices=CAPTUM_RULES),
    }

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        forward = self._forward(images, params["score"])
        baseline = to_tensor(params["_baseline"][None], self.model)

        def call(x: torch.Tensor, t: list[int]) -> torch.Tensor:
            with layer_map(self.model, params["layer"], params["_layout"]) as module:
                attr = LayerConductance(forward, module).attribute(
                    x, baselines=baseline.expand_as(x), target=t, n_steps=params["steps"],
                    method=params["integration"])
            return attr.sum(dim=1) if attr.ndim == 4 else attr

        maps = self._chunked(images, targets, 1, call)
        return Attribution(maps, outputs, targets, at_layer=True)
