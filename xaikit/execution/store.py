"""The results store: one JSON line per finished cell, appended and fsync'ed.

A *cell* is one unit of work whose result can be kept: one explainer timed on one
model's sample, one metric of one explanation, one floor measurement, one agreement
table. Its key is a hash of everything that determines the result (:func:`cell_key`):
the model id and weights checksum, the method, backend and its version, the parameters,
the metric and its parameters, a checksum of the image sample, and a digest of the
source code that computes it (:func:`code_digest`: an edited backend or metric is not
served from results of the old code). A re-run with the
same configuration finds every key and recomputes nothing; a changed configuration
changes the keys of exactly the cells it affects.

Durability: a record is written as one ``write`` of a complete line followed by
``flush`` and ``os.fsync``, only after the cell's side files (attribution maps, written
atomically) exist. A process killed at any point (Ctrl-C, a crash, ``kill -9``) leaves
either the whole line or a partial last line; the partial line is ignored when the
store is read and cut off before the next append, so no finished measurement is lost
and no garbage is kept. The last record of a key wins.

Concurrency: appends happen under an inter-process lock and a runner computes a cell
while holding that cell's lock (:meth:`ResultStore.claim`), so two runs on one folder
never lose a line and never compute a cell twice (the second waits, then reuses).

Damage: a line that is not a record (cut, edited) is skipped and counted; a side file
that does not load (truncated, altered) raises :class:`~xaikit.errors.FileFormatError`
from :meth:`ResultStore.arrays`, and the runner then discards it
(:meth:`ResultStore.discard`, noted in ``store.log``) and computes the cell again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._npz import NpzReader
from ..atomic_files import atomic_write_bytes

__all__ = [
    "STORE_VERSION",
    "ResultStore",
    "array_digest",
    "canonical",
    "cell_key",
    "json_ready",
    "code_digest",
]

STORE_VERSION = 1


def array_digest(array: Any) -> str:
    """sha256 (first 16 hex digits) of an array's dtype, shape and bytes."""
    arr = np.ascontiguousarray(np.asarray(array))
    h = hashlib.sha256()
    h.update(str(arr.dtype).encode())
    h.update(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def canonical(value: Any) -> Any:
    """A JSON-serialisable, order-independent form of ``value`` for hashing.

    Dict keys are sorted, tuples become lists, NumPy scalars become Python numbers,
    arrays are replaced by their shape and :func:`array_digest`, floats are kept
    exactly (``repr``), and anything else by its ``repr``.
    """
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"__array__": list(value.shape), "dtype": str(value.dtype), "sha": array_digest(value)}
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


_CODE_DIGESTS: dict[tuple[str, ...], str] = {}


def code_digest(*modules: str) -> str:
    """sha256 (first 16 hex digits) of the source files of packages or modules, found without importing them.

    Part of the cell keys, so that a cell computed by other code (an edited backend, a
    fixed metric, an upgraded plugin) is not reused. A package contributes every ``.py``
    file below it; a missing module contributes its name only.
    """
    import importlib.util

    key = tuple(sorted(set(modules)))
    if key in _CODE_DIGESTS:
        return _CODE_DIGESTS[key]
    h = hashlib.sha256()
    for name in key:
        h.update(name.encode())
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.submodule_search_locations:
            files = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py"))
        elif spec.origin and spec.origin.endswith(".py"):
            files = [Path(spec.origin)]
        else:
            files = []
        for f in files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    _CODE_DIGESTS[key] = h.hexdigest()[:16]
    return _CODE_DIGESTS[key]


def cell_key(spec: Mapping[str, Any]) -> str:
    """The key of a cell: sha256 (first 24 hex digits) of the canonical JSON of ``spec``."""
    text = json.dumps(canonical(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def json_ready(value: Any) -> Any:
    """Values to JSON: mappings and sequences recursively, arrays become lists, NaN/Inf become None."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


class ResultStore:
    """Append-only JSON-lines store of finished cells, in a folder, safe for concurrent runs.

    Parameters
    ----------
    folder
        Created if missing. Holds ``results.jsonl``, ``cells/<key>.npz`` side files
        (attribution maps of explanation cells), ``store.log`` (what the store repaired)
        and ``.locks/`` (inter-process lock files).

    Notes
    -----
    Several processes may run on one store at once (two ``xaikit bench -o same_dir``):

    - every append happens under an inter-process lock (:mod:`filelock`), after
      re-reading what other processes appended, so no line is cut or interleaved;
    - a runner computes a cell inside :meth:`claim`, a per-cell lock: a second process
      that reaches the same cell waits, then finds the record and reuses it, so a cell
      is computed once. A killed process releases its locks (the operating system drops
      them with the process), so nothing is left to clean up.

    Readers never need the lock: a line is read only once it is complete.
    """

    FILE = "results.jsonl"
    LOG = "store.log"
    LOCKS = ".locks"
    _LOCK_STRIPES = 256  # cells share this many lock files (a folder of them, not one per cell)

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / self.FILE
        self.cells_dir = self.folder / "cells"
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0
        self._starts: dict[str, int] = {}  # key -> byte offset of its last line
        self._offset = 0  # bytes of complete lines read so far
        self._partial_tail = False
        self._held: dict[int, list[Any]] = {}  # lock stripe -> [lock, claims held in it]
        self.refresh()
        self.skipped_lines += int(self._partial_tail)  # a line cut by a kill: dropped on the next append

    # ----------------------------------------------------------------- reading
    def refresh(self) -> None:
        """Read the complete lines appended since the last read (by this or another process)."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self._offset:  # the file was replaced: read it again from the start
                    self.records.clear()
                    self._starts.clear()
                    self._offset = 0
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self._partial_tail = bool(data[end:].strip())
        pos = self._offset
        for raw in data[:end].split(b"\n")[:-1]:
            start, pos = pos, pos + len(raw) + 1
            record = self._parse(raw)
            if record is None:
                self.skipped_lines += int(bool(raw.strip()))
                continue
            self.records[record["key"]] = record
            self._starts[record["key"]] = start
        self._offset += end

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any] | None:
        """The record on one line, or None for a line that is not one (cut, damaged or edited)."""
        try:
            record = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return None
        if not (isinstance(record, dict) and isinstance(record.get("key"), str) and "result" in record):
            return None
        side = record.get("arrays")
        if side is not None and side != f"{record['key']}.npz":  # never a path outside cells/
            return None
        return record

    @property
    def end(self) -> int:
        """Bytes of the results file read so far: records appended later start at or after this offset."""
        return self._offset

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def get(self, key: str, *, since: int = 0) -> dict[str, Any] | None:
        """The record of ``key`` if it is finished (its side file, if any, present).

        ``since``: only a record appended at or after this offset of the file (see
        :attr:`end`), e.g. by a run started after a fresh one.
        """
        record = self.records.get(key)
        if record is None or self._starts.get(key, 0) < since:
            return None
        side = record.get("arrays")
        if side and not (self.cells_dir / side).is_file():
            return None
        return record

    # ----------------------------------------------------------------- locking
    def _lock(self, name: str) -> Any:
        from filelock import FileLock

        folder = self.folder / self.LOCKS
        folder.mkdir(exist_ok=True)
        return FileLock(folder / name)

    def _stripe_lock(self, key: str, *, wait: bool, on_wait: Callable[[], None] | None = None) -> bool:
        """Hold the lock stripe of cell ``key`` (counted: one store object may claim several cells of a stripe)."""
        from filelock import Timeout

        stripe = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % self._LOCK_STRIPES
        held = self._held.get(stripe)
        if held is not None:
            held[1] += 1
            return True
        lock = self._lock(f"cell-{stripe:03d}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if not wait:
                return False
            if on_wait is not None:
                on_wait()
            lock.acquire()
        self._held[stripe] = [lock, 1]
        return True

    def release_claim(self, key: str) -> None:
        """Give back a claim taken with :meth:`try_claim`."""
        stripe = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % self._LOCK_STRIPES
        held = self._held[stripe]
        held[1] -= 1
        if held[1] == 0:
            del self._held[stripe]
            held[0].release()

    def try_claim(self, key: str) -> bool:
        """Take the claim of cell ``key`` if no other process holds it (re-reading the store); never waits.

        One process may hold the claims of many cells at once (cells computed in
        parallel); it never waits for a claim while holding others, so two runs cannot
        wait for each other. Give each claim back with :meth:`release_claim`.
        """
        if not self._stripe_lock(key, wait=False):
            return False
        self.refresh()
        return True

    @contextlib.contextmanager
    def claim(self, key: str, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the inter-process lock of cell ``key`` (re-reading the store once it is held).

        Compute a cell inside the claim after checking :meth:`get` again: another process
        may have finished it while this one waited. ``on_wait`` is called once if the
        lock is held elsewhere (to say why nothing happens).
        """
        self._stripe_lock(key, wait=True, on_wait=on_wait)
        try:
            self.refresh()
            yield
        finally:
            self.release_claim(key)

    # ----------------------------------------------------------------- writing
    def _repair_tail(self) -> None:
        """Cut a partial last line (left by a killed process) so appends start on a fresh line.

        Called with the store lock held: every writer holds it while appending, so a
        partial line is never one being written.
        """
        if not self.path.exists():
            return
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb+") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline
            pos = size - 1
            chunk = 4096
            cut = 0
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                block = fh.read(pos - start)
                idx = block.rfind(b"\n")
                if idx >= 0:
                    cut = start + idx + 1
                    break
                pos = start
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
        self._note(f"cut a partial last line of {self.FILE} ({size - cut} bytes, left by a killed process)")

    def _note(self, message: str) -> None:
        """Append ``message`` to ``store.log`` (call with the store lock held)."""
        with open(self.folder / self.LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}: {message}\n")

    def put(self, key: str, record: Mapping[str, Any],
            arrays: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
        """Persist a finished cell: side arrays first (atomically), then one fsync'ed line, under the store lock.

        ``record`` must hold the cell's ``"result"``.
        """
        if "result" not in record:
            raise ValueError(f"the record of cell {key} has no 'result'")
        out = {"key": key, "store_version": STORE_VERSION, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
               **json_ready(dict(record))}
        if arrays:
            name = f"{key}.npz"
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
            atomic_write_bytes(self.cells_dir / name, buffer.getvalue())
            out["arrays"] = name
        line = json.dumps(out, separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock("results.lock"):
            self._repair_tail()
            with open(self.path, "ab") as fh:
                fh.write(line.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            self.refresh()
        return self.records[key]

    def discard(self, key: str, reason: str) -> None:
        """Forget the side file of ``key`` (damaged: ``reason``) so that the cell is computed again; logged."""
        record = self.records.get(key)
        side = record.get("arrays") if record else None
        with self._lock("results.lock"):
            if side:
                (self.cells_dir / side).unlink(missing_ok=True)
            self._note(f"cell {key}: {reason}; its side file was removed and the cell will be computed again")

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The side arrays of a finished cell.

        Raises
        ------
        KeyError
            The cell is not finished or has no arrays.
        FileFormatError
            The side file is damaged (truncated, altered); the message names it.
        """
        record = self.get(key)
        if record is None or not record.get("arrays"):
            raise KeyError(f"cell {key} has no stored arrays")
        with NpzReader(self.cells_dir / record["arrays"], what="bench cell file", max_bytes=None) as npz:
            return npz.read_numeric()
