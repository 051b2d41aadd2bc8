"""What the viewer shows: the columns of maps of a bulk store (or several) or of a bench folder.

A *source* answers four questions, which is all the server and the static export ask:
its index (columns, images, what to sort and filter by: JSON-ready), the map of column
``c`` for image ``i``, the image under it, and how a map is drawn by default.

- :class:`BulkSource`: one or several Zarr stores of :mod:`xaikit.bulk` of the same
  images (one column per store: a method, a backend). Maps are read chunk by chunk (the
  Zarr chunk holding the image, kept in a bounded cache); the small per-image arrays
  (targets, predictions, outputs, and the optional ``metrics/<name>`` arrays of shape
  ``(N,)``) are read when the store is opened. Images are read from the files the store
  names (absolute, or relative to the working folder or to the store's folder); an image
  whose file is gone is drawn as flat grey.
- :class:`BenchSource`: a results folder of ``xaikit bench`` (``summary.json``,
  ``results.jsonl``, ``cells/<key>.npz``): the summary table and, per row, the maps its
  explanation cell kept. The bench does not keep the sample's pixels, so its maps are
  drawn over flat grey.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .cache import ByteLRU
from .render import method_view

__all__ = ["BenchSource", "BulkSource", "Column", "open_source"]

#: Bytes of map chunks kept in memory per source (least recently used dropped first).
CHUNK_CACHE_BYTES = 256 * 2**20
#: The grey drawn where an image's file cannot be read (0-255).
MISSING_GREY = 128


@dataclass(frozen=True)
class Column:
    """One column of maps: what made them, how many, their size, how ``auto`` draws them."""

    label: str
    method: str
    backend: str
    n: int
    height: int
    width: int
    group: str = ""  # the bench's model id; the store's path for bulk

    def as_json(self, index: int) -> dict[str, Any]:
        return {"id": index, "label": self.label, "method": self.method, "backend": self.backend, "n": self.n,
                "height": self.height, "width": self.width, "group": self.group, "view": method_view(self.method)}


def _confidence(outputs: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, str]:
    """The predicted class's probability: the outputs themselves when they are probabilities, else their softmax."""
    out = np.asarray(outputs, np.float64)
    if out.ndim != 2 or out.shape[1] == 0:
        return np.full(len(predictions), np.nan), "none"
    finite = np.isfinite(out).all(axis=1)
    probs = bool(finite.any()) and bool(np.all((out[finite] >= 0) & (out[finite] <= 1))) and bool(
        np.allclose(out[finite].sum(axis=1), 1.0, atol=1e-3))
    if not probs:  # rows of a chunk not yet computed are NaN: kept out of the softmax, masked below
        z = np.where(finite[:, None], out, 0.0)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        out = z / z.sum(axis=1, keepdims=True)
    rows = np.arange(len(out))
    cols = np.clip(predictions, 0, out.shape[1] - 1)
    conf = np.where((predictions >= 0) & finite, out[rows, cols], np.nan)
    return conf, "model output" if probs else "softmax of the outputs"


def _finite_list(values: np.ndarray, digits: int = 6) -> list[Any]:
    arr = np.asarray(values, np.float64)
    return [round(float(v), digits) if np.isfinite(v) else None for v in arr]


def _grey(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), MISSING_GREY, np.uint8)


class BulkSource:
    """One or several bulk stores of the same images, one column each (see the module docstring).

    Parameters
    ----------
    paths
        The Zarr stores (``maps.zarr`` folders written by :func:`xaikit.bulk.explain_to_zarr`).
    """

    kind = "bulk"

    def __init__(self, paths: Sequence[str | os.PathLike[str]]) -> None:
        from ..bulk import open_zarr

        if not paths:
            raise InputError("give at least one bulk store (a maps.zarr folder)")
        self.paths = [Path(p) for p in paths]
        self.groups = []
        self.columns: list[Column] = []
        names: list[str] | None = None
        shape: tuple[int, ...] | None = None
        for path in self.paths:
            try:
                group = open_zarr(path)
                info = dict(group.attrs["xaikit_bulk"])
                maps = group["maps"]
            except (KeyError, FileNotFoundError, ValueError) as exc:
                why = f"no {exc} in it" if isinstance(exc, KeyError) else str(exc)
                raise InputError(f"{path} is not a bulk store of xaikit ({why}); write one with "
                                 "`xaikit explain ... --out maps.zarr` or xaikit.bulk.explain_to_zarr") from None
            image_names = [str(n) for n in info.get("images", [])]
            if names is None:
                names, shape = image_names, tuple(maps.shape)
            elif image_names != names or tuple(maps.shape) != shape:
                raise InputError(f"{path} holds other images than {self.paths[0]} ({len(image_names)} vs "
                                 f"{len(names)} images, maps {tuple(maps.shape)} vs {shape}); the columns of one "
                                 "view must be stores of the same images: view them separately")
            self.groups.append(group)
            self.columns.append(Column(str(info.get("method")), str(info.get("method")), str(info.get("backend")),
                                       int(maps.shape[0]), int(maps.shape[1]), int(maps.shape[2]), str(path)))
        labels = [f"{c.method} ({c.backend})" for c in self.columns]
        self.columns = [Column(lab if labels.count(lab) == 1 else f"{lab} {c.group}", c.method, c.backend, c.n,
                               c.height, c.width, c.group) for lab, c in zip(labels, self.columns, strict=True)]
        self.names: list[str] = names or []
        self.n = len(self.names)
        self.height, self.width = self.columns[0].height, self.columns[0].width
        first = self.groups[0]
        self.targets = np.asarray(first["targets"][:], np.int64)
        # a store that explained other classes than the first (another targets=) says so in its column
        self.column_targets: dict[int, list[int]] = {}
        for c, group in enumerate(self.groups[1:], start=1):
            targets = np.asarray(group["targets"][:], np.int64)
            if not np.array_equal(targets, self.targets):
                self.column_targets[c] = targets.tolist()
        self.predictions = np.asarray(first["predictions"][:], np.int64)
        self.confidence, self.confidence_source = _confidence(first["outputs"][:], self.predictions)
        self.metrics = self._metrics()
        self.chunk_cache = ByteLRU(CHUNK_CACHE_BYTES)
        self._images = ByteLRU(64 * 2**20)

    def _metrics(self) -> dict[str, np.ndarray]:
        """Per-image metrics of every store: float arrays ``(N,)`` of its ``metrics`` group, when it has one."""
        out: dict[str, np.ndarray] = {}
        for column, group in zip(self.columns, self.groups, strict=True):
            try:
                sub = group["metrics"]
                members = list(sub.arrays())
            except (KeyError, AttributeError, TypeError):
                continue
            for name, array in members:
                if tuple(array.shape) != (self.n,) or array.dtype.kind not in "biuf":
                    continue
                key = name if len(self.groups) == 1 else f"{column.label}: {name}"
                out[key] = np.asarray(array[:], np.float64)
        return out

    def index(self) -> dict[str, Any]:
        """The JSON-ready description of the source (everything but the maps and images)."""
        first = dict(self.groups[0].attrs["xaikit_bulk"])
        return {"kind": self.kind, "title": ", ".join(str(p) for p in self.paths), "n": self.n,
                "height": self.height, "width": self.width,
                "columns": [dict(c.as_json(i), **({"targets": self.column_targets[i]} if i in self.column_targets
                                                    else {})) for i, c in enumerate(self.columns)],
                "images": {"name": self.names, "target": self.targets.tolist(),
                           "prediction": self.predictions.tolist(), "confidence": _finite_list(self.confidence, 4)},
                "confidence_source": self.confidence_source,
                "metrics": {k: _finite_list(v) for k, v in self.metrics.items()},
                "model": str((first.get("model") or {}).get("source", ""))}

    def check(self, column: int, i: int) -> None:
        """Raise ``KeyError`` for a column or image that does not exist (the server answers 404)."""
        if not (0 <= column < len(self.columns) and 0 <= i < self.columns[column].n):
            raise KeyError((column, i))

    def map(self, column: int, i: int) -> np.ndarray:
        """float32 ``(H, W)``: the map of image ``i`` in ``column``, from its Zarr chunk (cached)."""
        self.check(column, i)
        maps = self.groups[column]["maps"]
        size = int(maps.chunks[0])
        k = i // size

        def read() -> np.ndarray:
            return np.asarray(maps[k * size:min((k + 1) * size, self.n)], np.float32)

        return self.chunk_cache.get((column, k), read)[i - k * size]

    def _path(self, name: str) -> Path | None:
        p = Path(name)
        for candidate in ([p] if p.is_absolute() else [Path.cwd() / p, *(s.parent / p for s in self.paths)]):
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # a name too long for the file system, say
                continue
        return None

    def image(self, column: int, i: int) -> np.ndarray:
        """uint8 ``(H, W, 3)``: image ``i`` as the model saw it (resized to the maps), or grey if its file is gone."""
        self.check(column, i)

        def read() -> np.ndarray:
            from ..io import load_images

            path = self._path(self.names[i])
            if path is None:
                return _grey(self.height, self.width)
            try:
                return load_images([path], size=(self.height, self.width), channels=3)[0][0]
            except (InputError, OSError, ValueError):
                return _grey(self.height, self.width)

        return self._images.get(i, read)


class BenchSource:
    """A bench results folder: the summary table and every explanation cell's maps (see the module docstring)."""

    kind = "bench"

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        from .._npz import NpzReader
        from ..execution import ResultStore

        self.folder = Path(folder)
        summary_path = self.folder / "summary.json"
        if not summary_path.is_file():
            raise InputError(f"{self.folder} has no summary.json: it is not a bench results folder (run "
                             "`xaikit bench -o FOLDER` first) nor a bulk store (a folder with zarr.json)")
        try:
            self.summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{summary_path} is not valid JSON ({exc}); run the bench again to rewrite it") from None
        self.store = ResultStore(self.folder)
        self.columns: list[Column] = []
        self.keys: list[str] = []
        self.targets: list[list[int]] = []  # per column: the class each map explains
        self.row_column: dict[tuple[str, str, str], int] = {}
        for model in self.summary.get("models", []):
            for row in model.get("rows", []):
                key = row.get("explain_key")
                record = self.store.get(key) if isinstance(key, str) else None
                if record is None or not record.get("arrays"):
                    continue
                with NpzReader(self.store.cells_dir / record["arrays"], what="bench cell file", max_bytes=None) as npz:
                    header = npz.require("attributions", kinds="f", ndim=3)
                    targets = npz.read("targets").tolist() if "targets" in npz else []
                n, h, w = header.shape
                self.row_column[(str(model.get("id")), str(row.get("label")), str(row.get("backend")))] = len(
                    self.columns)
                self.columns.append(Column(f"{row.get('label')} ({row.get('backend')})", str(row.get("method")),
                                           str(row.get("backend")), n, h, w, str(model.get("id"))))
                self.keys.append(key)
                self.targets.append([int(t) for t in targets])
        self._cells = ByteLRU(CHUNK_CACHE_BYTES)

    def index(self) -> dict[str, Any]:
        """The summary table (with each row's column of maps), its columns and the scatter's points."""
        from ..bench.summary import COLUMNS, fmt_cell

        table = []
        for d in self.summary.get("table", []):
            row = {k: v for k, v in d.items() if isinstance(v, (str, int, float, bool)) or v is None}
            row["cells"] = {c.key: fmt_cell(c.key, d, intervals=True) for c in COLUMNS}
            row["maps"] = self.row_column.get((str(d.get("model")), str(d.get("label")), str(d.get("backend"))))
            table.append(row)
        return {"kind": self.kind, "title": str(self.summary.get("suite", self.folder.name)),
                "columns": [dict(c.as_json(i), targets=t) for i, (c, t) in enumerate(zip(self.columns, self.targets,
                                                                                          strict=True))],
                "table_columns": [{"key": c.key, "header": c.header, "direction": c.direction, "kind": c.kind}
                                  for c in COLUMNS],
                "table": table, "environment": {k: v for k, v in self.summary.get("environment", {}).items()
                                                if isinstance(v, (str, int, float))}}

    def check(self, column: int, i: int) -> None:
        if not (0 <= column < len(self.columns) and 0 <= i < self.columns[column].n):
            raise KeyError((column, i))

    def _cell(self, column: int) -> dict[str, np.ndarray]:
        key = self.keys[column]

        def read() -> dict[str, np.ndarray]:
            arrays = self.store.arrays(key)
            return {"attributions": np.asarray(arrays["attributions"], np.float32)}

        return self._cells.get(column, read)

    def map(self, column: int, i: int) -> np.ndarray:
        self.check(column, i)
        return self._cell(column)["attributions"][i]

    def image(self, column: int, i: int) -> np.ndarray:
        """Flat grey: the bench keeps the maps of its sample, not the pixels."""
        self.check(column, i)
        c = self.columns[column]
        return _grey(c.height, c.width)


def open_source(paths: Sequence[str | os.PathLike[str]]) -> BulkSource | BenchSource:
    """The source of ``xaikit view PATH...``: bulk stores (``zarr.json`` inside) or one bench folder."""
    paths = [Path(p) for p in paths]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p} does not exist; give a bulk store (maps.zarr) or a bench results folder")
    if all((p / "zarr.json").is_file() for p in paths):
        return BulkSource(paths)
    if len(paths) == 1 and (paths[0] / "summary.json").is_file():
        return BenchSource(paths[0])
    raise InputError(f"{', '.join(map(str, paths))}: give one or more bulk stores (folders with zarr.json, written "
                     "by `xaikit explain --out maps.zarr`) or one bench results folder (with summary.json)")
