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

The template's parts live in their own modules: parameters declared and stored
(:mod:`xaikit.configurable`), the model's output selection and image checks
(:mod:`xaikit.described`), parameter resolution (:mod:`xaikit.param_resolution`), the
result's checks (:mod:`xaikit.result_checks`); activation extraction's base is
:mod:`xaikit.extractor` (:class:`ActivationExtractor`, re-exported here).
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .call_context import CallContext, call_scope
from .described import Described
from .explanation import PREVIEW_IMAGES, Explanation, RankedExplanations
from .extractor import ActivationExtractor
from .kernels import resize_maps
from .param_resolution import ParamResolution
from .progress import auto_progress
from .result_checks import check_maps, check_outputs, warn_constant
from .spec import (
    SCORES,
    ModelSpec,
    predicted_classes,
    resolve_score,
    targets_or_predicted,
    top_k_classes,
)
from .targets import resolve_targets
from .validation import check_positive_int

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


class Explainer(Described, ParamResolution, abc.ABC):
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
        check_outputs(outputs, self._label())
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
        check_outputs(outputs, self._label())
        check_maps(maps, self._label())
        warn_constant(maps, self._label(), params, spec)
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
