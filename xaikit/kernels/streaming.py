"""The one chunked-call loop: sample rows streamed through the model, ``batch_size`` at a time.

Every method that makes many model passes per image (noise samples, path steps,
background draws, occlusion windows, masks) describes its work as ``n_rows`` rows
(image, sample) and lets :func:`stream_rows` run them; each method only says how to
prepare a chunk (host work), compute it (the engine's call) and consume the result.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..progress import report as report_progress

__all__ = ["chunks", "stream_rows", "row_plan", "ragged_row_plan", "segments"]


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices ``[0, size), [size, 2 size), ...`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def segments(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a sorted row->image ``index``: the distinct images and each row's position among them."""
    images, seg = np.unique(index, return_inverse=True)
    return images, seg.astype(np.int32)


def row_plan(rows: slice, per_image: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image, sample)`` of the rows of a chunk, rows being ``image * per_image + sample``."""
    flat = np.arange(rows.start, rows.stop, dtype=np.int64)
    return flat // per_image, flat % per_image


def ragged_row_plan(rows: slice, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(image, sample)`` of the rows of a chunk when image ``i`` has rows ``offsets[i] .. offsets[i + 1] - 1``."""
    flat = np.arange(rows.start, rows.stop, dtype=np.int64)
    image = np.searchsorted(offsets, flat, side="right") - 1
    return image, flat - offsets[image]


def stream_rows(n_rows: int, batch_size: int, prepare: Callable[[slice], Any], compute: Callable[[Any], Any],
                consume: Callable[[slice, Any, Any], None], *, in_flight: int = 2,
                context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None) -> None:
    """Stream ``n_rows`` rows through the model in chunks; ``batch_size`` bounds the rows alive at once.

    For each chunk, in order: ``prepared = prepare(rows)`` (host work: noise, references;
    run in this thread, in chunk order, so random streams are drawn deterministically),
    ``result = compute(prepared)`` (the engine's call; up to ``in_flight`` chunks run at
    once in worker threads, as TensorFlow and PyTorch release the GIL, so one chunk's
    backward pass overlaps the next one's forward pass and the host work), then
    ``consume(rows, prepared, result)`` back in this thread, in chunk order.

    When the rows do not fit in one chunk, they run in chunks of ``batch_size //
    in_flight`` rows (``in_flight`` of them at a time), so peak memory is that of
    ``batch_size`` rows whatever ``n_rows`` is.

    Parameters
    ----------
    context
        A factory of a context manager entered around ``compute`` in the worker threads
        (a framework's device scope, which is thread-local).
    """
    def compute_here(prepared: Any) -> Any:
        if context is None:
            return compute(prepared)
        with context():
            return compute(prepared)

    if n_rows <= batch_size or batch_size < in_flight:
        step, in_flight = batch_size, 1 if n_rows > batch_size else in_flight
    else:
        step = batch_size // in_flight
    if n_rows <= step:  # one chunk: no thread needed
        for rows in chunks(n_rows, step):
            prepared = prepare(rows)
            consume(rows, prepared, compute_here(prepared))
            report_progress(rows.stop, n_rows)
        return
    pending: deque[tuple[slice, Any, Any]] = deque()
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="xaikit-chunk") as pool:
        for rows in chunks(n_rows, step):
            prepared = prepare(rows)
            pending.append((rows, prepared, pool.submit(compute_here, prepared)))
            if len(pending) >= in_flight:
                done_rows, done_prepared, future = pending.popleft()
                consume(done_rows, done_prepared, future.result())
                report_progress(done_rows.stop, n_rows)
        while pending:
            done_rows, done_prepared, future = pending.popleft()
            consume(done_rows, done_prepared, future.result())
            report_progress(done_rows.stop, n_rows)
