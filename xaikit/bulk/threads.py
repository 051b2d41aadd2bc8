"""The two threads of a bulk run: one reads chunks of pixels ahead, one writes finished chunks behind.

Both keep memory bounded: at most ``prefetch`` chunks read ahead, at most ``depth``
chunks waiting to be written; an error in either thread is raised in the driver.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["ChunkReader", "ChunkWriter"]


class ChunkReader:
    """Reads chunks of pixels in a background thread, at most ``prefetch`` chunks ahead."""

    def __init__(self, load: Callable[[slice], np.ndarray], chunks: list[tuple[int, slice]], prefetch: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(int(prefetch), 1))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, chunks), name="xaikit-bulk-reader", daemon=True)
        self._thread.start()

    def _run(self, load: Callable[[slice], np.ndarray], chunks: list[tuple[int, slice]]) -> None:
        try:
            for i, s in chunks:
                item = (i, s, load(s))
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the driver, which raises it
            self._queue.put(exc)
            return
        self._queue.put(None)

    def __iter__(self) -> Iterator[tuple[int, slice, np.ndarray]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()


class ChunkWriter:
    """Writes finished chunks into the store in a background thread, in the order they are handed over.

    Writing a chunk (compressing maps and writing chunk files) overlaps the next chunk's
    explanation; at most ``depth`` chunks wait, so memory stays bounded. A chunk's
    ``done`` flag is written after its arrays, so a kill between the two recomputes it.
    """

    def __init__(self, write: Callable[[int, slice, dict[str, np.ndarray], dict[str, Any]], None],
                 depth: int = 2) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(int(depth), 1))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xaikit-bulk-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure, drain without writing
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001 - handed to the driver, which raises it
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing the store failed: {self._error}") from self._error

    def put(self, i: int, s: slice, arrays: dict[str, np.ndarray], result: dict[str, Any]) -> None:
        self._raise()
        self._queue.put((i, s, arrays, result))

    def close(self, check: bool = True) -> None:
        """Wait for every chunk handed over to be written; raise the first write error if ``check``."""
        self._queue.put(None)
        self._thread.join()
        if check:
            self._raise()
