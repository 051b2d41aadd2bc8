"""The schedule of a bulk run: chunks read ahead, handed to an executor, collected and written, in a bounded flow.

A chunk finished by an earlier run is kept when its images hash as they did then; the
others (and the changed ones) are submitted while the executor has room, and each
result is handed to the writer thread as it comes back. Image files are decoded by the
driver's reader thread, or, on a remote executor (Ray), by the worker that explains them
(:data:`DECODE_CHOICES`): then only their names travel to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .source import ImageFiles, ImageSource, image_hashes
from .store import BulkStore
from .task import explain_chunk, explain_files_chunk
from .threads import ChunkReader, ChunkWriter

__all__ = ["DECODE_CHOICES", "ChunkJob", "RunTally", "check_decode", "decode_on_workers", "payload_bytes", "run_chunks"]

#: Where image files are decoded: ``"auto"`` (on the workers of a remote executor that runs
#: on one machine, else on the driver), ``"driver"`` or ``"workers"`` (a cluster whose
#: workers read the same files: a shared disk).
DECODE_CHOICES = ("auto", "driver", "workers")


@dataclass
class ChunkJob:
    """What every chunk's task takes besides its pixels.

    Attributes
    ----------
    method, backend : str
        The method and the backend that runs it.
    params : dict
        The method's parameters as run (a random method's seed included).
    targets : None, int or ndarray
        The class(es) explained: None (predicted), one, or one per image of the run.
    forward : callable
        Pixels ``(n, H, W, C)`` in [0, 255] -> the model's input (preprocessed, in its layout).
    dtype : str
        The store's map dtype; the task converts its maps to it where it runs, so float16
        maps travel back from a Ray worker at half the bytes.
    """

    method: str
    backend: str
    params: dict[str, Any]
    targets: Any
    forward: Callable[[np.ndarray], np.ndarray]
    dtype: str = "float32"

    def _explained(self, s: slice) -> dict[str, Any]:
        """The method, backend, parameters and targets of the images ``s``."""
        t = self.targets[s] if isinstance(self.targets, np.ndarray) else self.targets
        return {"method": self.method, "backend": self.backend, "params": self.params, "targets": t,
                "dtype": self.dtype}

    def arguments(self, pixels: np.ndarray, s: slice) -> dict[str, Any]:
        """The keyword arguments of :func:`~xaikit.bulk.task.explain_chunk` for the images ``s``."""
        return {"images": self.forward(pixels), **self._explained(s)}

    def file_arguments(self, files: ImageFiles, s: slice) -> dict[str, Any]:
        """The keyword arguments of :func:`~xaikit.bulk.task.explain_files_chunk` for the files ``s``."""
        return {"files": files.part(s), "forward": self.forward, **self._explained(s)}


@dataclass
class RunTally:
    """What a run did, as :func:`run_chunks` counted it (the times are ``time.perf_counter()``)."""

    n: int
    engine: dict[str, Any]
    start: float
    end: float = 0.0
    finished: int = 0
    computed: int = 0
    reused: int = 0
    images_computed: int = 0
    changed: list[str] = field(default_factory=list)
    first: tuple[float, int] | None = None  # (time, images) when the first chunk was explained
    remote: bool = False  # whether the executor's tasks ran in other processes
    decode: str = "driver"  # where the computed chunks' files were decoded
    bytes_sent: int = 0  # arrays and file names handed to the executor's tasks
    bytes_received: int = 0  # arrays their results returned


def payload_bytes(value: Any) -> int:
    """Bytes of the arrays and strings in ``value`` (dicts, lists, tuples, :class:`ImageFiles`), the rest ignored.

    What a remote executor copies to or from a task, without its serialisation's small
    framing (the function, parameters and numbers).
    """
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, ImageFiles):
        return payload_bytes(value.paths)
    if isinstance(value, dict):
        return sum(payload_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(payload_bytes(v) for v in value)
    return 0


def check_decode(decode: str) -> None:
    """Refuse a ``decode`` not in :data:`DECODE_CHOICES`."""
    if decode not in DECODE_CHOICES:
        raise InputError(f"decode must be one of {', '.join(map(repr, DECODE_CHOICES))}; got {decode!r}")


def decode_on_workers(decode: str, runner: Any, source: ImageSource) -> bool:
    """Whether the executor's tasks decode the image files themselves (see :data:`DECODE_CHOICES`)."""
    check_decode(decode)
    if decode == "driver":
        return False
    if decode == "workers":
        if source.files is None:
            raise InputError("decode='workers' decodes image files on the workers, but the images are an array: "
                             "drop decode (arrays are sent as they are)")
        if not runner.remote:
            raise InputError(f"decode='workers' is for a remote executor (engine='ray'); the {runner.name} "
                             "executor runs in this process: drop decode")
        return True
    return source.files is not None and runner.remote and runner.describe().get("nodes", 1) == 1


def chunk_slices(n: int, chunk_size: int) -> list[tuple[int, slice]]:
    """``(i, images of chunk i)`` of ``n`` images in chunks of ``chunk_size``."""
    n_chunks = (n + chunk_size - 1) // chunk_size
    return [(i, slice(i * chunk_size, min((i + 1) * chunk_size, n))) for i in range(n_chunks)]


class _Schedule:
    """One run's flow of chunks: submitted while the executor has room, collected, handed to the writer."""

    def __init__(self, runner: Any, ref: Any, job: ChunkJob, store: BulkStore, source: ImageSource,
                 tally: RunTally, progress: Callable[[int, int], None] | None) -> None:
        self.runner, self.ref, self.job, self.store, self.source = runner, ref, job, store, source
        self.tally, self.progress = tally, progress
        self.pending: dict[int, tuple[slice, np.ndarray | None]] = {}
        self.writer = ChunkWriter(store.writer(tally.engine))

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.tally.finished, self.tally.n)

    def kept(self, i: int, s: slice, hashes: np.ndarray) -> bool:
        """Whether chunk ``i`` was finished earlier from these very pixels (then it counts as reused)."""
        if not self.store.done[i]:
            return False
        same = self.store.known[s] == hashes
        if same.all():
            self.tally.reused += 1
            self.tally.finished += s.stop - s.start
            self.report()
            return True
        self.tally.changed += [self.source.names[s.start + j] for j in np.flatnonzero(~same)]
        return False

    def submit(self, i: int, s: slice, pixels: np.ndarray | None, hashes: np.ndarray | None) -> None:
        """Chunk ``i`` to the executor: its pixels, or (``pixels`` None) its files, read where the task runs."""
        from ..execution import Task

        while not self.runner.has_room():
            self.collect()
        if pixels is None:
            assert self.source.files is not None
            task = Task(explain_files_chunk, self.ref, {}, self.job.file_arguments(self.source.files, s))
        else:
            task = Task(explain_chunk, self.ref, {}, self.job.arguments(pixels, s))
        self.tally.bytes_sent += payload_bytes(task.args)
        self.runner.submit(task, i)
        self.pending[i] = (s, hashes)

    def collect(self) -> None:
        i, outcome = self.runner.next_done()
        s, hashes = self.pending.pop(i)
        if outcome.error is not None:
            raise RuntimeError(f"chunk {i} (images {s.start}..{s.stop - 1}) failed: {outcome.error}\n"
                               f"{outcome.traceback or ''}")
        tally = self.tally
        tally.bytes_received += payload_bytes(outcome.arrays)
        arrays = outcome.arrays if hashes is None else {**outcome.arrays, "image_hashes": hashes}
        self.writer.put(i, s, arrays, outcome.result)
        tally.finished += s.stop - s.start
        tally.images_computed += s.stop - s.start
        tally.computed += 1
        if tally.first is None:
            tally.first = (time.perf_counter(), s.stop - s.start)
        self.report()

    def run(self, reader: ChunkReader) -> None:
        """Every chunk of ``reader`` kept or computed and written; what was computed is written even on an error."""
        try:
            for i, s, (pixels, hashes) in reader:
                if not self.kept(i, s, hashes):
                    self.submit(i, s, pixels, hashes)
            while self.pending:
                self.collect()
        except BaseException:
            self.writer.close(check=False)  # what was computed is written, even when a later chunk failed
            raise
        self.writer.close()


def run_chunks(engine: Any, ref: Any, model: Any, job: ChunkJob, store: BulkStore, source: ImageSource, *,
               chunk_size: int, prefetch: int, address: str | None = None, workers: int | None = None,
               progress: Callable[[int, int], None] | None = None, decode: str = "auto") -> RunTally:
    """Run every chunk of ``source`` into ``store`` on the executor ``engine`` (given one, it is left open).

    ``model`` (an :class:`~xaikit.execution.OpenModel`) is handed to the executor as
    ``ref``. Chunks to compute are read first (here, or by the tasks: ``decode``), those
    finished earlier after (read here, to check their images). The tally's times run
    from the executor ready to it closed.
    """
    from ..execution import Executor, get_executor

    owned = not isinstance(engine, Executor)
    runner = get_executor(engine, address=address, workers=workers)
    try:
        remote_decode = decode_on_workers(decode, runner, source)
    except BaseException:
        if owned:
            runner.close()
        raise
    runner.adopt(ref, model)
    tally = RunTally(len(source), runner.describe(), time.perf_counter(), remote=runner.remote,
                     decode="workers" if remote_decode else "driver")
    schedule = _Schedule(runner, ref, job, store, source, tally, progress)
    schedule.report()
    chunks = chunk_slices(len(source), chunk_size)
    read_by_tasks = {s.start for i, s in chunks if remote_decode and not store.done[i]}

    def load_hashed(s: slice) -> tuple[np.ndarray | None, np.ndarray | None]:  # in the reader thread
        if s.start in read_by_tasks:
            return None, None
        pixels = source.load(s)
        return pixels, image_hashes(pixels)

    reader = ChunkReader(load_hashed, [c for c in chunks if not store.done[c[0]]]
                         + [c for c in chunks if store.done[c[0]]], prefetch)
    try:
        schedule.run(reader)
    finally:
        reader.close()
        if owned:
            runner.close()
        else:
            runner.release(ref)
    tally.end = time.perf_counter()
    return tally
