"""Steady-state timing of explain calls: a warm-up call first, then the timed one.

The first call of a method on a model traces and compiles its functions (and builds
library objects such as shap's explainer); that one-off cost can be larger than the
work itself (a 28 x 28 network: 430 ms for the first call, 5 ms afterwards). A time per
image that includes it says more about the order of the calls than about the method.
So every time xaikit shows (:func:`xaikit.compare`, the comparison figures, the CLI, the
demo) is measured after :func:`warm_up`, and the warm-up's own wall time is reported
next to it as the first-call cost.

:func:`warm_up` runs the call once before the timed one with the same tensor shapes,
because both tracing (tf-explain's ``tf.function`` per input shape, Keras' predict step)
and the runtime's kernel set-up (oneDNN prepares its kernels per shape) happen on the
first use of a shape. For the native backend's streamed methods the first image with
the real parameters is enough (its chunks have the timed call's shapes: 1/N of the work
again); one-pass methods and library adapters repeat the call on the whole batch.
Measured on a small CNN: a timed call after a one-image warm-up with fewer samples still
took 8x the steady state (no tracing, but new shapes); after these warm-ups it is within
the noise of it.

The result of a timed call records the warm-up in ``info["timing"]`` (see
:func:`record_warmup`); :attr:`xaikit.Explanation.elapsed` stays the wall time of the call.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from .catalogue import MethodIds, get_method

__all__ = [
    "STREAMED_METHODS",
    "TIMING_KEY",
    "WARMUPS",
    "cheap_params",
    "record_warmup",
    "steady_seconds_per_image",
    "warm_up",
    "warmup_seconds",
]

#: Key of ``Explanation.info`` under which a timed call records its warm-up.
TIMING_KEY = "timing"
#: Warm-up modes of :func:`warm_up`.
WARMUPS = ("auto", "cheap", "full", "batch")
#: Methods that stream many model passes per image (samples, steps, occlusion windows): the
#: catalogue's methods with a cheap warm-up (:attr:`xaikit.catalogue.MethodSchema.warmup`).
STREAMED_METHODS = MethodIds(lambda schema: bool(schema.warmup))


def cheap_params(method: str, params: dict[str, Any], image_size: tuple[int, int]) -> dict[str, Any]:
    """``params`` with the least work that still compiles the same functions (for a warm-up call).

    The catalogue says how (:meth:`xaikit.catalogue.MethodSchema.warmup_params`): sample and
    step counts drop to 2, occlusion covers the image with one window. Everything else
    (layer, score, batch size, baseline, background) is kept, because it selects which
    functions are built.
    """
    return get_method(method).warmup_params(params, image_size)


def _native(explainer: Any) -> bool:
    from .registry import get_backend

    try:
        return bool(get_backend(explainer.backend).native)
    except Exception:  # noqa: BLE001 - an explainer class not registered: treat it as a library adapter
        return False


def warm_up(explainer: Any, images: Any, targets: Any = None, *, ranked: int | None = None,
            mode: str = "auto") -> tuple[float, int]:
    """Run ``explainer``'s method once before the timed call; return ``(wall seconds, images explained)``.

    Parameters
    ----------
    explainer
        An :class:`xaikit.Explainer`; it is not changed (a cheap copy runs for ``"cheap"``).
    images
        The batch about to be timed.
    targets
        The targets of the timed call (None, an int, or one per image).
    ranked
        If given, warm up ``explain_ranked(images, ranked)`` instead.
    mode
        ``"cheap"``: the first image with :func:`cheap_params` (the native backend's
        compiled functions take any batch and sample count, so nothing is traced again,
        but the runtime still sets up its kernels for every new tensor shape).
        ``"full"``: the first image with the real parameters (streamed methods then send
        chunks of the timed call's shapes). ``"batch"``: the same call as the timed one
        (libraries that trace again for every new input shape are only warmed up by it;
        the call runs twice). ``"auto"``: ``"full"`` for the native backend's
        :data:`STREAMED_METHODS`, ``"batch"`` for its one-pass methods (one more pass per
        image) and for library adapters.

    Returns
    -------
    (float, int)
        Seconds of the warm-up call (the first-call cost: tracing, compiling, building
        library objects, plus the warm-up's own work) and the number of images it explained.
    """
    from .validation import check_choice

    mode = check_choice("warm-up mode", mode, WARMUPS)
    if mode == "auto":
        mode = "full" if _native(explainer) and explainer.method in STREAMED_METHODS else "batch"
    batch = images if mode == "batch" else images[:1]
    warm = explainer
    if mode == "cheap":
        size = tuple(int(s) for s in np.shape(batch)[1:3])
        params = cheap_params(explainer.method, explainer.get_params(), size)  # type: ignore[arg-type]
        warm = type(explainer)(explainer.model, **params)
    if mode != "batch" and targets is not None and np.ndim(targets) > 0:
        targets = np.asarray(targets)[:1]
    start = time.perf_counter()
    if ranked:
        warm.explain_ranked(batch, ranked)
    else:
        warm.explain(batch, targets)
    return time.perf_counter() - start, len(batch)


def record_warmup(explanation: Any, seconds: float, images: int = 1) -> Any:
    """A copy of ``explanation`` whose ``info`` says that its call ran after a warm-up of ``seconds`` on ``images``."""
    info = dict(explanation.info)
    info[TIMING_KEY] = {"warmup_seconds": float(seconds), "warmup_images": int(images)}
    return dataclasses.replace(explanation, info=info)


def warmup_seconds(explanation: Any) -> float | None:
    """The recorded warm-up (first-call) seconds, or None when the call was not timed after a warm-up."""
    timing = (getattr(explanation, "info", None) or {}).get(TIMING_KEY)
    if not isinstance(timing, dict) or timing.get("warmup_seconds") is None:
        return None
    return float(timing["warmup_seconds"])


def steady_seconds_per_image(explanation: Any) -> float | None:
    """``elapsed / N`` when the call ran after a warm-up (its steady state), else None."""
    if warmup_seconds(explanation) is None:
        return None
    return float(explanation.elapsed) / max(len(explanation), 1)
