"""The base of the core's method implementations: an Explainer computed on an engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..engine import Engine
from ..explainer import ActivationExtractor, Explainer
from ..kernels import chunks, stream_rows
from ..spec import ModelSpec, predicted_classes

__all__ = ["EngineExplainer", "EngineExtractor", "graph_targets", "stream_sums"]


def graph_targets(targets: np.ndarray | None, n: int) -> np.ndarray:
    """int32 targets for engine primitives, ``-1`` meaning "the predicted class"."""
    return np.full(n, -1, np.int32) if targets is None else targets.astype(np.int32)


class _EngineBound:
    """What every class bound to a native backend shares: its engine, the description, versions."""

    #: ``model -> Engine``, set when the registry binds the method to a backend.
    engine_factory: ClassVar[Callable[[Any], Engine]]
    model: Any

    def _engine(self) -> Engine:
        return type(self).engine_factory(self.model)

    def _describe(self, images: np.ndarray) -> ModelSpec:
        return self._engine().describe(tuple(images.shape[1:]))

    def _info(self) -> dict[str, Any]:
        return self._engine().versions()


class EngineExplainer(_EngineBound, Explainer):
    """An attribution method written once on the engine primitives (:mod:`xaikit.engine`)."""

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["_spec"] = spec
        return params

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        return super()._resolve_layer(self._engine().layer_name(layer), spec, images)

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        engine = self._engine()
        return np.concatenate([engine.predict(images[s]) for s in chunks(len(images), batch_size)])

    def _outputs_and_targets(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Model outputs and the targets (the predicted classes when ``targets`` is None)."""
        outputs = self._predict(images, params["batch_size"])
        if targets is None:
            targets = predicted_classes(outputs, params["_spec"])
        return outputs, np.asarray(targets, np.int64)

    def _target_scores(self, images: np.ndarray, targets: np.ndarray | None, params: dict[str, Any]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(score of the target, outputs, targets used)`` per image, in chunks."""
        engine = self._engine()
        t_in = graph_targets(targets, len(images))
        parts = [engine.target_scores(images[s], t_in[s], params["score"])
                 for s in chunks(len(images), params["batch_size"])]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


class EngineExtractor(_EngineBound, ActivationExtractor):
    """Activation extraction on the engine: the chosen layers' outputs, one pass per chunk."""

    def _selection(self) -> Any:
        engine, layers = self._engine(), self.layers
        if isinstance(layers, (list, tuple)):
            return [engine.layer_name(layer) for layer in layers]
        return engine.layer_name(layers)

    def _extract(self, images: np.ndarray, layers: list[str], batch_size: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        engine = self._engine()
        parts: dict[str, list[np.ndarray]] = {n: [] for n in layers}
        outputs = []
        for s in chunks(len(images), batch_size):
            maps, out = engine.layer_outputs(images[s], layers)
            for name in layers:
                parts[name].append(maps[name])
            outputs.append(out)
        return {n: np.concatenate(v) for n, v in parts.items()}, np.concatenate(outputs)


def stream_sums(engine: Engine, x: np.ndarray, n_rows: int, batch_size: int,
                prepare: Callable[[slice], tuple[np.ndarray, ...]], *, score: str, k: int = 1,
                layer: str | None = None, times_delta: bool = False) -> np.ndarray:
    """Run :meth:`Engine.path_gradient_sums` over ``n_rows`` sample rows; ``(k, *x.shape)`` float64 sums.

    ``prepare(rows)`` returns ``(used, seg, r, e, u, w, t)`` for those rows, ``used``
    being the images the rows belong to (indices into ``x``) and ``seg`` each row's
    position among them. Rows are streamed as :func:`xaikit.kernels.stream_rows` does.
    """
    totals = np.zeros((k, *x.shape), np.float64)

    def compute(prepared: tuple[np.ndarray, ...]) -> np.ndarray:
        used, *rest = prepared
        return engine.path_gradient_sums(x[used], *rest, score, layer=layer, times_delta=times_delta)

    def consume(rows: slice, prepared: tuple[np.ndarray, ...], sums: np.ndarray) -> None:
        totals[:, prepared[0]] += sums

    stream_rows(n_rows, batch_size, prepare, compute, consume, context=engine.thread_context())
    return totals
