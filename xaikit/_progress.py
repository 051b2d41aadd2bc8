"""Progress of long explain calls, reported from inside the backends' streaming loops.

An explainer that streams many model passes (occlusion windows, noisy samples,
integration steps) calls :func:`report` after each chunk. Nothing happens unless the
caller installed a callback with :func:`progress_scope`; the CLI installs one that draws
a bar on a terminal and otherwise prints a line every few seconds.

The callback lives in a :class:`contextvars.ContextVar`, so it belongs to the thread (or
asyncio task) that installed it: explaining from several threads at once never mixes
their progress, and a library user who installs nothing pays one variable lookup per
chunk.

>>> from xaikit._progress import progress_scope, report
>>> seen = []
>>> with progress_scope(lambda done, total, unit: seen.append((done, total, unit))):
...     report(32, 100)
>>> seen
[(32, 100, 'rows')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ProgressCallback", "progress_scope", "report"]

#: ``callback(done, total, unit)``: ``done`` of ``total`` units of the current stream are finished.
ProgressCallback = Callable[[int, int, str], None]

_CALLBACK: ContextVar[ProgressCallback | None] = ContextVar("xaikit_progress", default=None)


@contextmanager
def progress_scope(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the :func:`report` calls made in this context to ``callback`` (None: to nobody).

    Scopes nest: the innermost callback receives the reports, and the outer one is back
    when the block ends (also on an exception).
    """
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


def report(done: int, total: int, unit: str = "rows") -> None:
    """Tell the current callback (if any) that ``done`` of ``total`` units are finished.

    Backends call this once per chunk of their streaming loop. A stream starts at
    ``done`` small and ends at ``done == total``; a new stream (the next call, or the next
    group of images) starts again from its own first chunk.
    """
    callback = _CALLBACK.get()
    if callback is not None:
        callback(int(done), int(total), unit)
