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
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes

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
    """Append-only JSON-lines store of finished cells, in a folder.

    Parameters
    ----------
    folder
        Created if missing. Holds ``results.jsonl`` and ``cells/<key>.npz`` side files
        (attribution maps of explanation cells).

    Notes
    -----
    One process writes a store at a time (the benchmark runner); readers may read it
    at any moment.
    """

    FILE = "results.jsonl"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / self.FILE
        self.cells_dir = self.folder / "cells"
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0
        self._load()

    # ----------------------------------------------------------------- reading
    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        # The last element is b"" for a file that ends with a newline, else a partial line.
        for raw in lines[:-1]:
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.skipped_lines += 1
                continue
            if isinstance(record, dict) and "key" in record:
                self.records[record["key"]] = record
        if lines[-1].strip():
            self.skipped_lines += 1  # a line cut by a kill: dropped on the next append

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of ``key`` if it is finished (its side file, if any, present)."""
        record = self.records.get(key)
        if record is None:
            return None
        side = record.get("arrays")
        if side and not (self.cells_dir / side).is_file():
            return None
        return record

    # ----------------------------------------------------------------- writing
    def _repair_tail(self) -> None:
        """Cut a partial last line (left by a killed process) so appends start on a fresh line."""
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

    def put(self, key: str, record: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
        """Persist a finished cell: side arrays first (atomically), then one fsync'ed line."""
        out = {"key": key, "store_version": STORE_VERSION, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
               **json_ready(dict(record))}
        if arrays:
            name = f"{key}.npz"
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
            atomic_write_bytes(self.cells_dir / name, buffer.getvalue())
            out["arrays"] = name
        line = json.dumps(out, separators=(",", ":"), allow_nan=False) + "\n"
        self._repair_tail()
        with open(self.path, "ab") as fh:
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        self.records[key] = out
        return out

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The side arrays of a finished cell."""
        record = self.get(key)
        if record is None or not record.get("arrays"):
            raise KeyError(f"cell {key} has no stored arrays")
        with np.load(self.cells_dir / record["arrays"], allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
