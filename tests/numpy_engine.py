"""A NumPy engine with analytic gradients for tiny models: the core's methods tested without a framework.

Two models, enough for every method on the ``scores``, ``gradients``, ``layers``, ``head``
and ``guided`` capabilities:

- :meth:`TinyNet.linear`: ``z = flatten(x) W + b`` (layers ``flat``, ``dense``);
- :meth:`TinyNet.gap`: ``a = relu(x W_c + b_c)`` -- a 1x1 convolution, layer ``conv``
  (channels-last ``(N, H, W, C)``) -- then global average pooling (``gap``) and a dense
  head ``z = mean_hw(a) W + b`` (``out``), so CAMs, layer gradients and head scores have
  closed forms.

Either ends in ``"linear"`` (the outputs are the logits) or ``"softmax"``. :func:`bind`
gives a core method class bound to this engine, as the registry binds it to a backend's
(:func:`xaikit.binding.get_method_class`), without registering a backend. Nothing here
imports a deep-learning framework.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaikit.engine import Engine
from xaikit.errors import InputError, LayerError, ModelError
from xaikit.layer_layout import LayerLayout
from xaikit.spec import LayerInfo, ModelSpec, predicted_classes

__all__ = ["NumpyEngine", "TinyNet", "bind", "explain", "gap_net", "linear_net"]


@dataclass(eq=False)
class TinyNet:
    """Weights of a tiny model on ``shape`` = ``(H, W, C)`` images (NHWC); build with :meth:`linear` or :meth:`gap`.

    Attributes
    ----------
    shape : tuple of int
        One image's shape.
    weights, bias : np.ndarray
        The dense head: ``(F, K)`` and ``(K,)``, ``F`` the flattened image (linear) or
        the convolution's channels (gap).
    conv_weights, conv_bias : np.ndarray or None
        The 1x1 convolution ``(C_in, C)`` and ``(C,)``; None for the linear model.
    relu : bool
        Whether the convolution is followed by a ReLU (else it is linear).
    activation : str
        The output activation, ``"linear"`` or ``"softmax"``.
    """

    shape: tuple[int, int, int]
    weights: np.ndarray
    bias: np.ndarray
    conv_weights: np.ndarray | None = None
    conv_bias: np.ndarray | None = None
    relu: bool = True
    activation: str = "linear"
    engine: NumpyEngine | None = field(default=None, repr=False)

    @classmethod
    def linear(cls, weights: np.ndarray, bias: np.ndarray, shape: tuple[int, int, int],
               activation: str = "linear") -> TinyNet:
        """``act(flatten(x) @ weights + bias)``: the gradient of class ``c``'s logit is ``weights[:, c]``."""
        return cls(tuple(shape), np.asarray(weights, np.float64), np.asarray(bias, np.float64),
                   activation=activation)

    @classmethod
    def gap(cls, conv_weights: np.ndarray, conv_bias: np.ndarray, weights: np.ndarray, bias: np.ndarray,
            size: tuple[int, int], *, relu: bool = True, activation: str = "linear") -> TinyNet:
        """``act(mean_hw(relu(x @ conv_weights + conv_bias)) @ weights + bias)`` on ``size`` images."""
        conv_weights = np.asarray(conv_weights, np.float64)
        return cls((*size, conv_weights.shape[0]), np.asarray(weights, np.float64), np.asarray(bias, np.float64),
                   conv_weights, np.asarray(conv_bias, np.float64), relu, activation)

    @property
    def has_conv(self) -> bool:
        """Whether the model has the ``conv`` layer (the gap model)."""
        return self.conv_weights is not None

    def conv(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pre-activations, activations)`` of layer ``conv``, ``(N, H, W, C)`` each."""
        pre = np.asarray(x, np.float64) @ self.conv_weights + self.conv_bias
        return pre, (np.maximum(pre, 0.0) if self.relu else pre)

    def features(self, x: np.ndarray) -> np.ndarray:
        """What the dense head reads, ``(N, F)``: the flattened image, or the pooled activations."""
        if self.has_conv:
            return self.conv(x)[1].mean(axis=(1, 2))
        return np.asarray(x, np.float64).reshape(len(x), -1)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """``(N, K)`` logits of the head."""
        return features @ self.weights + self.bias

    def outputs(self, z: np.ndarray) -> np.ndarray:
        """The model's outputs from its logits."""
        if self.activation == "linear":
            return z
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def linear_net(shape: tuple[int, int, int], classes: int = 3, seed: int = 0, activation: str = "linear"
               ) -> TinyNet:
    """A :meth:`TinyNet.linear` with seeded weights ``N(0, 1)`` and biases ``N(0, 0.1)``, both float32."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, (int(np.prod(shape)), classes)).astype(np.float32)
    return TinyNet.linear(weights, rng.normal(0, 0.1, classes).astype(np.float32), shape, activation)


def gap_net(shape: tuple[int, int, int], channels: int, classes: int = 3, seed: int = 0, *, relu: bool = True,
            activation: str = "linear") -> TinyNet:
    """A :meth:`TinyNet.gap` on ``shape`` images with seeded float32 weights (normal; biases of scale 0.1)."""
    rng = np.random.default_rng(seed)
    wc = rng.normal(0, 1, (shape[2], channels)).astype(np.float32)
    bc = rng.normal(0, 0.1, channels).astype(np.float32)
    wd = rng.normal(0, 1, (channels, classes)).astype(np.float32)
    bd = rng.normal(0, 0.1, classes).astype(np.float32)
    return TinyNet.gap(wc, bc, wd, bd, shape[:2], relu=relu, activation=activation)


def bind(method: str) -> type:
    """The core's class of ``method`` bound to :class:`NumpyEngine` (backend name ``"numpy"``)."""
    from xaikit.methods import IMPLEMENTATIONS

    core = IMPLEMENTATIONS[method]
    return type(core.__name__, (core,), {"backend": "numpy", "engine_factory": staticmethod(engine_for),
                                         "__qualname__": f"{core.__qualname__}[numpy]"})


def explain(model: TinyNet, images: np.ndarray, method: str, targets: Any = None, **params: Any) -> Any:
    """``xaikit.explain`` on the NumPy engine: the :class:`~xaikit.Explanation` of ``method``."""
    return bind(method)(model, **params).explain(np.asarray(images, np.float32), targets)


def engine_for(model: TinyNet) -> NumpyEngine:
    """The model's engine (one per model, so :meth:`Engine.memo` is kept between calls)."""
    if model.engine is None:
        model.engine = NumpyEngine(model)
    return model.engine


class NumpyEngine(Engine):
    """xaikit's primitives on a :class:`TinyNet`, gradients written out by hand (see :mod:`xaikit.engine`)."""

    framework = "numpy"

    def __init__(self, net: TinyNet) -> None:
        self.net = net

    # ----------------------------------------------------------------- describing
    @property
    def layout(self) -> str:
        return "NHWC"

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        net = self.net
        h, w, c = net.shape
        if image_shape is not None and tuple(image_shape) != net.shape:
            raise InputError(f"tiny net takes {net.shape} images; got {tuple(image_shape)}")
        k = net.weights.shape[1]
        if net.has_conv:
            channels = net.conv_weights.shape[1]
            info = (LayerInfo("conv", "conv", (h, w, channels),
                              layout=LayerLayout("channels_last", (h, w), channels, source="structure")),
                    LayerInfo("gap", "global_pool", (channels,)), LayerInfo("out", "dense", (k,)))
        else:
            info = (LayerInfo("flat", "flatten", (h * w * c,)), LayerInfo("dense", "dense", (k,)))
        names = tuple(i.name for i in info)
        return ModelSpec(net.shape, k, net.activation, names, layout="NHWC", layer_info=info, framework="numpy",
                         name="tiny_gap" if net.has_conv else "tiny_linear")

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def fingerprint(self) -> str:
        net = self.net
        digest = hashlib.sha256()
        for array in (net.weights, net.bias, net.conv_weights, net.conv_bias):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    # ----------------------------------------------------------------- scores
    def _spec(self) -> ModelSpec:
        return ModelSpec(self.net.shape, self.net.weights.shape[1], self.net.activation)

    def _class_scores(self, z: np.ndarray, score: Any) -> np.ndarray:
        if callable(score):
            raise InputError("the NumPy test engine explains classes, not score functions")
        return z if score == "logit" else self.net.outputs(z)

    def _targets(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.where(t < 0, predicted_classes(self.net.outputs(z), self._spec()), t).astype(np.int32)

    def _score_grad(self, z: np.ndarray, t: np.ndarray, score: str) -> np.ndarray:
        """``d score_t / d z`` ``(N, K)``: one-hot for logits, ``p_t (e_t - p)`` for softmax probabilities."""
        onehot = np.eye(z.shape[1])[t]
        if score == "logit" or self.net.activation == "linear":
            return onehot
        p = self.net.outputs(z)
        return p[np.arange(len(t)), t][:, None] * (onehot - p)

    def predict(self, x: np.ndarray) -> np.ndarray:
        net = self.net
        return net.outputs(net.logits(net.features(x))).astype(np.float32)

    def class_scores(self, x: np.ndarray, score: str) -> np.ndarray:
        return self._class_scores(self.net.logits(self.net.features(x)), score).astype(np.float32)

    def target_scores(self, x: np.ndarray, t: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = self.net.logits(self.net.features(x))
        used = self._targets(z, t)
        selected = self._class_scores(z, score)[np.arange(len(x)), used]
        return selected.astype(np.float32), self.net.outputs(z).astype(np.float32), used

    # ----------------------------------------------------------------- gradients
    def _feature_grad(self, features: np.ndarray, t: np.ndarray, score: str) -> np.ndarray:
        """``d score_t / d features`` ``(N, F)``."""
        return self._score_grad(self.net.logits(features), t, score) @ self.net.weights.T

    def _input_grad(self, x: np.ndarray, t: np.ndarray, score: str, rule: str = "plain") -> np.ndarray:
        net = self.net
        g = self._feature_grad(net.features(x), t, score)
        if not net.has_conv:
            return g.reshape(x.shape)
        pre = net.conv(x)[0]
        h, w = x.shape[1:3]
        g_act = np.broadcast_to(g[:, None, None, :] / (h * w), pre.shape)
        if not net.relu:
            g_pre = g_act
        elif rule == "plain":
            g_pre = g_act * (pre > 0)
        elif rule == "guided":
            g_pre = g_act * (pre > 0) * (g_act > 0)
        else:  # deconvnet
            g_pre = np.maximum(g_act, 0.0)
        return g_pre @ net.conv_weights.T

    def input_gradients(self, x: np.ndarray, t: np.ndarray, score: str, *, rule: str = "plain"
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if rule not in ("plain", "guided", "deconvnet"):
            raise ValueError(f"unknown gradient rule {rule!r}")
        if rule != "plain" and not (self.net.has_conv and self.net.relu):
            from xaikit.methods.gradients import relu_rule_message

            raise ModelError(relu_rule_message("tiny net", rule, "ReLU"))
        selected, outputs, used = self.target_scores(x, t, score)
        return self._input_grad(x, used, score, rule).astype(np.float32), outputs, used, selected

    def path_gradient_sums(self, x: np.ndarray, seg: np.ndarray, r: np.ndarray, e: np.ndarray, u: np.ndarray,
                           w: np.ndarray, t: np.ndarray, score: str, *, layer: str | None = None,
                           times_delta: bool = False, second_moment: bool = False) -> np.ndarray:
        expand = (slice(None),) + (None,) * (x.ndim - 1)
        delta = np.asarray(x, np.float64)[seg] + e - r
        points = r + u[expand] * delta
        sums, squares = [], []
        for j in range(t.shape[1]):
            if layer is None:
                g = self._input_grad(points, t[:, j], score)
            else:
                self.check_head(layer)
                h, wd = points.shape[1:3]
                g_f = self._feature_grad(points.mean(axis=(1, 2)), t[:, j], score)
                g = np.broadcast_to(g_f[:, None, None, :] / (h * wd), points.shape)
            if times_delta:
                g = g * delta
            total = np.zeros(x.shape, np.float64)
            np.add.at(total, seg, g * w[expand])
            sums.append(total)
            if second_moment:
                total = np.zeros(x.shape, np.float64)
                np.add.at(total, seg, g * g * w[expand])
                squares.append(total)
        out = np.stack([np.stack(sums), np.stack(squares)]) if second_moment else np.stack(sums)
        return out.astype(np.float32)

    # ----------------------------------------------------------------- layers
    def check_head(self, layer: str) -> None:
        if not self.net.has_conv or layer != "conv":
            raise LayerError(f"the tiny net runs its head from layer 'conv' only; got {layer!r}")

    def layer_gradients(self, x: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                        layout: LayerLayout | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self.check_head(layer)
        acts = self.net.conv(x)[1]
        _, outputs, used = self.target_scores(x, t, score)
        h, w = acts.shape[1:3]
        g_f = self._feature_grad(acts.mean(axis=(1, 2)), used, score)
        grads = np.broadcast_to(g_f[:, None, None, :] / (h * w), acts.shape)
        return acts.astype(np.float32), grads.astype(np.float32), outputs, used

    def layer_outputs(self, x: np.ndarray, layers: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        net = self.net
        features = net.features(x)
        known = {"flat": features, "dense": net.logits(features), "out": net.logits(features)}
        if net.has_conv:
            known = {"conv": net.conv(x)[1], "gap": features, "out": net.logits(features)}
        missing = [name for name in layers if name not in known]
        if missing:
            raise LayerError(f"unknown layers {missing}; the tiny net has {list(known)}")
        return {name: known[name].astype(np.float32) for name in layers}, self.predict(x)

    def probe(self, x: np.ndarray, score: str, layer: str | None, *, layout: LayerLayout | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if layer is not None:
            self.check_head(layer)
        acts = None if layer is None else self.net.conv(x)[1].astype(np.float32)
        return self.predict(x), self.class_scores(x, score), acts

    def head_scores(self, features: np.ndarray, t: np.ndarray, score: str, layer: str, *,
                    layout: LayerLayout | None = None) -> np.ndarray:
        self.check_head(layer)
        z = self.net.logits(np.asarray(features, np.float64).mean(axis=(1, 2)))
        return self._class_scores(z, score)[np.arange(len(t)), t].astype(np.float32)
