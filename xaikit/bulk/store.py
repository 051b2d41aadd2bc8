"""The Zarr store of a bulk explanation: its arrays, its identity (``spec``), its lock, its chunk writes.

See :mod:`xaikit.bulk` for the store's layout and how a run resumes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError

__all__ = ["FLOAT16_ABSOLUTE_ERROR", "FLOAT16_RELATIVE_ERROR", "FORMAT", "MAP_DTYPES", "BulkStore", "create_store",
           "locked_store", "maps_as", "open_zarr", "resumable_store", "store_lock", "write_together", "zarr_module"]

FORMAT = "xaikit-bulk-2"  # 2: image_hashes (content identity of the images)

#: Map dtypes a store can hold (``dtype=``).
MAP_DTYPES = ("float32", "float16")
#: float16's rounding error relative to a value's magnitude (half its 10-bit mantissa's last place), for
#: values from its smallest normal number (6.1e-5) to its largest (65504).
FLOAT16_RELATIVE_ERROR = 2.0**-11
#: float16's rounding error below its smallest normal number (half the spacing of its subnormals).
FLOAT16_ABSOLUTE_ERROR = 2.0**-25

#: The store's arrays, as :class:`BulkStore` holds them.
ARRAYS = ("maps", "targets", "predictions", "outputs", "image_hashes", "done")


def write_together(writes: Sequence[tuple[Any, slice, np.ndarray]]) -> None:
    """``array[s] = values`` for several Zarr arrays at once, in one round trip to Zarr's I/O loop.

    Zarr 3's synchronous ``array[s] = v`` waits for its asynchronous store each time (about
    2 ms per write here, whatever the size): the chunk of maps and the three small arrays
    of a bulk chunk are written concurrently instead (measured: 9.5 -> 5 ms per chunk of 64
    maps of 64 x 64). Where Zarr's public asynchronous interface is not there (``Array.async_array``
    came with zarr 3.1.4; before, only a private attribute), the arrays are written one after
    the other. Either way every write has finished when this returns.
    """
    try:
        from zarr.core.sync import sync

        pending = [(array.async_array, s, values) for array, s, values in writes]
    except (ImportError, AttributeError):
        for array, s, values in writes:
            array[s] = values
        return
    import asyncio

    async def put() -> None:
        await asyncio.gather(*(array.setitem(s, values) for array, s, values in pending))

    sync(put())


def _maps_codec() -> Any:
    """The maps' compressor: Blosc LZ4 after a byte shuffle (fast, and smaller than the default Zstandard here)."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def maps_as(maps: np.ndarray, dtype: str) -> np.ndarray:
    """``maps`` in the store's ``dtype``; float16 refuses values beyond its range (they would become infinite).

    Maps already in ``dtype`` (converted by the task, where it ran) are returned as they are.
    """
    if maps.dtype == np.dtype(dtype):
        return maps
    if dtype == "float32":
        return np.asarray(maps, np.float32)
    largest = float(np.finfo(np.float16).max)
    peak = float(np.nanmax(np.abs(maps))) if maps.size else 0.0
    if peak > largest:
        raise InputError(f"a map reaches {peak:.4g}, beyond float16's range ({largest:.0f}): explain into a float32 "
                         "store (dtype='float32', --dtype float32), or rescale the model's scores")
    return maps.astype(np.float16)


def zarr_module() -> Any:
    """The ``zarr`` module, version 3 or later (else a :class:`MissingDependencyError` saying what to install)."""
    try:
        import zarr
    except ImportError:
        raise MissingDependencyError("bulk explanation writes Zarr stores: pip install 'xaikit[distributed]' "
                                     "(zarr 3, Python 3.11+)") from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise MissingDependencyError(f"bulk explanation needs zarr 3 (found {zarr.__version__}): "
                                     "pip install 'zarr>=3' (Python 3.11+)")
    return zarr


def open_zarr(path: str | os.PathLike[str]) -> Any:
    """The Zarr group of a bulk explanation, read-only (``group["maps"][i]``, ``group.attrs["xaikit_bulk"]``)."""
    return zarr_module().open_group(str(path), mode="r")


def store_lock(out: Path) -> Any:
    """The inter-process lock of the store ``out``: a file beside it (a store's own folder is replaced on overwrite)."""
    from filelock import FileLock

    out.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(out.parent / f".{out.name}.lock")


def locked_store(out: Path, log: Callable[[str], None] | None) -> Any:
    """:func:`store_lock` of ``out``, acquired: at once, or after ``log`` said another run holds it and it was freed."""
    from filelock import Timeout

    lock = store_lock(out)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if log is not None:
            log(f"another run is writing {out}: waiting for it to finish (then its chunks are kept)")
        lock.acquire()
    return lock


def resumable_store(zarr: Any, out: Path, spec: dict[str, Any], overwrite: bool) -> Any:
    """The store at ``out`` if a run with this ``spec`` made it; None if there is none (or it was overwritten).

    Anything else at ``out`` is refused (FileExistsError saying what differs) unless
    ``overwrite``, which deletes it. Call with the store's lock held.
    """
    if not out.exists():
        return None
    try:
        root = zarr.open_group(str(out), mode="a")
        old = dict(root.attrs.get("xaikit_bulk", {}))
    except Exception:  # noqa: BLE001 - not a store of ours: refused below unless overwrite
        old = {}
    if old.get("spec") == spec:
        return root
    if not overwrite:
        what = "a store of another run" if old else "not a bulk explanation store"
        differs = [k for k in spec if (old.get("spec") or {}).get(k) != spec[k]]
        why = f" (it differs in {', '.join(differs)})" if old else ""
        if differs == ["format"]:
            why = f" (made by another version of xaikit: format {old['spec'].get('format')}, not {FORMAT})"
        raise FileExistsError(f"{out} is {what}{why}; give another output or overwrite=True (--overwrite) to "
                              "replace it")
    import shutil

    shutil.rmtree(out) if out.is_dir() else out.unlink()
    return None


def create_store(zarr: Any, out: Path, *, n: int, size: tuple[int, int], n_outputs: int, chunk_size: int,
                 dtype: str, attrs: dict[str, Any]) -> Any:
    """A new store at ``out`` for ``n`` maps of ``size``: its arrays empty (NaN, -1, 0), ``attrs`` recorded."""
    h, w = size
    n_chunks = (n + chunk_size - 1) // chunk_size
    root = zarr.open_group(str(out), mode="w")
    k = max(int(n_outputs or 1), 1)
    root.create_array("maps", shape=(n, h, w), chunks=(chunk_size, h, w), dtype=dtype, fill_value=np.nan,
                      compressors=_maps_codec())
    small = {"compressors": None}  # a few hundred bytes per chunk: compressing them costs more than it saves
    root.create_array("targets", shape=(n,), chunks=(chunk_size,), dtype="int64", fill_value=-1, **small)
    root.create_array("predictions", shape=(n,), chunks=(chunk_size,), dtype="int64", fill_value=-1, **small)
    root.create_array("outputs", shape=(n, k), chunks=(chunk_size, k), dtype="float32", fill_value=np.nan,
                      **small)
    root.create_array("image_hashes", shape=(n,), chunks=(chunk_size,), dtype="uint64", fill_value=0, **small)
    root.create_array("done", shape=(n_chunks,), chunks=(1,), dtype="uint8", fill_value=0, compressors=None)
    root.attrs["xaikit_bulk"] = {**attrs, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return root


@dataclass
class BulkStore:
    """An open store being written: its arrays, its record, and what was finished when the run began.

    Attributes
    ----------
    root : zarr.Group
        The store.
    dtype : str
        The maps' dtype.
    info : dict
        The store's attribute ``xaikit_bulk`` (``"run"`` added with the first chunk written).
    done : ndarray of bool
        The chunks finished before this run (read once, at its start).
    known : ndarray of uint64
        The hashes of the pixels each finished chunk was computed from.
    """

    root: Any
    dtype: str
    info: dict[str, Any]
    done: np.ndarray
    known: np.ndarray

    @classmethod
    def open(cls, root: Any, dtype: str) -> BulkStore:
        """The store ``root`` as a run finds it."""
        return cls(root, dtype, dict(root.attrs["xaikit_bulk"]), np.asarray(root["done"][:], bool),
                   np.asarray(root["image_hashes"][:], np.uint64))

    def writer(self, engine_info: dict[str, Any]) -> Callable[[int, slice, dict[str, np.ndarray], dict[str, Any]],
                                                              None]:
        """``write(i, s, arrays, result)``: chunk ``i`` (images ``s``) into the store, its ``done`` flag last.

        The first chunk written records how the run went (parameters as run, score,
        layer, ``engine_info``) in the store's attributes.
        """
        from ..execution import json_ready

        arrays = {name: self.root[name] for name in ARRAYS}

        def write(i: int, s: slice, a: dict[str, np.ndarray], res: dict[str, Any]) -> None:
            if self.done[i]:  # a chunk computed again (its images changed): not finished until all is rewritten
                arrays["done"][i] = 0
            write_together([(arrays["maps"], s, maps_as(a["maps"], self.dtype))]
                           + [(arrays[name], s, a[name]) for name in ("targets", "predictions", "outputs",
                                                                      "image_hashes")])
            arrays["done"][i] = 1  # the record: written after the chunk's arrays
            if "run" not in self.info:
                self.info["run"] = json_ready({"params": res["params"], "score": res["score"], "layer": res["layer"],
                                               "engine": engine_info})
                self.root.attrs["xaikit_bulk"] = self.info

        return write
