"""The bench's cell scheduling: cells reused from the store or claimed, handed to an executor, recorded.

:class:`CellScheduler` is the driver's half that knows nothing of what a cell computes:
it keeps the executor busy, claims a cell in the store before computing it (so
concurrent runs compute it once), reuses finished records (their side files checked),
and alone writes the store. A :class:`Cell`'s ``done`` turns its record into the
cells that follow it (the metrics of new maps), which run next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..execution import Executor, OpenModel, Outcome, ResultStore, Task
from .config import SuiteConfig
from .results import BenchResults

__all__ = ["Cell", "CellScheduler", "call_closure"]


@dataclass
class Cell:
    """A cell waiting to run: its key, what to say about it, the task computing it, what to do with the record."""

    key: str
    describe: str
    context: dict[str, Any]
    task: Task
    done: Callable[[dict[str, Any] | None], Iterable[Cell]] = field(default=lambda record: ())


def call_closure(model: OpenModel | None, *,
                 compute: Callable[[], tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Any]:
    """A task running a closure (cells computed in the driver's process only: the local executor)."""
    return compute()



class CellScheduler:
    """Runs cells on an executor for one suite's results store (see the module docstring).

    Attributes
    ----------
    config : SuiteConfig
        The suite (None for a bare store, as tests use it).
    results : BenchResults
        What the run found; its ``store`` is the results store.
    executor : Executor
        What computes the cells (default: this process).
    bar : tqdm or None
        The progress bar while a run shows one.
    """

    def __init__(self, config: SuiteConfig, out_dir: Path, *, reuse: bool, log: Callable[[str], None],
                 progress: bool, executor: Executor | None = None) -> None:
        from ..execution.local import LocalExecutor

        self.config = config
        self.results = BenchResults(config, out_dir, ResultStore(out_dir))
        self.store = self.results.store
        self.reuse = reuse
        self.log = log
        self.progress = progress
        self.executor = executor if executor is not None else LocalExecutor()
        self.bar: Any = None
        self._done: set[str] = set()  # keys finished (computed or reused) in this run
        self._since = 0 if reuse else self.store.end  # a fresh run reuses only records written after it started
        self._loaded: tuple[str, dict[str, np.ndarray]] | None = None  # side arrays checked by _reusable
        if self.store.skipped_lines:
            self.results.notes.append(f"the store had {self.store.skipped_lines} unreadable line(s) (a run killed "
                                      "while writing); they were ignored")

    # ------------------------------------------------------------- cell plumbing
    def reusable(self, key: str, describe: str, *, repair: bool) -> dict[str, Any] | None:
        """The finished record of ``key`` this run may use, its side file checked (else None).

        Without ``reuse`` only records written since this run started count (by this run
        or a concurrent one). A damaged side file makes the cell unfinished; with
        ``repair`` (only while holding the cell's claim) it is discarded and logged.
        """
        record = self.store.get(key, since=0 if key in self._done else self._since)
        if record is None or not record.get("arrays"):
            return record
        try:
            self._loaded = (key, self.store.arrays(key))
        except FileFormatError as exc:
            if repair:
                self.store.discard(key, f"damaged side file: {exc}")
                message = f"{describe}: the stored maps were damaged ({exc}); computing the cell again"
                self.log(f"  {message}")
                self.results.notes.append(message)
            return None
        return record

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The side arrays of a finished cell (those :meth:`_reusable` just checked, else read from the store)."""
        loaded, self._loaded = self._loaded, None
        return loaded[1] if loaded is not None and loaded[0] == key else self.store.arrays(key)

    def cell(self, key: str, describe: str, compute: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray] | None]],
              context: dict[str, Any]) -> dict[str, Any] | None:
        """Return the stored record of ``key``, computing ``compute()`` in this process and storing it if needed.

        The cell is computed while holding its claim in the store, after checking again
        that no other process finished it meanwhile: concurrent runs compute it once.
        """
        out: list[dict[str, Any] | None] = []
        self.run_cells([Cell(key, describe, context, Task(call_closure, args={"compute": compute}),
                               lambda record: out.append(record) or ())])
        return out[0]

    def count_reused(self, key: str) -> None:
        if key in self._done:
            self.results.shared += 1  # computed earlier in this run for another row
        else:
            self.results.reused += 1  # by an earlier run, or a concurrent one
            self._done.add(key)

    def store_outcome(self, cell: Cell, outcome: Outcome) -> dict[str, Any] | None:
        """Write a computed cell to the store (the driver alone writes it); None for a failed one."""
        if outcome.error is not None:
            self.results.errors.append({**cell.context, "error": outcome.error, "traceback": outcome.traceback or ""})
            self.log(f"  FAILED {cell.describe}: {outcome.error}")
            return None
        record = self.store.put(cell.key, {**cell.context, "seconds": outcome.seconds, "result": outcome.result},
                                outcome.arrays)
        self.results.computed += 1
        self._done.add(cell.key)
        return record

    def run_cells(self, cells: Iterable[Cell]) -> None:
        """Run ``cells`` and the cells their results call for, keeping the executor busy.

        A cell is handed to the executor while this process holds its claim (taken without
        waiting: a process holding claims never waits for another's, so two runs on one
        store cannot wait for each other); a cell claimed elsewhere waits until nothing
        else runs here, then waits for the claim and is reused. A cell whose key is
        already running here (another row of the same cell) waits for that one.
        Follow-up cells (the metrics of new maps) run next, before the queue.
        """
        queue: deque[Cell] = deque(cells)
        deferred: deque[Cell] = deque()
        running: dict[str, list[Cell]] = {}  # key -> cells waiting for that computation (the first computes it)

        def finish(cell: Cell, record: dict[str, Any] | None) -> None:
            if self.bar is not None:
                self.bar.update(1)
            queue.extendleft(reversed(list(cell.done(record) or ())))

        def compute(cell: Cell) -> None:
            running[cell.key] = [cell]
            self.executor.submit(cell.task, cell.key)

        while queue or deferred or self.executor.in_flight:
            while queue and self.executor.has_room():
                cell = queue.popleft()
                if self.bar is not None:
                    self.bar.set_description_str(cell.describe[:70])
                if cell.key in running:
                    running[cell.key].append(cell)
                    continue
                record = self.reusable(cell.key, cell.describe, repair=False)
                if record is None:
                    if not self.store.try_claim(cell.key):
                        deferred.append(cell)
                        continue
                    record = self.reusable(cell.key, cell.describe, repair=True)
                    if record is None:
                        compute(cell)
                        continue
                    self.store.release_claim(cell.key)
                self.count_reused(cell.key)
                finish(cell, record)
            if self.executor.in_flight:
                key, outcome = self.executor.next_done()
                try:
                    record = self.store_outcome(running[key][0], outcome)
                finally:
                    self.store.release_claim(key)
                first, *others = running.pop(key)
                finish(first, record)
                for other in others:
                    if record is not None:
                        self.results.shared += 1
                    finish(other, record)
            elif deferred:  # nothing runs here and no claim is held: wait for the other run's claim
                cell = deferred.popleft()
                waiting = f"  waiting: another run is computing {cell.describe}"
                with self.store.claim(cell.key, on_wait=lambda text=waiting: self.log(text)):
                    record = self.reusable(cell.key, cell.describe, repair=True)
                    if record is None:
                        self.executor.submit(cell.task, cell.key)
                        record = self.store_outcome(cell, self.executor.next_done()[1])
                    else:
                        self.count_reused(cell.key)
                finish(cell, record)
