"""Progress of long explain calls, reported from inside the backends' streaming loops.

An explainer that streams many model passes (occlusion windows, noisy samples,
integration steps) calls :func:`report` after each chunk. Nothing happens unless the
caller installed a callback with :func:`progress_scope`; the CLI installs one that draws
a bar on a terminal and otherwise prints a line every few seconds.

The callback lives in a :class:`contextvars.ContextVar`, so it belongs to the thread (or
asyncio task) that installed it: explaining from several threads at once never mixes
their progress, and a library user who installs nothing pays one variable lookup per
chunk. :func:`stage` names what runs now (the pair of a comparison) to the scope's
``on_stage``.

In Python, :func:`auto_progress` draws a tqdm bar (a widget in Jupyter) around a long
call -- :func:`xaikit.explain`, :func:`xaikit.compare`, ``explain_ranked`` -- naming the
method and backend that run, when the session is interactive (a Jupyter kernel, or an
(I)Python prompt on a terminal) and no other scope listens (the command line draws its
own). It appears only after :data:`BAR_DELAY` seconds, so quick calls stay silent.
``progress=True``/``False`` forces it on or off; the environment variable
``XAIKIT_PROGRESS=1`` (or ``0``) does the same for every call that does not say.

>>> from xaikit.progress import progress_scope, report
>>> seen = []
>>> with progress_scope(lambda done, total, unit: seen.append((done, total, unit))):
...     report(32, 100)
>>> seen
[(32, 100, 'rows')]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["BAR_DELAY", "ProgressCallback", "auto_progress", "progress_scope", "report", "stage"]

#: ``callback(done, total, unit)``: ``done`` of ``total`` units of the current stream are finished.
ProgressCallback = Callable[[int, int, str], None]

#: Seconds a call runs before :func:`auto_progress` shows its bar.
BAR_DELAY = 1.0

_CALLBACK: ContextVar[ProgressCallback | None] = ContextVar("xaikit_progress", default=None)
_STAGE: ContextVar[Callable[[str], None] | None] = ContextVar("xaikit_progress_stage", default=None)


@contextmanager
def progress_scope(callback: ProgressCallback | None, on_stage: Callable[[str], None] | None = None) -> Iterator[None]:
    """Send the :func:`report` calls made in this context to ``callback`` (None: to nobody), and the
    :func:`stage` calls to ``on_stage``.

    Scopes nest: the innermost callback receives the reports, and the outer one is back
    when the block ends (also on an exception).
    """
    token = _CALLBACK.set(callback)
    stage_token = _STAGE.set(on_stage)
    try:
        yield
    finally:
        _STAGE.reset(stage_token)
        _CALLBACK.reset(token)


def stage(label: str) -> None:
    """Tell the current scope (if it listens) that ``label`` runs now (``"gradcam (tf-explain)"``)."""
    callback = _STAGE.get()
    if callback is not None:
        callback(label)


def _interactive() -> bool:
    """A session a person types into: a Jupyter kernel, or an (I)Python prompt whose stderr is a terminal. A
    script, the command line, the bench's workers and tests are not (``XAIKIT_PROGRESS=1`` or ``progress=True``
    turn the bar on there)."""
    if "ipykernel" in sys.modules:
        return True
    prompt = hasattr(sys, "ps1") or bool(sys.flags.interactive) or "IPython" in sys.modules
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return prompt and bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _wanted(enabled: bool | None) -> bool:
    if _CALLBACK.get() is not None:  # someone listens already (the command line's bars, an enclosing compare)
        return False
    if enabled is not None:
        return bool(enabled)
    env = os.environ.get("XAIKIT_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    return env in ("1", "true", "yes", "on") or _interactive()


@contextmanager
def auto_progress(desc: str, enabled: bool | None = None) -> Iterator[None]:
    """A tqdm bar named ``desc`` for the rows the block's explain calls report (see the module's docstring).

    ``enabled``: True draws it, False never, None (default) when the session is
    interactive. It shows after :data:`BAR_DELAY` seconds, is refreshed every second
    (its time moves while a call that reports nothing runs) and disappears at the end.
    """
    if not _wanted(enabled):
        yield
        return
    from tqdm.auto import tqdm

    from ._ticker import Ticker

    bar = tqdm(total=None, desc=desc, unit="rows", leave=False, delay=BAR_DELAY, file=sys.stderr)

    def on_rows(done: int, total: int, unit: str) -> None:
        if bar.total != total or done < bar.n:
            bar.reset(total=total)
            bar.unit = unit
        bar.update(done - bar.n)

    def on_stage(label: str) -> None:
        bar.set_description(label, refresh=False)
        bar.reset(total=None)

    def tick() -> None:  # refresh() draws at once, whatever tqdm's delay: wait for it here
        if bar._time() - bar.start_t >= BAR_DELAY:
            bar.refresh()

    ticker = Ticker(1.0, tick, "xaikit-progress")
    with progress_scope(on_rows, on_stage):
        ticker.start()
        try:
            yield
        finally:
            ticker.stop()
            bar.close()


def report(done: int, total: int, unit: str = "rows") -> None:
    """Tell the current callback (if any) that ``done`` of ``total`` units are finished.

    Backends call this once per chunk of their streaming loop. A stream starts at
    ``done`` small and ends at ``done == total``; a new stream (the next call, or the next
    group of images) starts again from its own first chunk.
    """
    callback = _CALLBACK.get()
    if callback is not None:
        callback(int(done), int(total), unit)
