"""The Explainer contract: one template for every method of every backend.

The base class owns everything that must behave the same everywhere: parameter
storage (constructor stores, scikit-learn style), input validation, target
normalisation, the predicted-class rule, upsampling of layer maps, timing and the
assembly of the :class:`~xaikit.Explanation`. A backend implements three hooks:

``_model_spec()``
    What the model accepts and returns (:class:`ModelSpec`), without running it.
``_predict(images, batch_size)``
    The model's outputs for a batch, in chunks of ``batch_size``.
``_attribute(images, targets, params)``
    The method itself; returns an :class:`Attribution`.

and a method adds its own parameters by extending ``_resolve_params``.
"""

from __future__ import annotations

import abc
import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import InputError, LayerError
from .explanation import Activations, Explanation
from .imaging import resize_maps
from .layer_selection import select_layers
from .validation import check_choice, check_images, check_positive_int, check_targets

__all__ = [
    "ActivationExtractor",
    "Attribution",
    "Explainer",
    "ModelSpec",
    "SCORES",
    "predicted_classes",
    "resolve_score",
    "top_k_classes",
]

SCORES = ("logit", "probability", "output")


@dataclass(frozen=True)
class ModelSpec:
    """What a backend knows about a model before running it.

    Attributes
    ----------
    input_shape : tuple
        ``(H, W, C)`` with ``None`` for free dimensions.
    n_outputs : int
        Width K of the model's output.
    output_activation : str
        ``"softmax"``, ``"sigmoid"``, ``"linear"`` or ``"unknown"`` (subclassed models).
    layers : tuple of str
        Names of the layers the backend can reach, in model order.
    top_layers : tuple of str
        The top-level layers, input layers excluded (what ``model.layers[:N]`` indexes);
        empty means the same as ``layers``.
    """

    input_shape: tuple[int | None, int | None, int | None]
    n_outputs: int
    output_activation: str
    layers: tuple[str, ...] = ()
    top_layers: tuple[str, ...] = ()

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
        """Number of explainable classes (2 for a single-sigmoid binary model)."""
        return 2 if self.binary else self.n_outputs


def predicted_classes(outputs: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """The predicted class per row: argmax, or ``p > 0.5`` for a single sigmoid."""
    outputs = np.asarray(outputs)
    if spec.binary:
        return (outputs[:, 0] > spec.binary_threshold).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def top_k_classes(outputs: np.ndarray, spec: ModelSpec, k: int) -> np.ndarray:
    """``(N, k)`` classes ranked by output, highest first (for ``explain_ranked``)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if spec.binary:
        scores = np.concatenate([1.0 - outputs, outputs] if spec.output_activation == "sigmoid" else [-outputs, outputs],
                                axis=1)
    else:
        scores = outputs
    if k > scores.shape[1]:
        raise InputError(f"k={k} but the model has only {scores.shape[1]} classes")
    return np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)


def resolve_score(score: str | None, spec: ModelSpec) -> str:
    """Resolve the ``score`` parameter against what the model's output is.

    ``None`` means the pre-activation logit when the model's last activation is known
    (softmax, sigmoid or linear), else the raw output.
    """
    if score is None:
        return "logit" if spec.output_activation in ("softmax", "sigmoid", "linear") else "output"
    check_choice("score", score, SCORES)
    if score == "logit" and spec.output_activation not in ("softmax", "sigmoid", "linear"):
        raise InputError("score='logit' needs to know the model's last activation, which xaikit cannot see in "
                         "this model (a subclassed model or an unusual last layer); use score='output' to explain "
                         "the raw output, or give the model a final Dense/Activation layer.")
    if score == "probability" and spec.output_activation not in ("softmax", "sigmoid"):
        alternative = "score='output'" if spec.output_activation == "unknown" else "score='logit' (or 'output')"
        raise InputError(f"score='probability' needs a model ending in softmax or sigmoid; this model's last "
                         f"activation is {spec.output_activation!r}. Use {alternative}.")
    return score


@dataclass
class Attribution:
    """What a backend's ``_attribute`` returns to the base class.

    Attributes
    ----------
    maps : numpy.ndarray
        ``(N, h, w)`` maps, at input resolution or (``at_layer=True``) at layer resolution.
    outputs : numpy.ndarray
        ``(N, K)`` model outputs for the unmodified images.
    targets : numpy.ndarray
        ``(N,)`` classes explained (resolved from the predictions when targets was None).
    at_layer : bool
        If True, ``maps`` are at layer resolution and the base upsamples them.
    channels : numpy.ndarray or None
        Per-channel values before the channel reduction.
    extras : dict
        Method diagnostics.
    """

    maps: np.ndarray
    outputs: np.ndarray
    targets: np.ndarray
    at_layer: bool = False
    channels: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class _Configurable:
    """Constructor-stored parameters, scikit-learn style."""

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword parameters of the constructor (``model`` excluded)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name not in ("self", "model") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to the constructor (not resolved)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> _Configurable:
        """Change parameters; unknown names raise with the list of valid ones."""
        valid = self.param_names()
        for name, value in params.items():
            if name not in valid:
                raise InputError(f"{type(self).__name__} has no parameter {name!r}; parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"


class Explainer(_Configurable, abc.ABC):
    """Base class of every attribution method.

    Subclasses declare ``method`` and ``backend``, take their parameters as keyword
    arguments in ``__init__`` (storing them unchanged) and implement the hooks listed
    in the module docstring.

    Parameters
    ----------
    model
        The model to explain, in the backend's framework.
    batch_size : int
        Largest batch sent to the model at once. Noisy samples, occlusion patches,
        interpolation steps and background samples are streamed in chunks of at most
        this many images, so it bounds peak memory.
    score : {None, "logit", "probability", "output"}
        What to explain. ``None``: the pre-softmax/pre-sigmoid logit when the model's
        last activation is known, else the raw output.
    """

    method: ClassVar[str]
    backend: ClassVar[str]

    def __init__(self, model: Any, *, batch_size: int = 32, score: str | None = None) -> None:
        self.model = model
        self.batch_size = batch_size
        self.score = score

    # ------------------------------------------------------------ backend hooks
    @abc.abstractmethod
    def _model_spec(self) -> ModelSpec:
        """Describe the model (input shape, outputs, layers)."""

    @abc.abstractmethod
    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """Model outputs ``(N, K)`` for validated images."""

    @abc.abstractmethod
    def _attribute(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]) -> Attribution:
        """Compute the method. ``targets`` None means the predicted classes."""

    def _info(self) -> dict[str, Any]:
        """Provenance recorded in results (library versions)."""
        return {}

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        """Validate the parameters and return their effective values.

        Subclasses call ``super()._resolve_params`` and add their own. Keys starting
        with ``_`` carry resolved internals (e.g. a baseline broadcast to the image
        shape) to ``_attribute`` and are not recorded in the result.
        """
        return {
            "batch_size": check_positive_int("batch_size", self.batch_size),
            "score": resolve_score(self.score, spec),
        }

    def _layer_of_params(self, params: Mapping[str, Any]) -> str | None:
        return params.get("layer")

    # ---------------------------------------------------------------- public API
    def explain(self, images: Any, targets: Any = None) -> Explanation:
        """Explain ``images`` for ``targets``.

        Parameters
        ----------
        images : array-like
            ``(N, H, W, C)`` channels-last batch, as the model takes it (already
            preprocessed). Integer pixels are converted to float32 unscaled.
        targets : None, int or sequence of int
            ``None``: each image's predicted class. An int: that class for every image.
            A sequence: one class per image.

        Returns
        -------
        Explanation
        """
        start = time.perf_counter()
        spec = self._model_spec()
        x = check_images(images, expected_shape=spec.input_shape)
        params = self._resolve_params(x, spec)
        t = None if targets is None else check_targets(targets, len(x), spec.n_classes)
        result = self._attribute(x, t, params)
        return self._assemble(x, spec, params, result, start)

    def explain_ranked(self, images: Any, k: int = 2) -> list[Explanation]:
        """Explain each image's ``k`` highest-ranked classes (shap's ``ranked_outputs``).

        Returns a list of ``k`` Explanations, rank 0 being each image's top class; their
        ``targets`` differ per image. Methods that can share work between the classes
        (expected gradients reuses its samples and forward passes) override
        ``_attribute_ranked``; ``elapsed`` of each is the shared total.
        """
        start = time.perf_counter()
        spec = self._model_spec()
        x = check_images(images, expected_shape=spec.input_shape)
        k = check_positive_int("k", k)
        params = self._resolve_params(x, spec)
        outputs = self._predict(x, params["batch_size"])
        ranked = top_k_classes(outputs, spec, k)
        results = self._attribute_ranked(x, ranked, params)
        return [self._assemble(x, spec, {**params, "rank": r, "ranked_outputs": k}, res, start)
                for r, res in enumerate(results)]

    def _attribute_ranked(self, images: np.ndarray, ranked: np.ndarray, params: dict[str, Any]) -> list[Attribution]:
        return [self._attribute(images, ranked[:, r], params) for r in range(ranked.shape[1])]

    # ----------------------------------------------------------------- assembly
    def _assemble(self, x: np.ndarray, spec: ModelSpec, params: dict[str, Any], result: Attribution,
                  start: float) -> Explanation:
        n, height, width = x.shape[:3]
        maps = np.asarray(result.maps, dtype=np.float32)
        if maps.ndim != 3 or maps.shape[0] != n:
            raise RuntimeError(f"backend {self.backend!r} returned maps of shape {maps.shape} for {n} images")
        layer_maps = None
        if result.at_layer:
            layer_maps = maps
            maps = resize_maps(maps, (height, width), interpolation="bilinear")
        elif maps.shape[1:] != (height, width):
            raise RuntimeError(f"backend {self.backend!r} returned {maps.shape[1:]} maps for {height}x{width} images")
        outputs = np.asarray(result.outputs, dtype=np.float32)
        targets = np.asarray(result.targets, dtype=np.int64)
        channels = None if result.channels is None else np.asarray(result.channels, dtype=np.float32)
        return Explanation(
            attributions=maps,
            method=self.method,
            backend=self.backend,
            targets=targets,
            outputs=outputs,
            predictions=predicted_classes(outputs, spec),
            params={k: v for k, v in params.items() if not k.startswith("_")},  # "_x": resolved internals
            elapsed=time.perf_counter() - start,
            score=params.get("score", "output"),
            layer=self._layer_of_params(params),
            layer_attributions=layer_maps,
            channel_attributions=channels,
            extras={k: np.asarray(v) for k, v in result.extras.items()},
            info=self._info(),
        )


class ActivationExtractor(_Configurable, abc.ABC):
    """Base class of activation (feature-map) extraction.

    Parameters
    ----------
    model
        The model.
    layers : None, str or sequence of str
        Layers to extract. ``None``: every convolution and pooling layer. Otherwise
        names, ``"first:N"`` (the first N top-level layers, the seeds'
        ``model.layers[:8]``) or ``"all"``, as items or comma-separated
        (:mod:`xaikit.layer_selection`). Unknown names raise with the candidates.
    batch_size : int
        Largest batch sent to the model at once.
    """

    method: ClassVar[str] = "activations"
    backend: ClassVar[str]

    def __init__(self, model: Any, *, layers: str | list[str] | None = None, batch_size: int = 32) -> None:
        self.model = model
        self.layers = layers
        self.batch_size = batch_size

    @abc.abstractmethod
    def _model_spec(self) -> ModelSpec: ...

    @abc.abstractmethod
    def _default_layers(self) -> list[str]:
        """Layers extracted when ``layers`` is None."""

    @abc.abstractmethod
    def _extract(self, images: np.ndarray, layers: list[str], batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Return ``({layer: (N, ...)}, outputs (N, K))``."""

    def _info(self) -> dict[str, Any]:
        return {}

    def _resolve_layers(self, spec: ModelSpec) -> list[str]:
        if self.layers is None:
            layers = self._default_layers()
            if not layers:
                raise LayerError(f"the model has no convolution or pooling layer to extract by default; "
                                 f"name layers explicitly (layers=[...]) among: {', '.join(spec.layers)}")
            return layers
        return select_layers(self.layers, spec.layers, spec.top_layers or spec.layers)

    def extract(self, images: Any) -> Activations:
        """Run the images through the model and return the chosen layers' outputs."""
        start = time.perf_counter()
        spec = self._model_spec()
        x = check_images(images, expected_shape=spec.input_shape)
        batch_size = check_positive_int("batch_size", self.batch_size)
        layers = self._resolve_layers(spec)
        maps, outputs = self._extract(x, layers, batch_size)
        return Activations(maps, backend=self.backend, elapsed=time.perf_counter() - start,
                           params={"layers": layers, "batch_size": batch_size}, outputs=outputs, info=self._info())
