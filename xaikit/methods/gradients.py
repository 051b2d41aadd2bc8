"""Input-gradient methods: vanilla gradients, gradient x input, and the modified backward passes of guided
backpropagation and deconvnet."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema
from ..catalogue.parts import GRADIENTS, GUIDED, PIXEL_PARAMS, input_gradients_floor
from ..explainer import Attribution
from ..kernels import chunks, reduce_channels
from .base import EngineExplainer

__all__ = ["VanillaGradients", "GradientXInput", "GuidedBackprop", "Deconvnet", "relu_rule_message"]


def relu_rule_message(model: str, rule: str, what: str) -> str:
    """Why an engine refuses guided backpropagation / deconvnet on a model with no ReLU it can reach.

    Both change only the backward pass of ReLUs: on a network without them (ConvNeXt and
    Swin use GELU, EfficientNet SiLU) the result would be vanilla gradients under another
    name, so the engines refuse instead of returning it.
    """
    method = "guided backpropagation" if rule == "guided" else "the deconvnet"
    return (f"{method} changes the backward pass of ReLUs, and model {model!r} has no {what} (its nonlinearities are "
            "others, such as GELU or SiLU, or ReLUs called as functions inside forward): the result would equal "
            "vanilla_gradients. Use vanilla_gradients, integrated_gradients or smoothgrad on this model.")


class VanillaGradients(EngineExplainer, schema=MethodSchema(
        "vanilla_gradients", "Vanilla gradients (saliency)",
        "Gradient of the target score with respect to the input pixels.",
        "Simonyan, Vedaldi & Zisserman, 'Deep Inside Convolutional Networks: Visualising Image "
        "Classification Models and Saliency Maps', ICLR workshop 2014.",
        signed=True, cost="1 forward + 1 backward pass", params=PIXEL_PARAMS, needs=GRADIENTS, view="magnitude",
        floor_fn=input_gradients_floor(None), formula="A = dS_t/dx",
        docs=DocsEntry("Vanilla gradients", "gradient of the score w.r.t. the pixels",
                       "1 forward + 1 backward", "Simonyan et al. 2014"))):
    """Gradient of the target score with respect to the input pixels.

    Parameters
    ----------
    model
    batch_size : int, default 32
        Images per model call.
    score : {None, "logit", "probability", "output"}
        What is differentiated; ``None`` = the logit when the model ends in softmax or
        sigmoid (see :func:`xaikit.spec.resolve_score`).
    channel_reduce : {"sum", "abs_sum", "max_abs"}, default "sum"
        How per-channel gradients become one map (kept unreduced in
        ``channel_attributions``).

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR workshop 2014.
    """

    times_input: ClassVar[bool] = False
    #: How ReLUs pass gradients back (:meth:`xaikit.engine.Engine.input_gradients`).
    rule: ClassVar[str] = "plain"

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        t_in = ctx.graph_targets()
        grads, outputs, used = [], [], []
        rule = {} if self.rule == "plain" else {"rule": self.rule}
        for s in chunks(len(images), params["batch_size"]):
            g, out, t, _ = engine.input_gradients(images[s], t_in[s], params["score"], **rule)
            grads.append(g)
            outputs.append(out)
            used.append(t)
        channels = grads[0] if len(grads) == 1 else np.concatenate(grads)
        if self.times_input:
            channels = channels * images
        maps = reduce_channels(channels, params["channel_reduce"], axis=ctx.channel_axis)
        return Attribution(maps, np.concatenate(outputs), np.concatenate(used), channels=channels)


class GradientXInput(VanillaGradients, schema=MethodSchema(
        "gradient_x_input", "Gradient x input",
        "Input multiplied element-wise by the gradient of the target score.",
        "Shrikumar et al., 'Not Just a Black Box: Learning Important Features Through Propagating "
        "Activation Differences', 2016 (arXiv:1605.01713).",
        signed=True, cost="1 forward + 1 backward pass", params=PIXEL_PARAMS, needs=GRADIENTS,
        floor_fn=input_gradients_floor(None), formula="A = x * dS_t/dx",
        docs=DocsEntry("Gradient × input", "input × gradient", "1 forward + 1 backward", "Shrikumar et al. 2016"))):
    """Input times the gradient of the target score, element-wise.

    Parameters are those of :class:`VanillaGradients`.

    References
    ----------
    Shrikumar et al., "Not Just a Black Box: Learning Important Features Through
    Propagating Activation Differences", 2016, arXiv:1605.01713.
    """

    times_input = True


class GuidedBackprop(VanillaGradients, schema=MethodSchema(
        "guided_backprop", "Guided backpropagation",
        "Gradient of the target score at the input with every ReLU passing back only positive gradients at "
        "positive inputs.",
        "Springenberg et al., 'Striving for Simplicity: The All Convolutional Net', ICLR workshop 2015.",
        signed=True, cost="1 forward + 1 backward pass", params=PIXEL_PARAMS, needs=GUIDED, view="magnitude",
        floor_fn=input_gradients_floor(None), formula="R_l = 1[z_l > 0] * 1[R_{l+1} > 0] * R_{l+1} at every ReLU",
        docs=DocsEntry("Guided backpropagation", "gradient through ReLUs passing only positive gradients",
                       "1 forward + 1 backward", "Springenberg et al. 2015"))):
    """Guided backpropagation: the input gradient with every ReLU passing back only positive gradients
    at positive inputs.

    At every ReLU (an activation of any layer, an ``Activation("relu")`` or a ``ReLU``
    layer) the backward pass computes :math:`R_l = 1[z_l > 0]\\, 1[R_{l+1} > 0]\\, R_{l+1}`
    instead of :math:`1[z_l > 0]\\, R_{l+1}`; the forward pass and the outputs are the
    model's. Other activations (leaky ReLU, GELU, ...) keep their usual gradient, as in
    Captum and pytorch-grad-cam, which replace ``ReLU`` modules only. Adebayo et al.
    (2018) found these maps nearly unchanged when the model's weights are randomised:
    they show the input's edges more than what the model learned.

    Parameters
    ----------
    model
    batch_size, score, channel_reduce
        As in :class:`VanillaGradients`.

    References
    ----------
    Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR
    workshop 2015.
    """

    rule = "guided"


class Deconvnet(VanillaGradients, schema=MethodSchema(
        "deconvnet", "Deconvnet",
        "Backward pass of the target score to the input in which every ReLU passes back the ReLU of the "
        "gradient, whatever its input.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', ECCV 2014.",
        signed=True, cost="1 forward + 1 backward pass", params=PIXEL_PARAMS, needs=GUIDED, view="magnitude",
        floor_fn=input_gradients_floor(None), formula="R_l = ReLU(R_{l+1}) at every ReLU",
        docs=DocsEntry("Deconvnet", "backward pass through ReLUs of the gradient",
                       "1 forward + 1 backward", "Zeiler & Fergus 2014"))):
    """Deconvnet: the backward pass in which every ReLU passes back the ReLU of the gradient.

    At every ReLU the backward pass computes :math:`R_l = \\max(R_{l+1}, 0)`, whatever
    the sign of the ReLU's input (the "switches" of max-pooling are the usual gradient
    of the pooling); the forward pass is the model's. Captum's ``Deconvolution``
    computes the same.

    Parameters
    ----------
    model
    batch_size, score, channel_reduce
        As in :class:`VanillaGradients`.

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """

    rule = "deconvnet"
