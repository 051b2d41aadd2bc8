"""Peak resident memory of the process during a piece of work.

TensorFlow's CPU allocations do not go through Python's allocator, so
:mod:`tracemalloc` does not see them. What the operating system sees is the resident
set size (RSS): :class:`PeakRSS` samples it from a background thread, from ``psutil``
when it is installed, else from ``/proc/self/statm`` (Linux), else from
``resource.getrusage`` (the lifetime peak: coarse, but better than nothing).

>>> with PeakRSS() as mem:                # doctest: +SKIP
...     explain()
>>> mem.peak_mb, mem.delta_mb             # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .._ticker import Ticker

__all__ = ["PeakRSS", "current_rss", "rss_source"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _from_psutil() -> Callable[[], int] | None:
    try:
        import psutil
    except ImportError:
        return None
    proc = psutil.Process()
    return lambda: int(proc.memory_info().rss)


def _from_statm() -> Callable[[], int] | None:
    path = "/proc/self/statm"
    if not os.path.exists(path):
        return None

    def read() -> int:
        with open(path, "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE

    try:
        read()
    except (OSError, ValueError, IndexError):
        return None
    return read


def _from_rusage() -> Callable[[], int]:
    import resource
    import sys

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux

    def read() -> int:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale

    return read


def _reader() -> tuple[Callable[[], int], str]:
    fn = _from_psutil()
    if fn is not None:
        return fn, "psutil"
    fn = _from_statm()
    if fn is not None:
        return fn, "/proc/self/statm"
    return _from_rusage(), "getrusage (lifetime peak)"


_READ, _SOURCE = _reader()


def current_rss() -> int:
    """Resident set size of this process, in bytes."""
    return _READ()


def rss_source() -> str:
    """Where RSS is read from (``psutil``, ``/proc/self/statm`` or ``getrusage``)."""
    return _SOURCE


class PeakRSS:
    """Sample the RSS every ``interval`` seconds in a daemon thread while the block runs.

    Attributes (after the block)
    ----------------------------
    start_mb : float
        RSS when the block started.
    peak_mb : float
        Highest RSS seen (sampled at the start, every ``interval`` and at the end).
    delta_mb : float
        ``peak_mb - start_mb``: the memory the work added at its peak. TensorFlow keeps
        freed memory in its allocator pools, so a second run of the same work shows a
        smaller delta than the first.
    samples : int
        Number of samples taken.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = float(interval)
        self.start_mb = self.peak_mb = self.delta_mb = float("nan")
        self.samples = 0
        self._peak = 0
        self._ticker = Ticker(self.interval, self._sample, "xaikit-bench-rss")

    def _sample(self) -> None:
        value = _READ()
        self.samples += 1
        self._peak = max(self._peak, value)

    def __enter__(self) -> PeakRSS:
        start = _READ()
        self._peak = start
        self.start_mb = start / 2**20
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        self._sample()
        self.peak_mb = self._peak / 2**20
        self.delta_mb = self.peak_mb - self.start_mb
