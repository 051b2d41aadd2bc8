"""Progress of a command on stderr: a bar on a terminal, a line every few seconds otherwise.

A command explains its images in chunks (:class:`RunProgress` counts them) and each
explain call may stream thousands of model passes (occlusion windows, samples), which
the backends report through :mod:`xaikit.progress`. While a :class:`RunProgress` is
entered, it receives those reports:

- on a terminal (stderr is a TTY, also a pseudo-terminal without a window size, where
  tqdm alone draws nothing), two tqdm bars: images, and the rows of the running call,
  refreshed every second so that the elapsed time moves while one chunk of a heavy
  model runs;
- otherwise (a log file, a pipe, CI) one line every :data:`LINE_INTERVAL` seconds: images
  done, rows of the running call, their rate and the time left. Methods that report no
  rows (a library running its own loop) still get a line saying the run is alive.

``--quiet`` turns both off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .._ticker import Ticker
from ..progress import progress_scope

__all__ = ["LINE_INTERVAL", "RunProgress"]

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL = 5.0


def _terminal_shape(stream: Any) -> tuple[int, int] | None:
    """``(columns, lines)`` of the terminal behind ``stream``, or None when it does not say.

    A pseudo-terminal opened without a window size (``script``, CI runners, ``docker
    exec -t``, some IDE consoles) reports 0 x 0; tqdm then takes the bar for hidden below
    the last line and draws nothing, so the caller passes a size of its own instead.
    """
    import os

    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return (size.columns, size.lines) if size.columns > 0 and size.lines > 0 else None


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


class RunProgress:
    """Images done over the chunks of a command, and the rows of the running explain call.

    Parameters
    ----------
    total
        Images the command explains.
    quiet
        Show nothing.
    desc
        What runs (the method), at the start of the bar or line.
    stream
        Where to draw (stderr).
    terminal
        Draw bars (True) or lines (False); default: whether ``stream`` is a terminal.
    interval
        Seconds between lines (not a terminal) or bar refreshes (terminal: 1 s).
    clock
        Monotonic clock (tests pass a fake one).
    initial
        Images already done when the command starts (a resumed run): counted as done,
        not in the rate.
    """

    def __init__(self, total: int, quiet: bool, desc: str, *, stream: TextIO | None = None,
                 terminal: bool | None = None, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, initial: int = 0) -> None:
        self.total = int(total)
        self.desc = desc
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        self.interval = interval if interval is not None else (1.0 if self.terminal else LINE_INTERVAL)
        self.clock = clock
        self.done = self.initial = int(initial)
        self.rows: tuple[int, int, str] | None = None  # (done, total, unit) of the running call
        self.stage: str | None = None  # what runs now (the pair of a comparison), from xaikit.progress.stage
        self._stream_start: tuple[float, int] | None = None  # (time, done) when the running call's stream began
        self._start = clock()
        self._bars: list[Any] = []
        self._ticker = Ticker(self.interval, self.tick, "xaikit-progress")
        self._scope: Any = None

    # ---------------------------------------------------------------- what emit() needs
    @property
    def disable(self) -> bool:
        """True when no bar is drawn (result lines then go straight to stdout)."""
        return self.quiet or not self.terminal

    def write(self, line: str, file: TextIO | None = None) -> None:
        """A result line above the bars."""
        from tqdm.auto import tqdm

        tqdm.write(line, file=file or sys.stdout)

    # ---------------------------------------------------------------- the context
    def __enter__(self) -> RunProgress:
        if self.quiet:
            return self
        if self.terminal:
            self._bars = [self._bar(self.total, self.desc, "img", 0, initial=self.initial)]
        self._scope = progress_scope(self.on_rows, self.on_stage)
        self._scope.__enter__()
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ticker.stop()
        if self._scope is not None:
            self._scope.__exit__(*exc)
        for bar in reversed(self._bars):
            bar.close()

    def _bar(self, total: int, desc: str, unit: str, position: int, initial: int = 0) -> Any:
        from tqdm.auto import tqdm

        shape = {"dynamic_ncols": True} if _terminal_shape(self.stream) else {"ncols": 100, "nrows": 24}
        return tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False, position=position,
                    initial=initial, **shape)

    # ---------------------------------------------------------------- updates
    def update(self, n: int) -> None:
        """``n`` more images are done (a chunk finished)."""
        self.done += n
        self.rows = None
        self._stream_start = None
        if self._bars:
            self._bars[0].update(n)
            if len(self._bars) > 1:
                self._bars[1].reset(total=1)

    def on_rows(self, done: int, total: int, unit: str) -> None:
        """The :mod:`xaikit.progress` callback: ``done`` of ``total`` rows of the running call."""
        now = self.clock()
        previous = self.rows
        if previous is None or total != previous[1] or done < previous[0]:  # a new stream
            self._stream_start = (now, 0)
        self.rows = (done, total, unit)
        if self.terminal and not self.quiet:
            if len(self._bars) == 1:
                self._bars.append(self._bar(total, "  rows", unit, 1))
            bar = self._bars[1]
            if bar.total != total or done < bar.n:
                bar.reset(total=total)
            bar.update(done - bar.n)

    def on_stage(self, label: str) -> None:
        """The :mod:`xaikit.progress` stage callback: ``label`` runs now; its rows start again."""
        self.stage = label
        self.rows = None
        self._stream_start = None
        if len(self._bars) > 1:
            self._bars[1].set_description(f"  {label}", refresh=False)
            self._bars[1].reset(total=1)

    def tick(self) -> None:
        """Called every ``interval`` seconds: refresh the bars, or print :meth:`line`."""
        if self.quiet:
            return
        if self.terminal:
            for bar in self._bars:
                bar.refresh()
            return
        print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """``"occlusion: 0/4 images · 12,345/44,100 rows (28%), 120 rows/s, ~5 min 3 s left · 1 min 42 s"``
        (with the running pair after the images when a stage is named)."""
        now = self.clock()
        parts = [f"{self.desc}: {self.done}/{self.total} images"]
        ran = self.done - self.initial
        if ran > 0 and now > self._start:
            rate = ran / (now - self._start)
            parts[0] += f" ({rate:,.1f} images/s, ~{_duration((self.total - self.done) / rate)} left)"
        if self.stage is not None:
            parts.append(self.stage)
        if self.rows is not None:
            done, total, unit = self.rows
            text = f"{done:,}/{total:,} {unit} ({100 * done / max(total, 1):.0f}%)"
            if done >= total:  # the streamed passes are done; the call finishes its own work (no time to guess)
                text += ", finishing the call"
            elif self._stream_start is not None and now > self._stream_start[0] and done > self._stream_start[1]:
                rate = (done - self._stream_start[1]) / (now - self._stream_start[0])
                text += f", {rate:,.0f} {unit}/s, ~{_duration((total - done) / rate)} left"
            parts.append(text)
        parts.append(f"{_duration(now - self._start)} elapsed")
        return " · ".join(parts)
