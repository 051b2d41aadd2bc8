"""Modified backward passes of DeepLift (rescale rule) and LRP (epsilon and gamma rules) on a Keras 3 model.

The rules are those of the PyTorch backend (:mod:`xaikit_torch.propagation`, where they
are described); here they are put in place while a function is traced, by replacing a
layer's ``activation`` or ``call`` for the owner thread (as guided backpropagation's
ReLUs are: :func:`xaikit_tensorflow.hooks.forward_hooks`).

- DeepLift: the batch holds the images, then their references. Every elementwise
  activation (a ``relu``, ``leaky_relu``, ``elu``, ``sigmoid``, ``tanh`` or ``softplus``
  activation of any layer; ``ReLU``, ``LeakyReLU``, ``ELU`` layers) passes back
  :math:`g (f(z) - f(z_0)) / (z - z_0)` (its gradient where :math:`|z - z_0| < 10^{-10}`);
  max pooling Captum's rule (or its gradient with ``max_pool="gradient"``).
- LRP: ``Conv*`` and ``Dense`` layers pass back :math:`J'^T (g z / (z' + \\epsilon\\,
  \\mathrm{sign}(z')))` (:math:`z'` with the kernel :math:`W + \\gamma W^+`), pooling and
  batch normalisation the same with :math:`z' = z`; ReLUs keep their gradient.

Layers a rule cannot go through are refused by name (:func:`check_layers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from xaikit.errors import ModelError
from xaikit.methods.propagation import PropagationRule

__all__ = ["PropagationRule", "check_layers", "patch_layers"]

#: Captum's threshold below which an input difference counts as zero (the gradient is passed instead).
RESCALE_EPS = 1e-10

_ELEMENTWISE_FUNCTIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus")
_CONVS = ("Conv1D", "Conv2D", "Conv3D")
_MAX_POOLS = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
              "GlobalMaxPooling3D")
_LINEAR_POOLS = ("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D",
                 "GlobalAveragePooling2D", "GlobalAveragePooling3D")
_PASS = ("InputLayer", "Flatten", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
         "GaussianDropout", "GaussianNoise", "AlphaDropout", "Reshape", "Permute", "ZeroPadding1D", "ZeroPadding2D",
         "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "Identity")
#: Linear in eval mode, so DeepLift keeps their gradients (LRP has no rule for a sum of branches).
_LINEAR_ONLY = ("Rescaling", "Add", "Subtract", "Average", "Concatenate", "UpSampling2D", "DepthwiseConv2D",
                "SeparableConv2D")




def _function_name(function: Any) -> str:
    while callable(function) and getattr(function, "__wrapped__", None) is not None:
        function = function.__wrapped__
    return getattr(function, "__name__", "") if function is not None else ""


def _activation(layer: Any) -> str:
    return _function_name(layer.__dict__.get("activation", getattr(layer, "activation", None)))


def _plain_relu(layer: Any) -> bool:
    return (type(layer).__name__ == "ReLU" and not getattr(layer, "negative_slope", 0)
            and getattr(layer, "max_value", None) is None and not getattr(layer, "threshold", 0))


def _problem(layer: Any, rule: PropagationRule, *, own_activation: bool = True) -> str | None:
    """Why ``rule`` cannot go through ``layer`` (None: it can); ``own_activation`` False: a final layer whose logit is
    read before its activation."""
    kind = type(layer).__name__
    activation = _activation(layer) if own_activation else ""
    if activation not in ("", "linear"):
        allowed = _ELEMENTWISE_FUNCTIONS if rule.kind == "rescale" else ("relu",)
        if activation not in allowed:
            return f"activation {activation!r}"
    if kind in ("Activation", *_CONVS, "Dense", *_MAX_POOLS, *_LINEAR_POOLS, *_PASS):
        return None
    if kind == "BatchNormalization":
        return None
    if kind == "ReLU" and (rule.kind == "rescale" or _plain_relu(layer)):
        return None
    if kind in ("LeakyReLU", "ELU") and rule.kind == "rescale":
        return None
    if kind in _LINEAR_ONLY and rule.kind == "rescale":
        return None
    return "no rule"


def check_layers(layers: dict[str, Any], model: str, rule: PropagationRule, final: Any, final_mode: str | None,
                 score: Any, containers: Callable[[Any], bool]) -> None:
    """Raise :class:`~xaikit.ModelError` naming the layers ``rule`` cannot go through (the final activation is
    never reached when the logit is explained; any other score goes through it and is refused)."""
    if final is not None and final_mode in ("input", "swap") and score != "logit":
        raise ModelError(f"{rule.name} has no rule for the final activation of model {model!r}, which the score "
                         "explained goes through: explain the logit (score='logit'), as the method's definition "
                         "does.")
    bad, nonlinear = [], False
    for name, layer in layers.items():
        if containers(layer):
            continue
        if layer is final and final_mode == "input":
            continue
        problem = _problem(layer, rule, own_activation=not (layer is final and final_mode == "swap"))
        if problem is not None:
            bad.append((name, layer, problem))
        elif _activation(layer) in _ELEMENTWISE_FUNCTIONS or type(layer).__name__ in ("ReLU", "LeakyReLU", "ELU"):
            nonlinear = True
    if bad:
        shown = ", ".join(f"{n!r} ({type(lay).__name__}: {why})" for n, lay, why in bad[:6])
        more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
        allowed = ("relu, leaky_relu, elu, sigmoid, tanh, softplus activations, max pooling" if rule.kind == "rescale"
                   else "Conv, Dense, pooling, BatchNormalization, ReLU")
        alternative = "integrated_gradients" if rule.kind == "rescale" else "gradient_x_input or deeplift"
        raise ModelError(f"{rule.name} has no rule for layer(s) {shown}{more} of model {model!r}: it goes through "
                         f"{allowed}, linear layers, dropout and reshapes only, and would otherwise take these "
                         f"layers' plain gradients under its name. Use {alternative} on this model.")
    if not nonlinear:
        raise ModelError(f"{rule.name} changes the backward pass of activations, and model {model!r} has none it "
                         "can reach: the result would be a plain gradient. Use integrated_gradients or "
                         "gradient_x_input on this model.")


# ----------------------------------------------------------------------------- DeepLift
def _halves(t: Any) -> tuple[Any, Any]:
    first, second = tf.split(t, 2, axis=0)
    return first, second


def _vjp(fn: Callable[[Any], Any], z: Any, cotangent: Any) -> Any:
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = fn(z)
    return tape.gradient(y, z, output_gradients=cotangent)


def _divided(numerator: Any, plain: Any, dz: Any) -> Any:
    small = tf.abs(dz) < RESCALE_EPS
    return tf.where(small, plain, numerator / tf.where(small, tf.ones_like(dz), dz))


def _rescale(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @tf.custom_gradient
    def rescaled(z: Any) -> Any:
        y = fn(z)

        def grad(dy: Any) -> Any:
            (zx, z0), (yx, y0) = _halves(z), _halves(y)
            g = _halves(dy)[0]
            new = _divided(g * (yx - y0), _vjp(fn, zx, g), zx - z0)
            return tf.concat([new, tf.zeros_like(new)], axis=0)

        return y, grad

    return rescaled


def _rescale_max(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @tf.custom_gradient
    def rescaled(z: Any) -> Any:
        y = fn(z)

        def grad(dy: Any) -> Any:
            (zx, z0), (yx, y0) = _halves(z), _halves(y)
            g = _halves(dy)[0]
            top = tf.maximum(yx, y0)
            routed = _vjp(fn, z, tf.concat([g * (top - y0), g * (yx - top)], axis=0))
            first, second = _halves(routed)
            new = _divided(first + second, _vjp(fn, zx, g), zx - z0)
            return tf.concat([new, tf.zeros_like(new)], axis=0)

        return y, grad

    return rescaled


# ----------------------------------------------------------------------------- LRP
def _lrp_output(z: Any, z_rule: Any, epsilon: float) -> Any:
    """``z`` in value; gradient ``J'^T (g z / (z' + eps sign z'))`` through ``z_rule`` (``z'``)."""
    sign = tf.where(z_rule >= 0, tf.ones_like(z_rule), -tf.ones_like(z_rule))  # sign(0) = 1, as Captum
    scale = tf.stop_gradient(z / (z_rule + epsilon * sign))
    return z_rule * scale + tf.stop_gradient(z - z_rule * scale)


def _linear(layer: Any, inputs: Any, kernel: Any) -> Any:
    """The layer's output before its activation, with ``kernel`` (a Conv or Dense layer, as Keras computes it)."""
    if type(layer).__name__ == "Dense":
        out = keras.ops.matmul(inputs, kernel)
        return out if layer.bias is None else keras.ops.add(out, layer.bias)
    out = layer.convolution_op(inputs, kernel)
    if layer.use_bias:
        rank = layer.rank
        shape = (1,) * (rank + 1) + (layer.filters,) if layer.data_format == "channels_last" else \
            (1, layer.filters) + (1,) * rank
        out = keras.ops.add(out, keras.ops.reshape(layer.bias, shape))
    return out


def _lrp_call(layer: Any, rule: PropagationRule) -> Callable[..., Any]:
    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        kernel = layer.kernel
        z = _linear(layer, inputs, kernel)
        z_rule = _linear(layer, inputs, kernel + rule.gamma * tf.nn.relu(kernel)) if rule.gamma else z
        out = _lrp_output(z, z_rule, rule.epsilon)
        activation = layer.activation  # read now: the logit's recorder of a final layer
        return activation(out) if activation is not None else out
    return call


def _lrp_wrapped(original: Callable[..., Any], epsilon: float) -> Callable[..., Any]:
    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        z = original(inputs, *args, **kwargs)
        return _lrp_output(z, z, epsilon)
    return call


# ----------------------------------------------------------------------------- patching
def patch_layers(layers: dict[str, Any], rule: PropagationRule, final: Any, final_mode: str | None,
                 containers: Callable[[Any], bool], owner_only: Callable[..., Any],
                 patch: Callable[[Any, str, Any], None]) -> None:
    """Give every layer the backward pass of ``rule`` (in the owner thread; ``owner_only(new, original)``)."""
    for layer in layers.values():
        if containers(layer) or (layer is final and final_mode == "input"):
            continue
        kind = type(layer).__name__
        if rule.kind == "rescale":
            activation = layer.__dict__.get("activation", getattr(layer, "activation", None))
            if _function_name(activation) in _ELEMENTWISE_FUNCTIONS and not (layer is final and final_mode == "swap"):
                patch(layer, "activation", owner_only(_rescale(activation), activation))
            elif kind in ("ReLU", "LeakyReLU", "ELU"):
                patch(layer, "call", owner_only(_rescale(layer.call), layer.call))
            elif kind in _MAX_POOLS and rule.max_pool == "rescale":
                patch(layer, "call", owner_only(_rescale_max(layer.call), layer.call))
        elif kind in (*_CONVS, "Dense"):
            patch(layer, "call", owner_only(_lrp_call(layer, rule), layer.call))
        elif kind in _MAX_POOLS + _LINEAR_POOLS + ("BatchNormalization",):
            patch(layer, "call", owner_only(_lrp_wrapped(layer.call, rule.epsilon), layer.call))
