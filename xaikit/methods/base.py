"""The base of the core's method implementations: an Explainer computed on an engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..call_context import CallContext, once_per_call
from ..catalogue import MethodSchema, declare
from ..engine import Engine
from ..explainer import ActivationExtractor, Explainer
from ..kernels import ImageStreams, chunks, segments, stream_rows
from ..spec import ModelSpec

__all__ = ["EngineExplainer", "EngineExtractor", "image_size", "row_groups", "stream_masked_scores",
           "stream_sums", "uniform_rows"]


def image_size(images: np.ndarray, spec: ModelSpec) -> tuple[int, int]:
    """``(H, W)`` of a batch in the model's layout."""
    return (images.shape[1], images.shape[2]) if spec.layout == "NHWC" else (images.shape[2], images.shape[3])


def row_groups(seg: np.ndarray, n_used: int) -> np.ndarray:
    """Start of each image's rows in a chunk (rows of one image are contiguous): ``(n_used + 1,)``."""
    return np.searchsorted(seg, np.arange(n_used + 1))


def uniform_rows(streams: ImageStreams, used: np.ndarray, seg: np.ndarray, per_row: int) -> np.ndarray:
    """``(R, per_row)`` uniforms in [0, 1): each image's next draws, rows grouped by image (random masks)."""
    out = np.empty((len(seg), per_row), np.float64)
    starts = row_groups(seg, len(used))
    for j, image in enumerate(used):
        count = int(starts[j + 1] - starts[j])
        out[starts[j]:starts[j + 1]] = streams.uniform(int(image), count * per_row).reshape(count, per_row)
    return out


class _EngineBound:
    """What every class bound to a native backend shares: its engine, the description, versions."""

    #: ``model -> Engine``, set when the registry binds the method to a backend.
    engine_factory: ClassVar[Callable[[Any], Engine]]
    model: Any

    def __init_subclass__(cls, schema: MethodSchema | str | None = None, **kwargs: Any) -> None:
        """A method is declared once, by its class: ``class EigenGradCAM(HiResCAM, schema=MethodSchema(...))``
        makes the class the core's implementation of that method and puts the schema in the catalogue
        (:func:`xaikit.catalogue.declare`); ``schema="activations"`` names a schema of the catalogue's
        :data:`~xaikit.catalogue.ENTRIES`."""
        if schema is not None:
            cls.method = declare(schema, cls)  # type: ignore[attr-defined]
        super().__init_subclass__(**kwargs)

    def _engine(self) -> Engine:
        """The model's engine, looked up once per call (:func:`xaikit.call_context.once_per_call`): the model's view
        (its structure checked against the model's layers) is found by the call's first step, and every later step
        of the call uses that engine."""
        return once_per_call("engine", self.model, lambda: type(self).engine_factory(self.model))

    def _describe(self, images: np.ndarray) -> ModelSpec:
        return self._engine().describe(tuple(images.shape[1:]))

    def _describe_static(self) -> ModelSpec:
        return self._engine().describe(None)

    def _info(self) -> dict[str, Any]:
        return self._engine().versions()


class EngineExplainer(_EngineBound, Explainer):
    """An attribution method written once on the engine primitives (:mod:`xaikit.engine`).

    Its ``_attribute(ctx)`` finds the call's engine in ``ctx.engine`` (looked up once per call).
    """

    def _call_engine(self) -> Engine:
        return self._engine()

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        return super()._resolve_layer(self._engine().layer_name(layer), spec, images)

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        engine = self._engine()
        return np.concatenate([engine.predict(images[s]) for s in chunks(len(images), batch_size)])

    @staticmethod
    def _target_scores(ctx: CallContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(score of the target, outputs, targets used)`` per image, in chunks (one engine pass)."""
        t_in, images, params = ctx.graph_targets(), ctx.images, ctx.params
        parts = [ctx.engine.target_scores(images[s], t_in[s], params["score"])
                 for s in chunks(len(images), params["batch_size"])]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


class EngineExtractor(_EngineBound, ActivationExtractor, schema="activations"):
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
                layer: str | None = None, times_delta: bool = False, second_moment: bool = False) -> np.ndarray:
    """Run :meth:`Engine.path_gradient_sums` over ``n_rows`` sample rows; ``(k, *x.shape)`` float64 sums
    (``(2, k, *x.shape)`` with ``second_moment``: the sums of the gradients and of their squares).

    ``prepare(rows)`` returns ``(used, seg, r, e, u, w, t)`` for those rows, ``used``
    being the images the rows belong to (indices into ``x``) and ``seg`` each row's
    position among them. Rows are streamed as :func:`xaikit.kernels.stream_rows` does.
    """
    totals = np.zeros(((2,) if second_moment else ()) + (k, *x.shape), np.float64)

    def compute(prepared: tuple[np.ndarray, ...]) -> np.ndarray:
        used, *rest = prepared
        return engine.path_gradient_sums(x[used], *rest, score, layer=layer, times_delta=times_delta,
                                         second_moment=second_moment)

    def consume(rows: slice, prepared: tuple[np.ndarray, ...], sums: np.ndarray) -> None:
        totals[..., prepared[0], :, :, :] += sums

    stream_rows(n_rows, batch_size, prepare, compute, consume, context=engine.thread_context())
    return totals


def stream_masked_scores(engine: Engine, images: np.ndarray, n_rows: int, batch_size: int,
                         prepare: Callable[[slice], tuple[np.ndarray, np.ndarray, Any]],
                         consume: Callable[[slice, np.ndarray, Any, np.ndarray], None], *, fill: np.ndarray,
                         targets: np.ndarray, score: str) -> None:
    """Scores of masked images (:meth:`Engine.masked_scores`) for ``n_rows`` rows, streamed ``batch_size`` at a time.

    ``prepare(rows)`` returns ``(index, masks, state)``: the image of each row (sorted),
    its mask ``(R, H, W)`` and anything ``consume(rows, index, state, scores)`` needs
    back; ``targets`` are the explicit classes per image, ``fill`` what masked pixels
    take (one image in the model's layout).
    """
    t_all = np.asarray(targets).astype(np.int32)

    def prepare_rows(rows: slice) -> tuple[Any, ...]:
        index, masks, state = prepare(rows)
        used, seg = segments(index)
        return index, used, seg, masks, state

    def compute(prepared: tuple[Any, ...]) -> np.ndarray:
        index, used, seg, masks, _ = prepared
        return engine.masked_scores(images[used], seg, masks, fill, t_all[index], score)

    def consume_rows(rows: slice, prepared: tuple[Any, ...], scores: np.ndarray) -> None:
        consume(rows, prepared[0], prepared[4], scores)

    stream_rows(n_rows, batch_size, prepare_rows, compute, consume_rows, context=engine.thread_context())
