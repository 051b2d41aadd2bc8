"""The Explainer contract: one template for every method of every backend.

The base class owns everything that must behave the same everywhere: parameters
(declared in the catalogue, stored by the constructor scikit-learn style, validated once
from their schema), input validation, target normalisation, the predicted-class and
default-score rules, upsampling of layer maps, result checks, timing and the assembly
of the :class:`~xaikit.Explanation`. A backend implements:

``_describe(images)``
    The model's :class:`~xaikit.ModelSpec` for these images (its model services do it).
``_predict(images, batch_size)``
    The model's outputs for a batch, in chunks of ``batch_size``.
``_attribute(ctx)``
    The method itself, given the call's :class:`~xaikit.call_context.CallContext` (images,
    targets, resolved parameters, the model's description, the engine, outputs on
    demand); returns an :class:`Attribution`.

Native backends get the last two from the core's method implementations
(:mod:`xaikit.methods`) on their :class:`~xaikit.engine.Engine`; adapters of a library
write ``_attribute`` and declare, in ``param_changes``, only where their library's
parameters differ from the catalogue's.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import functools
import inspect
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .call_context import CallContext, call_scope
from .catalogue import COMMON_PARAMS, MethodSchema, Param, get_method, param_table, shared
from .errors import DegenerateMapWarning, InputError, ModelError, XaikitError
from .explanation import PREVIEW_IMAGES, Activations, Explanation, RankedExplanations, describe_array
from .kernels import resize_maps, resolve_baseline
from .layer_selection import select_layers
from .progress import auto_progress
from .registry import services_for
from .spec import (
    SCORES,
    ModelSpec,
    default_cam_layer,
    predicted_classes,
    resolve_score,
    targets_or_predicted,
    top_k_classes,
)
from .targets import resolve_targets
from .validation import as_numpy, check_images, check_positive_int

__all__ = [
    "ActivationExtractor",
    "Attribution",
    "CallContext",
    "Explainer",
    "ModelSpec",
    "SCORES",
    "predicted_classes",
    "resolve_score",
    "targets_or_predicted",
    "top_k_classes",
]


@dataclass
class Attribution:
    """What a backend's ``_attribute`` returns to the base class.

    Attributes
    ----------
    maps : numpy.ndarray
        ``(N, h, w)`` maps, at input resolution or (``at_layer=True``) at layer resolution.
    outputs : numpy.ndarray
        ``(N, K)`` model outputs for the unmodified images (``(N, ...)`` for a model that
        is not a classifier).
    targets : numpy.ndarray
        ``(N,)`` classes explained (resolved from the predictions when targets was None;
        anything for a score function: the result records the function instead).
    at_layer : bool
        If True, ``maps`` are at layer resolution and the base upsamples them.
    channels : numpy.ndarray or None
        Per-channel values before the channel reduction (model layout at the input,
        channels-last at a layer).
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
    """Parameters declared as :class:`~xaikit.catalogue.Param` s, stored by the constructor.

    Subclasses name their method (``method``); their parameters are the catalogue's
    (:data:`~xaikit.catalogue.COMMON_PARAMS` and the method's own) with the class's
    ``param_changes`` applied: another default, a backend-only parameter (under its own
    name when its meaning differs), or ``None`` for a parameter the backend does not take.
    """

    method: ClassVar[str]
    base_params: ClassVar[tuple[Param, ...]] = COMMON_PARAMS
    param_changes: ClassVar[Mapping[str, Param | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("method", getattr(cls, "method", None)), str):
            params = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
                       for name, p in cls.param_table().items()]
            cls.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]

    def __init__(self, model: Any, **params: Any) -> None:
        table = self.param_table()
        self.check_param_names(params)
        self.model = model
        for name, p in table.items():
            setattr(self, name, params.get(name, p.default))

    @classmethod
    def schema(cls) -> MethodSchema:
        """The method's catalogue entry."""
        return get_method(cls.method)

    @classmethod
    def param_table(cls) -> dict[str, Param]:
        """name -> :class:`~xaikit.catalogue.Param` of every parameter this class takes."""
        return _param_table(cls)

    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the keyword parameters of the constructor (``model`` excluded)."""
        return list(cls.param_table())

    @classmethod
    def check_param_names(cls, names: Iterable[str]) -> None:
        """Raise :class:`~xaikit.InputError` naming the parameters this class does not take, and those it does.

        The one check of parameter names: the constructor, :meth:`set_params` and
        :func:`xaikit.get_explainer` use it.
        """
        table = cls.param_table()
        unknown = [name for name in names if name not in table]
        if unknown:
            raise InputError(f"{cls._label()} has no parameter(s) {', '.join(map(repr, unknown))}; its parameters "
                             f"are: {', '.join(table)}")

    @classmethod
    def _label(cls) -> str:
        return f"{cls.method!r} ({getattr(cls, 'backend', '?')})"

    def get_params(self) -> dict[str, Any]:
        """The parameters as given to the constructor (not resolved)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params: Any) -> _Configurable:
        """Change parameters; unknown names raise with the list of valid ones."""
        self.check_param_names(params)
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({args})"


@functools.cache
def _param_table(cls: type) -> dict[str, Param]:
    schema = get_method(cls.method)
    return param_table((*cls.base_params, *schema.params), cls.param_changes)


class _Described(_Configurable):
    """Validation against the model's description, shared by explainers and extractors."""

    backend: ClassVar[str]

    @abc.abstractmethod
    def _describe(self, images: np.ndarray) -> ModelSpec:
        """The model's description for these (generically validated) images."""

    def _info(self) -> dict[str, Any]:
        """Provenance recorded in results (library versions)."""
        return {}

    def _bound_to_output(self) -> _Described:
        """This object, or a shallow copy of it running the model with ``output=`` applied.

        A model returning several outputs is run through its framework's selection
        (:meth:`xaikit.services.ModelServices.with_output`: a module or model returning
        the chosen tensor, with the same layers); everything a method and an adapter do
        then sees one ``(N, K)`` output. The copy leaves this object as the user made it.
        """
        output = getattr(self, "output", None)
        if self.__dict__.get("_output_bound"):
            return self
        try:
            services = services_for(self.model)
        except XaikitError:
            if output is None:
                return self
            raise
        selected = services.with_output(self.model, output)
        if selected is self.model:
            return self
        run = copy.copy(self)
        run.model = selected
        run._output_bound = True
        return run

    def _effective_output(self) -> Any:
        """The selection that was applied (``output=None`` resolved to a default key when one applied)."""
        return getattr(self.model, "selected_output", getattr(self, "output", None))

    def _recorded(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters a result records: no resolved internals (``_x``); ``output`` only when a selection
        was applied (the key used, a default such as ``'logits'`` included)."""
        out = {k: v for k, v in params.items() if not k.startswith("_") and k != "output"}
        output = self._effective_output()
        if output is not None:
            out["output"] = output
        return out

    def _model_layout(self) -> str:
        """How the model takes a batch before any image is seen (for messages about the images' shape): the
        layout of the model's description without images, NHWC when that cannot be had."""
        try:
            return self._describe_static().layout
        except (XaikitError, NotImplementedError, AttributeError):
            return "NHWC"

    def _describe_static(self) -> ModelSpec:
        raise NotImplementedError

    def _checked_images(self, images: Any) -> tuple[np.ndarray, ModelSpec]:
        arr = as_numpy(images)
        if arr.ndim == 3:  # one image without its batch axis? The model's shape tells
            try:
                spec = self._describe(arr[None])
            except XaikitError:
                spec = None
            check_images(arr, expected_shape=None if spec is None else spec.input_shape,
                         layout=self._model_layout() if spec is None else spec.layout)
        x = check_images(arr, layout=self._model_layout()) if arr.ndim != 4 else check_images(arr)
        spec = self._describe(x)
        return check_images(x, expected_shape=spec.input_shape, layout=spec.layout), spec


class Explainer(_Described, abc.ABC):
    """Base class of every attribution method.

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
    **params
        The method's parameters (see its catalogue entry, :func:`xaikit.catalogue.get_method`).
    """

    #: Why this class cannot explain a score function (empty: it can); see :mod:`xaikit.targets`.
    score_function_refusal: ClassVar[str] = ""
    #: Library-only parameters whose values make an adapter compute the catalogue's definition of its method
    #: (Captum's ``abs=False``, tf-explain's ``guided=False``); read by :func:`xaikit.alignment.align_params`.
    aligned_params: ClassVar[Mapping[str, Any]] = {}
    #: What an adapter's library cannot express of the definition, one sentence each (ditto).
    align_limits: ClassVar[tuple[str, ...]] = ()
    #: Whether ``_attribute`` takes a ``baseline`` of one reference per image (``"blur"``, an ``(N, ...)`` array):
    #: ``params["_baseline"]`` is then ``(N, *image shape)``, else one image's shape.
    per_image_baseline: ClassVar[bool] = False

    # ------------------------------------------------------------ backend hooks
    def _call_scope(self) -> contextlib.AbstractContextManager[Any]:
        """Entered around one ``explain`` call, after the output selection: within it, what a backend looks up
        about the model (its engine, its view) is found once (:func:`xaikit.call_context.once_per_call`)."""
        return call_scope()

    @abc.abstractmethod
    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        """Model outputs ``(N, K)`` for validated images."""

    @abc.abstractmethod
    def _attribute(self, ctx: CallContext) -> Attribution:
        """Compute the method for one call's :class:`~xaikit.call_context.CallContext` (``ctx.targets`` None means
        the predicted classes: :meth:`CallContext.targets_for`)."""

    def _call_engine(self) -> Any:
        """The engine the call's context carries (:attr:`CallContext.engine`); None here (an adapter)."""
        return None

    def _context(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any],
                 spec: ModelSpec) -> CallContext:
        """The call's context, built once per call (inside :meth:`_call_scope`)."""
        return CallContext(images, targets, params, spec, engine=self._call_engine(), predict=self._predict)

    def _default_score(self, spec: ModelSpec) -> str | None:
        """What ``score=None`` means: ``None`` is the core's rule (:func:`~xaikit.spec.resolve_score`).

        An adapter whose library explains something else by default (tf-explain and shap
        explain the model's output as it is) returns that score.
        """
        return None

    # ------------------------------------------------------------ parameters
    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        """Validate every parameter from its schema and return the effective values.

        Subclasses call ``super()._resolve_params`` and add derived values. Keys starting
        with ``_`` carry resolved internals (e.g. a baseline broadcast to the image shape)
        to ``_attribute`` and are not recorded in the result.
        """
        params: dict[str, Any] = {}
        for name, p in self.param_table().items():
            value = getattr(self, name)
            if p.kind == "score":
                chosen = self._default_score(spec) if value is None else p.check(value)
                # a model score is checked against the model; a library's own score (tf-explain's
                # "cross_entropy_loss") was checked against the adapter's choices
                params[name] = resolve_score(chosen, spec) if chosen is None or chosen in SCORES else chosen
            elif p.kind == "layer":
                params[name] = self._resolve_layer(value, spec, images)
            elif p.kind == "baseline":
                base, record = resolve_baseline(value, images, -1 if spec.layout == "NHWC" else 0, name=name)
                if base.ndim == images.ndim and not self.per_image_baseline:
                    raise InputError(f"{self.method} ({self.backend}) takes one {name} for every image; "
                                     f"{name}={_short(value)} gives one per image. Pass a number, one value per "
                                     f"channel, one image or {{'mean': references}} (a reference set's mean image); "
                                     f"a blurred baseline per image is supported by: integrated_gradients.")
                params[name] = _baseline_record(record)
                params["_" + name] = base
            elif p.kind == "images":
                arr = check_images(p.check(value), expected_shape=tuple(images.shape[1:]), layout=spec.layout,
                                   name=name)
                params[name] = describe_array(arr)
                params["_" + name] = arr
            else:
                params[name] = p.check(value)
        if "layer_layout" in params and isinstance(params.get("layer"), list):  # several layers (the CAMs)
            layouts = [spec.layer_layout(layer, params["layer_layout"]) for layer in params["layer"]]
            params["_layouts"] = layouts
            params["layer_layout"] = [layout.name for layout in layouts]
            params["layer_grid"] = [list(layout.grid) for layout in layouts]
        elif "layer_layout" in params and params.get("layer") is not None:
            layout = spec.layer_layout(params["layer"], params["layer_layout"])
            params["_layout"] = layout
            params["layer_layout"] = layout.name  # recorded: which tokens were dropped ("tokens:1")
            params["layer_grid"] = list(layout.grid)
        return params

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        """The effective ``layer``: checked against the model, or the method's default for None."""
        mode = self.schema().layer
        if layer is None:
            return default_cam_layer(spec, self.method) if mode == "auto" else None
        return spec.check_layer(layer, spatial=True, method=self.method)

    def _layer_of_params(self, params: Mapping[str, Any]) -> str | None:
        return params.get("layer")

    # ---------------------------------------------------------------- public API
    def explain(self, images: Any, targets: Any = None, *, progress: bool | None = None) -> Explanation:
        """Explain ``images`` for ``targets``.

        Parameters
        ----------
        images : array-like
            A batch as the model takes it (already preprocessed): ``(N, H, W, C)`` for
            Keras, ``(N, C, H, W)`` for PyTorch. Integer pixels are converted to float32
            unscaled.
        targets : None, int, sequence of int or callable
            ``None``: each image's predicted class. An int: that class for every image.
            A sequence: one class per image. A score function ``score(outputs) -> (N,)``
            in the model's framework, applied to the model's raw output (see
            :mod:`xaikit.targets`; ``score=`` must then be None).
        progress : bool or None
            A progress bar naming the method and backend (tqdm; a widget in Jupyter) for
            a call that lasts more than a second: None (default) when the session is
            interactive, True always, False never (:func:`xaikit.progress.auto_progress`).

        Returns
        -------
        Explanation
        """
        start = time.perf_counter()
        run = self._bound_to_output()
        if run is not self:
            return run.explain(images, targets, progress=progress)
        with self._call_scope():
            return self._explain(images, targets, progress, start)

    def _explain(self, images: Any, targets: Any, progress: bool | None, start: float) -> Explanation:
        x, spec = self._checked_images(images)
        resolved = resolve_targets(targets, len(x), spec, score=getattr(self, "score", None), who=self._label(),
                                   refusal=self.score_function_refusal)
        params = self._resolve_params(x, spec)
        if resolved.function is not None:  # the engines and adapters take it where they take the score
            params["score"] = resolved.function
        with auto_progress(f"{self.method} ({self.backend})", progress):
            result = self._attribute(self._context(x, resolved.classes, params, spec))
        return self._assemble(x, spec, params, result, start, target=resolved.description)

    def explain_ranked(self, images: Any, k: int = 2, *, class_names: Any = None,
                       progress: bool | None = None) -> RankedExplanations:
        """Explain each image's ``k`` highest-ranked classes (shap's ``ranked_outputs``).

        Returns a :class:`~xaikit.RankedExplanations`: a list of ``k`` Explanations, rank 0
        being each image's top class (their ``targets`` differ per image), that draws the
        ranks side by side (``.plot(images)``, and in a notebook) with ``class_names``
        (a sequence or mapping index -> name, e.g. ``xaikit.zoo.model_info(name).class_names``).
        Methods that can share work between the classes (expected gradients reuses its
        samples and forward passes) override ``_attribute_ranked``; ``elapsed`` of each is
        the shared total.
        """
        start = time.perf_counter()
        run = self._bound_to_output()
        if run is not self:
            return run.explain_ranked(images, k, class_names=class_names, progress=progress)
        with self._call_scope():
            return self._explain_ranked(images, k, class_names, progress, start)

    def _explain_ranked(self, images: Any, k: int, class_names: Any, progress: bool | None,
                        start: float) -> RankedExplanations:
        x, spec = self._checked_images(images)
        k = check_positive_int("k", k)
        resolve_targets(None, len(x), spec, who=self._label())  # ranks need class scores
        params = self._resolve_params(x, spec)
        outputs = self._predict(x, params["batch_size"])
        _check_outputs(outputs, self)
        ranked = top_k_classes(outputs, spec, k)
        with auto_progress(f"{self.method} ({self.backend}), top {k} classes", progress):
            results = self._attribute_ranked(self._context(x, None, params, spec), ranked)
        return RankedExplanations([self._assemble(x, spec, {**params, "rank": r, "ranked_outputs": k}, res, start)
                                   for r, res in enumerate(results)], class_names)

    def _attribute_ranked(self, ctx: CallContext, ranked: np.ndarray) -> list[Attribution]:
        """One :class:`Attribution` per rank: ``ranked`` ``(N, k)`` are the classes, highest first."""
        return [self._attribute(ctx.with_targets(ranked[:, r])) for r in range(ranked.shape[1])]

    # ----------------------------------------------------------------- assembly
    def _assemble(self, x: np.ndarray, spec: ModelSpec, params: dict[str, Any], result: Attribution,
                  start: float, target: str | None = None) -> Explanation:
        n = x.shape[0]
        height, width = (x.shape[1], x.shape[2]) if spec.layout == "NHWC" else (x.shape[2], x.shape[3])
        maps = np.asarray(result.maps, dtype=np.float32)
        if maps.ndim != 3 or maps.shape[0] != n:
            raise RuntimeError(f"backend {self.backend!r} returned maps of shape {maps.shape} for {n} images")
        outputs = np.asarray(result.outputs, dtype=np.float32)
        _check_outputs(outputs, self)
        _check_maps(maps, self)
        _warn_constant(maps, self, params, spec)
        layer_maps = None
        if result.at_layer:
            layer_maps = maps
            maps = resize_maps(maps, (height, width), interpolation="bilinear")
        elif maps.shape[1:] != (height, width):
            raise RuntimeError(f"backend {self.backend!r} returned {maps.shape[1:]} maps for {height}x{width} images")
        targets = np.asarray(result.targets, dtype=np.int64)
        recorded = self._recorded(params)  # no resolved internals ("_x"); the output selection applied
        if target is not None:  # a score function: recorded by name and parameters, no class
            targets = np.full(n, -1, np.int64)
            recorded.update(score="function", target=target)
        channels = None if result.channels is None else np.asarray(result.channels, dtype=np.float32)
        return Explanation(
            attributions=maps,
            method=self.method,
            backend=self.backend,
            targets=targets,
            outputs=outputs,
            predictions=predicted_classes(outputs, spec),
            params=recorded,
            elapsed=time.perf_counter() - start,
            score=recorded.get("score", "output"),
            target=target,
            layer=self._layer_of_params(params),
            layer_attributions=layer_maps,
            channel_attributions=channels,
            extras={k: np.asarray(v) for k, v in result.extras.items()},
            info=self._info(),
            layout=spec.layout,
            preview_images=np.array(x[:PREVIEW_IMAGES], dtype=np.float32),
        )


def _baseline_record(record: Any) -> Any:
    """How a result records a resolved baseline: arrays by shape and checksum (a reference set too), never by value."""
    if isinstance(record, np.ndarray):
        return describe_array(record)
    if isinstance(record, dict):
        return {k: describe_array(v) if isinstance(v, np.ndarray) else v for k, v in record.items()}
    return record


def _short(value: Any) -> str:
    return f"array{tuple(value.shape)}" if isinstance(value, np.ndarray) else repr(value)


def _check_outputs(outputs: np.ndarray, who: Any) -> None:
    """A model that returns NaN or Inf makes every map meaningless: say so instead of returning them."""
    finite = np.isfinite(outputs)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=tuple(range(1, outputs.ndim))))
        raise ModelError(f"the model returned NaN or Inf for {len(rows)} image(s) (first: image {int(rows[0])}); "
                         f"{who._label()} cannot explain them. Check the images' preprocessing (their range) and the "
                         "model (it may have diverged or overflow in float32).")


def _check_maps(maps: np.ndarray, who: Any) -> None:
    finite = np.isfinite(maps)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(maps), -1).all(axis=1))
        raise ModelError(f"{who._label()} produced NaN or Inf attributions for {len(rows)} image(s) (first: image "
                         f"{int(rows[0])}) although the model's outputs are finite: a gradient or a sum overflowed "
                         "float32, or a layer's gradient is not defined there (a normalisation of a constant input). "
                         "Rescale the inputs (or the noise/baseline) to the range the model was trained on.")


def _warn_constant(maps: np.ndarray, who: Any, params: Mapping[str, Any], spec: ModelSpec) -> None:
    """Warn (:class:`DegenerateMapWarning`) when every image's map is constant: it shows nothing; say why it may."""
    flat = maps.reshape(len(maps), -1)
    if flat.shape[1] < 2 or np.any(flat.max(axis=1) > flat.min(axis=1)):
        return
    value = float(flat[0, 0])
    causes = []
    layer = params.get("layer")
    info = spec.layer(layer) if isinstance(layer, str) else None
    if info is not None and info.layout is not None and info.layout.locations == 1:
        causes.append(f"layer {layer!r} has a 1x1 map (pick a layer with more locations)")
    if info is not None and info.map_reaches_output is False:
        causes.append(f"the class scores do not depend on layer {layer!r}'s map (a transformer's last token layers: "
                      "its head reads only the class token)")
    causes += ["a zero-initialised or untrained head (every class scores the same; torchvision's ViT heads start at "
               "zero)", "activations that vanish with depth under a random initialisation (torchvision GoogLeNet's, "
               "Keras MobileNetV2's: the scores change by less than float32 resolves, or tie)",
               "saturated inputs or dead ReLUs (zero gradients: check the preprocessing's range)"]
    if params.get("relu") and value == 0.0:
        causes.append("only negative evidence at the layer (relu=False keeps it)")
    warnings.warn(f"{who._label()} returned a constant map ({value:g}) for every image: it shows nothing. Likely "
                  f"causes: {'; '.join(causes)}.", DegenerateMapWarning, stacklevel=4)


class ActivationExtractor(_Described, abc.ABC):
    """Base class of activation (feature-map) extraction.

    Parameters
    ----------
    model
        The model.
    layers : None, str or sequence of str
        Layers to extract. ``None``: every convolution and pooling layer. Otherwise
        names, ``"first:N"`` (the first N top-level layers, the seeds'
        ``model.layers[:8]``), ``"all"``, or a kind (``"conv"``, ``"pool"``, ``"spatial"``),
        as items or comma-separated (:mod:`xaikit.layer_selection`). Unknown names raise
        with the candidates.
    batch_size : int
        Largest batch sent to the model at once.
    """

    method: ClassVar[str] = "activations"
    base_params: ClassVar[tuple[Param, ...]] = shared("batch_size", "output")

    def _selection(self) -> Any:
        """The ``layers`` selection, with layer objects (where a backend takes them) given by name."""
        return self.layers

    @abc.abstractmethod
    def _extract(self, images: np.ndarray, layers: list[str],
                 batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Return ``({layer: (N, ...)}, outputs (N, K))``."""

    def layers_for(self, images: Any) -> list[str]:
        """The layers :meth:`extract` would return for ``images`` (validates ``layers``; one probe pass at most)."""
        run = self._bound_to_output()
        if run is not self:
            return run.layers_for(images)  # type: ignore[attr-defined]
        _, spec = self._checked_images(images)
        return select_layers(self.layers, spec)

    def extract(self, images: Any) -> Activations:
        """Run the images through the model and return the chosen layers' outputs."""
        start = time.perf_counter()
        run = self._bound_to_output()
        if run is not self:
            return run.extract(images)  # type: ignore[attr-defined]
        x, spec = self._checked_images(images)
        batch_size = check_positive_int("batch_size", self.batch_size)
        layers = select_layers(self._selection(), spec)
        maps, outputs = self._extract(x, layers, batch_size)
        _check_outputs(np.asarray(outputs), self)
        layouts = {n: info.layout.name for n in layers if (info := spec.layer(n)) is not None and info.layout}
        return Activations(maps, backend=self.backend, elapsed=time.perf_counter() - start,
                           params=self._recorded({"layers": layers, "batch_size": batch_size,
                                                  "layer_layouts": layouts}),
                           outputs=outputs, info=self._info(), layout=spec.layout)
