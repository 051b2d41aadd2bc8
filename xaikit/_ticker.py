"""A function called every few seconds in a daemon thread while a block runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Ticker"]


class Ticker:
    """Call ``tick()`` every ``interval`` seconds in a daemon thread between :meth:`start` and :meth:`stop`.

    Used to sample memory during a timed run (:class:`xaikit.bench.memory.PeakRSS`) and to
    refresh progress while a long call runs (:mod:`xaikit.cli._bars`).
    """

    def __init__(self, interval: float, tick: Callable[[], None], name: str) -> None:
        self.interval = float(interval)
        self.tick = tick
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (a tick in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
