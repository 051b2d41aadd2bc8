"""Shared pieces of the native TensorFlow methods: the explainer base and compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.errors import InputError
from xaikit.explainer import ActivationExtractor, Explainer, ModelSpec
from xaikit.validation import check_choice

from ._keras import KerasModelView, chunks, model_view

__all__ = ["TFExplainer", "TFExplainerWithChannels", "TFExtractorBase", "CHANNEL_REDUCTIONS", "reduce_channels",
           "gradient_fn", "score_fn", "class_scores", "resolve_targets", "broadcast_baseline", "add_rows", "image_rng", "chunks"]

CHANNEL_REDUCTIONS = ("sum", "abs_sum", "max_abs")
_INT = tf.TensorSpec([None], tf.int32)


def reduce_channels(values: np.ndarray, mode: str) -> np.ndarray:
    """Reduce per-channel attributions ``(N, H, W, C)`` to maps ``(N, H, W)``.

    ``"sum"`` keeps the sign and the completeness property (the map sums to the total
    attribution); ``"abs_sum"`` is tf-explain's grayscale reduction; ``"max_abs"`` is
    Simonyan et al.'s saliency (largest magnitude over channels).
    """
    if mode == "sum":
        return values.sum(axis=-1, dtype=np.float32)
    if mode == "abs_sum":
        return np.abs(values).sum(axis=-1, dtype=np.float32)
    return np.abs(values).max(axis=-1).astype(np.float32)


def image_rng(seed: int, image: np.ndarray, stream: int = 0) -> np.random.Generator:
    """A generator for one image, keyed by the seed and the image's *content*.

    The draws for an image therefore do not depend on its position in the batch, on the
    other images, or on ``batch_size``: the same image with the same seed gets the same
    noise whether it is explained alone, in a batch, or in a CLI run split into chunks.
    ``stream`` separates independent uses (e.g. sample positions vs smoothing noise).
    """
    import hashlib

    digest = int.from_bytes(hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, stream, digest])


def add_rows(total: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``total[index[i]] += values[i]`` for a sorted ``index`` (rows of one image are contiguous).

    Chunks of (image, sample) rows are image-major, so each image's rows form one run:
    one vectorised sum per run instead of ``np.add.at``'s element-wise loop.
    """
    images, starts = np.unique(index, return_index=True)
    total[images] += np.add.reduceat(values, starts, axis=0)


def broadcast_baseline(baseline: Any, hwc: tuple[int, ...], name: str = "baseline") -> np.ndarray:
    """A baseline value as a float32 ``(H, W, C)`` array: a number, a per-channel ``(C,)``, or ``(H, W, C)``."""
    arr = np.asarray(baseline, dtype=np.float32) if not isinstance(baseline, np.ndarray) else baseline.astype(np.float32)
    if arr.ndim == 0 or arr.shape in ((hwc[2],), tuple(hwc)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{name} contains NaN or Inf")
        return np.broadcast_to(arr, hwc).astype(np.float32)
    raise InputError(f"{name} must be a number, a per-channel array of shape ({hwc[2]},), or an image of shape "
                     f"{tuple(hwc)}; got shape {arr.shape}")


def resolve_targets(view: KerasModelView, x: np.ndarray, targets: np.ndarray | None,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs for ``x`` and the targets (predicted classes when ``targets`` is None)."""
    from xaikit.explainer import predicted_classes

    outputs = view.predict(x, batch_size)
    if targets is None:
        targets = predicted_classes(outputs, view.spec)
    return outputs, targets


def score_fn(view: KerasModelView, score: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
    """Compiled ``(x, t) -> (target score (B,), outputs (B, K), t used (B,))``; ``t < 0`` means predicted."""

    def build() -> Callable[..., Any]:
        def fn(x: Any, t: Any) -> Any:
            cap = view.forward(x)
            t_used = tf.where(t < 0, view.predicted(cap), t)
            s = tf.gather(view.class_scores(cap, score), t_used, batch_dims=1)
            return s, tf.cast(cap.outputs["__output__"], tf.float32), t_used
        return fn

    return view.compiled(("score", score, hwc), build, [view.image_spec(hwc), _INT])


def gradient_fn(view: KerasModelView, score: str, hwc: tuple[int, ...]) -> Callable[..., Any]:
    """Compiled ``(x, t) -> (d score / d x, outputs, t used, score)`` for a batch."""

    def build() -> Callable[..., Any]:
        def fn(x: Any, t: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                cap = view.forward(x)
                t_used = tf.where(t < 0, view.predicted(cap), t)
                s = tf.gather(view.class_scores(cap, score), t_used, batch_dims=1)
            grads = tape.gradient(s, x)
            return grads, tf.cast(cap.outputs["__output__"], tf.float32), t_used, s
        return fn

    return view.compiled(("input_gradient", score, hwc), build, [view.image_spec(hwc), _INT])


def class_scores(model: Any, images: np.ndarray, score: str = "probability", batch_size: int = 32) -> np.ndarray:
    """``(N, n_classes)`` scores of ``model`` for ``images``, as the explainers see them.

    ``score`` is resolved as in :func:`xaikit.explainer.resolve_score`; a single-sigmoid
    model gives two columns (``[1 - p, p]`` or ``[-z, z]``), so column ``t`` is the score
    of target ``t`` for every model. This is the ``predict`` callable the metrics need.
    """
    from xaikit.explainer import resolve_score
    from xaikit.validation import check_images

    view = model_view(model)
    x = check_images(images, expected_shape=view.spec.input_shape)
    score = resolve_score(score, view.spec)
    hwc = tuple(x.shape[1:])

    def build() -> Callable[..., Any]:
        def fn(batch: Any) -> Any:
            return view.class_scores(view.forward(batch), score)
        return fn

    fn = view.compiled(("class_scores", score, hwc), build, [view.image_spec(hwc)])
    return np.concatenate([fn(x[s]).numpy() for s in chunks(len(x), batch_size)])


def _versions() -> dict[str, str]:
    import xaikit

    return {"xaikit": xaikit.__version__, "tensorflow": tf.__version__, "keras": keras.__version__}


class TFExplainer(Explainer):
    """Base of the native TensorFlow/Keras 3 explainers."""

    backend = "tensorflow"

    def _view(self) -> KerasModelView:
        return model_view(self.model)

    def _model_spec(self) -> ModelSpec:
        return self._view().spec

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        return self._view().predict(images, batch_size)

    def _info(self) -> dict[str, Any]:
        return _versions()

    @staticmethod
    def _targets_for_graph(targets: np.ndarray | None, n: int) -> np.ndarray:
        """int32 targets for compiled functions, -1 meaning "the predicted class"."""
        return np.full(n, -1, np.int32) if targets is None else targets.astype(np.int32)


class TFExplainerWithChannels(TFExplainer):
    """Pixel-level methods: per-channel values reduced by ``channel_reduce``."""

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        params["channel_reduce"] = check_choice("channel_reduce", self.channel_reduce, CHANNEL_REDUCTIONS)
        return params


class TFExtractorBase(ActivationExtractor):
    """Base of the native activation extractor."""

    backend = "tensorflow"

    def _view(self) -> KerasModelView:
        return model_view(self.model)

    def _model_spec(self) -> ModelSpec:
        return self._view().spec

    def _info(self) -> dict[str, Any]:
        return _versions()
