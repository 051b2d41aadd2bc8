"""What xaikit knows about a model: :class:`ModelSpec`, and the rules every backend shares.

The rules here are the core's, so every backend follows them the same way: which
class is predicted (:func:`predicted_classes`), what ``score=None`` means
(:func:`resolve_score`: the one default-score rule), which layer a CAM uses by default
(:func:`default_cam_layer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError, LayerError
from .layer_layout import LayerLayout, layout_for

__all__ = [
    "LAYOUTS",
    "LayerInfo",
    "ModelSpec",
    "SCORES",
    "default_cam_layer",
    "predicted_classes",
    "resolve_score",
    "targets_or_predicted",
    "top_k_classes",
]

SCORES = ("logit", "probability", "output")
#: Image layouts: Keras takes channels last, PyTorch channels first.
LAYOUTS = ("NHWC", "NCHW")
#: Layer kinds an engine reports (:attr:`LayerInfo.kind`).
LAYER_KINDS = ("conv", "pool", "global_pool", "activation", "norm", "dense", "flatten", "dropout", "reshape",
               "container", "block", "other")


@dataclass(frozen=True)
class LayerInfo:
    """One layer (module) of a model, as an engine sees it.

    Attributes
    ----------
    name : str
        The name methods take (Keras layer name, PyTorch module path).
    kind : str
        One of ``conv``, ``pool``, ``global_pool``, ``activation``, ``norm``, ``dense``,
        ``flatten``, ``dropout``, ``reshape``, ``container`` (a nested model, an
        ``nn.Sequential``: its output is one of its layers'), ``block`` (a module computing
        its own output from sub-modules, such as a residual block), ``other``.
    output_shape : tuple or None
        Per-image output shape in the model's layout, at the described image size
        (``None`` when the layer did not run or returns several tensors).
    calls : int
        Times the layer ran in one forward pass (a shared layer runs several times).
    layout : LayerLayout or None
        Where the map is in the output (:mod:`xaikit.layer_layout`: channels-first,
        channels-last, tokens with the class/register tokens dropped), decided by the
        engine from the model's structure and the shapes seen; None when the output holds
        no map, or when it is undecided.
    undecided : str
        Why the layout could not be decided (the output could be read two ways); the
        layer is then used only with ``layer_layout=``.
    map_reaches_output : bool or None
        Whether the class scores depend on the map's locations (False for a transformer's
        last token layers, whose patch tokens the class-token head never reads); None when
        not checked.
    """

    name: str
    kind: str
    output_shape: tuple[int | None, ...] | None = None
    calls: int = 1
    layout: LayerLayout | None = None
    undecided: str = ""
    map_reaches_output: bool | None = None

    @property
    def spatial(self) -> bool:
        """Whether the layer outputs a map per channel (its :attr:`layout` is known)."""
        return self.layout is not None

    @property
    def grid(self) -> tuple[int, int] | None:
        """``(h, w)`` of the layer's map (None when it holds none)."""
        return None if self.layout is None else self.layout.grid

    @property
    def usable(self) -> bool:
        """A map a method can read: known layout, run once per forward pass, not a container's repeat."""
        return self.spatial and self.calls == 1 and self.kind != "container"


@dataclass(frozen=True)
class ModelSpec:
    """What a backend knows about a model, given the images to explain.

    Attributes
    ----------
    input_shape : tuple
        One image's shape in the model's layout, ``(H, W, C)`` or ``(C, H, W)``, ``None``
        for free dimensions.
    n_outputs : int
        Width K of the model's output.
    output_activation : str
        ``"softmax"``, ``"sigmoid"``, ``"linear"`` or ``"unknown"``.
    layers : tuple of str
        Names of the layers the backend can reach, in model order.
    top_layers : tuple of str
        The top-level layers, input layers excluded (what ``model.layers[:N]`` indexes);
        empty means the same as ``layers``.
    layout : str
        ``"NHWC"`` (Keras) or ``"NCHW"`` (PyTorch): how the model takes a batch.
    layer_info : tuple of LayerInfo
        The layers with their kinds and, when described with images, their output shapes,
        in the order they finish during a forward pass.
    framework : str
        ``"keras"``, ``"torch"``, ``"callable"``...
    name : str
        The model's name, for messages.
    no_logit : str
        Why the logit cannot be computed although the last activation is known (a black
        box that returns only probabilities); empty when it can. :func:`resolve_score`
        then explains the output by default and refuses ``score="logit"`` with this reason.
    output_shape : tuple of int or None
        One image's output shape when it is not ``(K,)`` class scores (a segmentation
        model's ``(K, H, W)``); ``None``: a classifier's ``(n_outputs,)``. Such a model
        is explained for a score function (:mod:`xaikit.targets`), never a class index.
    """

    input_shape: tuple[int | None, ...]
    n_outputs: int
    output_activation: str
    layers: tuple[str, ...] = ()
    top_layers: tuple[str, ...] = ()
    layout: str = "NHWC"
    layer_info: tuple[LayerInfo, ...] = field(default=(), compare=False)
    framework: str = ""
    name: str = ""
    no_logit: str = ""
    output_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}; got {self.layout!r}")

    @property
    def channel_axis(self) -> int:
        """The channel axis of a batch: 3 (NHWC) or 1 (NCHW)."""
        return 3 if self.layout == "NHWC" else 1

    @property
    def channels(self) -> int | None:
        """Input channels (None when free)."""
        return self.input_shape[2] if self.layout == "NHWC" else self.input_shape[0]

    @property
    def image_size(self) -> tuple[int | None, int | None]:
        """``(H, W)`` of the input (None for free dimensions)."""
        shape = self.input_shape
        return (shape[0], shape[1]) if self.layout == "NHWC" else (shape[1], shape[2])

    @property
    def classifier(self) -> bool:
        """Whether the output is ``(N, K)`` class scores (else only a score function can be explained)."""
        return self.output_shape is None or len(self.output_shape) == 1

    @property
    def binary(self) -> bool:
        """A single sigmoid or logit unit: two classes, 0 (negative) and 1 (positive).

        A one-unit linear output is read as the logit of a binary classifier (a
        ``Dense(1)`` trained with ``from_logits=True``).
        """
        return self.n_outputs == 1 and self.output_activation in ("sigmoid", "linear")

    @property
    def binary_threshold(self) -> float:
        """The output above which a binary model predicts class 1 (0.5 for p, 0 for a logit)."""
        return 0.5 if self.output_activation == "sigmoid" else 0.0

    @property
    def n_classes(self) -> int:
        """Number of explainable classes (2 for a single-unit binary model)."""
        return 2 if self.binary else self.n_outputs

    def layer(self, name: str) -> LayerInfo | None:
        """The :class:`LayerInfo` of ``name`` (None if unknown)."""
        for info in self.layer_info:
            if info.name == name:
                return info
        return None

    def layer_channels(self, name: str) -> int | None:
        """The channel count of layer ``name``'s per-image output in the model's layout (None if unknown)."""
        info = self.layer(name)
        if info is not None and info.layout is not None:
            return info.layout.channels
        if info is None or not info.output_shape:
            return None
        return int(info.output_shape[-1] if self.layout == "NHWC" else info.output_shape[0])

    def grids(self) -> list[tuple[int, int]]:
        """The grids ``(h, w)`` the model's maps have (what a token layer's count is matched against)."""
        return list(dict.fromkeys(info.layout.grid for info in self.layer_info
                                  if info.layout is not None and info.layout.kind != "tokens"))

    def layer_layout(self, name: str, given: object = None) -> LayerLayout:
        """The layout a method reads layer ``name``'s output with: ``given`` (``layer_layout=``) or the decided one.

        Raises :class:`LayerError` naming ``layer_layout=`` when the layout is undecided,
        and when the output holds no map (the message lists the likely layers).
        """
        info = self.layer(name)
        shape = None if info is None else info.output_shape
        try:
            return layout_for(name, shape, given, None if info is None else info.layout,
                              "" if info is None else info.undecided, self.image_size, self.grids())
        except LayerError as exc:
            if given is None and (info is None or not info.undecided):
                raise LayerError(f"{exc}. {self._likely_layers_text()}") from None
            raise

    def likely_layers(self) -> list[str]:
        """The last usable map layer at each resolution (more than 1x1), in model order: the stage outputs, where a
        CAM usually looks (pooling, dropout and permutation layers that repeat a stage's map are stepped over)."""
        groups: list[list[LayerInfo]] = []
        for info in self.layer_info:
            if not info.usable or info.layout is None or info.layout.locations < 2:
                continue
            if groups and groups[-1][-1].grid == info.grid:
                groups[-1].append(info)
            else:
                groups.append([info])
        out = []
        for group in groups:
            kept = [info for info in group if info.kind not in _TRAILING] or group
            out.append(kept[-1].name)
        return out

    def _likely_layers_text(self) -> str:
        usable = self.spatial_layers()
        if 0 < len(usable) <= _FEW_LAYERS:
            return f"spatial layers: {', '.join(usable)}"
        likely = self.likely_layers()
        if not likely:
            return "This model has no layer with a spatial map (at this image size)."
        grids = {info.name: info.grid for info in self.layer_info}
        shown = ", ".join(f"{n} ({grids[n][0]}x{grids[n][1]})" for n in likely)  # type: ignore[index]
        return (f"Layers with a map (the last at each resolution): {shown}; list them all with "
                "xk.get_extractor(model, layers='spatial').layers_for(images)")

    def spatial_layers(self) -> list[str]:
        """Layers with a per-channel map output that a method can use, in the order they finish (nested models
        excluded: their inner layers are listed; layers that run twice excluded)."""
        return [info.name for info in self.layer_info if info.usable]

    def check_layer(self, layer: object, *, spatial: bool, method: str) -> str:
        """Validate a layer name for ``method``; raise :class:`LayerError` naming the candidates."""
        if not isinstance(layer, str):
            raise LayerError(f"layer must be a layer name (str); got {layer!r}. Layers {method} can use: "
                             f"{self._candidates(spatial)}")
        if layer not in self.layers:
            raise LayerError(f"model {self.name!r} has no layer {layer!r}; layers {method} can use: "
                             f"{self._candidates(spatial)}")
        info = self.layer(layer)
        if info is not None and info.calls > 1:
            raise LayerError(f"layer {layer!r} is called {info.calls} times in one forward pass (a shared layer); "
                             "its output is ambiguous. Pick a layer that is used once.")
        if spatial and (info is None or not info.spatial) and not (info is not None and info.undecided):
            shape = None if info is None else info.output_shape
            shown = "unknown (it did not run)" if shape is None else "(N, " + ", ".join(map(str, shape)) + ")"
            raise LayerError(f"layer {layer!r} outputs shape {shown}, not a spatial map per channel, so {method} "
                             f"cannot use it. {self._likely_layers_text()}")
        return layer

    def _candidates(self, spatial: bool) -> str:
        """The layers an error about a bad layer name lists (built only for the message: a valid name, checked on
        every call, costs a look-up)."""
        if not spatial:
            return ", ".join(self.layers)
        usable = self.spatial_layers()
        if len(usable) <= _FEW_LAYERS:
            return ", ".join(usable)
        # hundreds on a transformer: the stage outputs, and how to list them all
        return (", ".join(self.likely_layers()) + " (the last at each resolution; list all with "
                "xk.get_extractor(model, layers='spatial').layers_for(images))")


def predicted_classes(outputs: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The predicted class per row: argmax, or above the threshold for a single-unit binary model.

    ``-1`` for every row of a model whose output is not ``(N, K)`` class scores.
    """
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or not spec.classifier:
        return np.full(len(outputs), -1, np.int64)
    if spec.binary:
        return (outputs[:, 0] > spec.binary_threshold).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def targets_or_predicted(targets: np.ndarray | None, outputs: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The classes to explain: ``targets`` as int64, or each image's predicted class when ``targets`` is None.

    The one place of the rule "no target given: explain the prediction"; every method
    and adapter resolves its targets here, through its call's context
    (:meth:`xaikit.call_context.CallContext.targets_for`), after :func:`xaikit.targets.resolve_targets`.
    """
    if targets is None:
        return predicted_classes(outputs, spec)
    return np.asarray(targets, np.int64)


def top_k_classes(outputs: np.ndarray, spec: ModelSpec, k: int) -> np.ndarray:
    """``(N, k)`` classes ranked by output, highest first (for ``explain_ranked``)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if spec.binary:
        columns = [1.0 - outputs, outputs] if spec.output_activation == "sigmoid" else [-outputs, outputs]
        scores = np.concatenate(columns, axis=1)
    else:
        scores = outputs
    if k > scores.shape[1]:
        raise InputError(f"k={k} but the model has only {scores.shape[1]} classes")
    return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)


def resolve_score(score: str | None, spec: ModelSpec) -> str:
    """Resolve the ``score`` parameter against what the model's output is: the one default-score rule.

    ``None`` means the pre-activation logit when the model's last activation is known
    (softmax, sigmoid or linear) and the logit can be computed (:attr:`ModelSpec.no_logit`),
    else the raw output. Adapters whose library explains something else by default say
    so by passing their own default here.
    """
    known = spec.output_activation in ("softmax", "sigmoid", "linear")
    if score is None:
        return "logit" if known and not spec.no_logit else "output"
    if score not in SCORES:
        raise InputError(f"score must be one of {', '.join(map(repr, SCORES))}; got {score!r}.")
    if score == "logit" and known and spec.no_logit:
        raise InputError(f"score='logit' is not available for this model: {spec.no_logit}")
    if score == "logit" and not known:
        raise InputError("score='logit' needs to know the model's last activation, which xaikit cannot see in "
                         "this model (a subclassed model, a black box, or an unusual last layer); use "
                         "score='output' to explain the raw output, or give the model a final Dense/Activation "
                         "layer (nn.Softmax / nn.Sigmoid for PyTorch).")
    if score == "probability" and spec.output_activation not in ("softmax", "sigmoid"):
        alternative = "score='output'" if spec.output_activation == "unknown" else "score='logit' (or 'output')"
        raise InputError(f"score='probability' needs a model ending in softmax or sigmoid; this model's last "
                         f"activation is {spec.output_activation!r}. Use {alternative}.")
    return score


#: Up to this many spatial layers, messages list them all; beyond, the last at each resolution.
_FEW_LAYERS = 12

#: Layer kinds a default CAM layer steps back over: they repeat the map of the layer before them.
_TRAILING = ("pool", "global_pool", "dropout", "reshape", "flatten")


def default_cam_layer(spec: ModelSpec, method: str) -> str:
    """The layer a CAM uses by default: the last map with more than one location, before the head.

    The candidates are the layers whose output holds a map (:attr:`LayerInfo.layout`:
    channels-first, channels-last or tokens) of more than 1x1 locations, that run once
    per forward pass, are not containers (nested models, ``nn.Sequential``: their layers
    are candidates) and whose map reaches the class scores (a transformer's last token
    layers do not: its class-token head reads only the class token). Whatever the head
    is made of -- a global pool (a 1x1 map), LayerNorm/BatchNorm after the pool, Flatten,
    Dropout, Linear, 1x1 convolutions after the pool -- its outputs have no map of
    more than one location and are not candidates. Of the candidates the last one to
    finish is taken, stepping back over pooling, dropout and permutation layers that
    only repeat the map before them (VGG16: ``block5_conv3``, not ``block5_pool``; Swin:
    ``norm``, not the ``permute`` after it), as Grad-CAM's paper and the tutorials use it
    (torchvision ResNet-18: ``layer4.1``; ConvNeXt-T: ``features.7.2``; ViT-B/16:
    ``encoder.layers.encoder_layer_11.ln_1``, the last token layer the class token reads).
    """
    maps = [info for info in spec.layer_info if info.usable and info.map_reaches_output is not False]
    wide = [info for info in maps if info.layout is not None and info.layout.locations > 1]
    if not wide:
        if maps:
            raise LayerError(f"model {spec.name!r} has no layer with a map of more than 1x1 locations at this image "
                             f"size {spec.image_size}, so {method} would give a constant map; use larger images "
                             f"(the layers with maps: {', '.join(info.name for info in maps)}) or pass layer=...")
        raise LayerError(f"model {spec.name!r} has no layer with a spatial output, so {method} has no feature maps "
                         f"to weight; its layers are: {', '.join(spec.layers)}")
    for info in reversed(wide):
        if info.kind not in _TRAILING:
            return info.name
    return wide[-1].name
