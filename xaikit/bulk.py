"""Bulk explanation: the maps of a whole image set in a chunked Zarr store, streamed and resumable.

>>> import xaikit.bulk                                                         # doctest: +SKIP
>>> xaikit.bulk.explain_to_zarr("zoo:shapes_cnn4", "val/", "maps.zarr", method="gradcam")  # doctest: +SKIP

or ``xaikit explain --zoo shapes_cnn4 --images val/ --out maps.zarr [--engine ray]``.

The images are read in chunks of ``chunk_size`` (a reader thread keeps at most
``prefetch`` chunks ahead), each chunk is explained by an executor
(:mod:`xaikit.execution`: ``local`` in this process, ``ray`` on workers) and the
driver writes it into the store from a writer thread (at most two chunks waiting), so
reading and writing overlap the explanation and memory is bounded by the chunks in
flight and ``batch_size``, never by the dataset.

The store (a Zarr group, ``zarr>=3``):

=================  ==========================================================
``maps``           float32 ``(N, H, W)`` (float16 with ``dtype="float16"``), one Zarr
                   chunk per ``chunk_size`` images (NaN where not yet computed),
                   compressed with Blosc LZ4 after a byte shuffle
``targets``        int64 ``(N,)``: the class explained
``predictions``    int64 ``(N,)``: the predicted class
``outputs``        float32 ``(N, K)``: the model outputs of the images
``image_hashes``   uint64 ``(N,)``: xxh3-64 of each image's pixels as read (decoded,
                   resized, before preprocessing): what the map was computed from
``done``           uint8 ``(n_chunks,)``: 1 once a chunk is written (the record)
attributes         ``xaikit_bulk``: method, backend, parameters (as given and as
                   run), score, layer, preprocessing, image names, chunk size,
                   model (source, weights fingerprint, layout), versions, engine
=================  ==========================================================

Resuming: a chunk is finished when its arrays are written and then its ``done`` flag
(Zarr writes each chunk file atomically); running the same call again after a kill
(even ``kill -9``) keeps the finished chunks and computes the others, and gives the
store an uninterrupted run would have (chunks are the same images whatever ran
before; random methods draw per image from the seed, recorded on the first run).
A store made by another run (other model, method, parameters or image names) is refused.

Maps in float16 (``dtype="float16"``, ``--dtype float16``): half the bytes, a third of
the compressed size; each value is rounded to the nearest float16, within
:data:`FLOAT16_RELATIVE_ERROR` (2^-11) of it relative to its magnitude, or
:data:`FLOAT16_ABSOLUTE_ERROR` (2^-25) absolute below float16's smallest normal value
(6.1e-5). A map with a value beyond float16's range (|v| > 65504) is refused with an error
(it would become infinite): such a run needs float32.

Codec: Blosc LZ4 with a byte shuffle, about half the time of Zarr's default (Zstandard,
level 0) per chunk of 64 maps of 64 x 64 here, and smaller (measured in ``docs/scaling.md``).
Files are decoded in a pool of threads (OpenCV releases the GIL while decoding).

Images are known by their content, not only their names: a finished chunk is kept only
if its images' pixels hash as they did when its maps were computed (the images are read
again to check; xxh3 costs about 1 µs per 64 x 64 image, 9 µs at 224 x 224, against
about 120 µs to decode a PNG). A chunk with a changed image (a file replaced under the
same name) is computed again, and :attr:`BulkResult.changed` names the changed images.

Concurrent runs: a run holds an inter-process lock on the store (the file
``.<store name>.lock`` beside it, :mod:`filelock`) from checking or creating the store
to its last chunk, so a second run on the same store waits for the first (``log`` says
so), then keeps what it finished; the operating system releases the lock of a killed run.
"""

from __future__ import annotations

import glob
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, MissingDependencyError
from .targets import is_score_function

__all__ = ["BulkResult", "explain_chunk", "explain_to_zarr", "find_bulk_images", "open_zarr"]

FORMAT = "xaikit-bulk-2"  # 2: image_hashes (content identity of the images)


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


#: Map dtypes a store can hold (``dtype=``).
MAP_DTYPES = ("float32", "float16")
#: float16's rounding error relative to a value's magnitude (half its 10-bit mantissa's last place), for
#: values from its smallest normal number (6.1e-5) to its largest (65504).
FLOAT16_RELATIVE_ERROR = 2.0**-11
#: float16's rounding error below its smallest normal number (half the spacing of its subnormals).
FLOAT16_ABSOLUTE_ERROR = 2.0**-25


def _maps_codec() -> Any:
    """The maps' compressor: Blosc LZ4 after a byte shuffle (fast, and smaller than the default Zstandard here)."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def maps_as(maps: np.ndarray, dtype: str) -> np.ndarray:
    """``maps`` in the store's ``dtype``; float16 refuses values beyond its range (they would become infinite)."""
    if dtype == "float32":
        return np.asarray(maps, np.float32)
    largest = float(np.finfo(np.float16).max)
    peak = float(np.nanmax(np.abs(maps))) if maps.size else 0.0
    if peak > largest:
        raise InputError(f"a map reaches {peak:.4g}, beyond float16's range ({largest:.0f}): explain into a float32 "
                         "store (dtype='float32', --dtype float32), or rescale the model's scores")
    return maps.astype(np.float16)


def _zarr() -> Any:
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
    return _zarr().open_group(str(path), mode="r")


@dataclass
class BulkResult:
    """What :func:`explain_to_zarr` did.

    Attributes
    ----------
    path : Path
        The Zarr store.
    n_images, n_chunks : int
        Images and chunks of the store.
    computed, reused : int
        Chunks computed by this call, and kept from an earlier (interrupted) one.
    changed : list of str
        Images of chunks kept from an earlier run whose pixels changed since (same
        names, other content): their chunks were computed again (counted in ``computed``).
    seconds : float
        Wall time of the run, from handing the model to the engine to the last chunk
        written (opening the model and creating the store come before it).
    images_per_second : float
        Images computed by this call per second of ``seconds`` (0 when all were reused).
    engine : dict
        What computed the chunks.
    startup_seconds : float
        Of ``seconds``, the time until the first chunk was explained: the engine's start,
        the explainer's build and tracing, the first chunk's read.
    steady_images_per_second : float
        The streaming rate once started: images after the first chunk per second after
        it (0 with a single computed chunk). This is the rate a long run approaches.
    """

    path: Path
    n_images: int
    n_chunks: int
    computed: int
    reused: int
    seconds: float
    images_per_second: float
    engine: dict[str, Any] = field(default_factory=dict)
    startup_seconds: float = 0.0
    steady_images_per_second: float = 0.0
    changed: list[str] = field(default_factory=list)


def image_hashes(pixels: np.ndarray) -> np.ndarray:
    """uint64 ``(N,)``: the xxh3-64 hash of each image's bytes (how a store knows its images by content)."""
    try:
        from xxhash import xxh3_64_intdigest
    except ImportError:
        raise MissingDependencyError("bulk explanation hashes the images it explains: pip install "
                                     "'xaikit[distributed]' (xxhash)") from None
    return np.fromiter((xxh3_64_intdigest(np.ascontiguousarray(image).data) for image in pixels), np.uint64,
                       count=len(pixels))


def store_lock(out: Path) -> Any:
    """The inter-process lock of the store ``out``: a file beside it (a store's own folder is replaced on overwrite)."""
    from filelock import FileLock

    out.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(out.parent / f".{out.name}.lock")


# --------------------------------------------------------------------------- images
def find_bulk_images(images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Image files of folders, files and glob patterns (``"val/*.JPEG"``), in a stable (sorted) order."""
    from .io import find_images

    items = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    expanded: list[str | os.PathLike[str]] = []
    for item in items:
        text = str(item)
        if not Path(text).exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"no file matches the pattern {text!r}")
            expanded += [m for m in matches if Path(m).is_file()]
        else:
            expanded.append(item)
    return find_images(expanded)


class _Reader:
    """Reads chunks of pixels in a background thread, at most ``prefetch`` chunks ahead."""

    def __init__(self, load: Callable[[slice], np.ndarray], chunks: list[tuple[int, slice]], prefetch: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(int(prefetch), 1))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(load, chunks), name="xaikit-bulk-reader", daemon=True)
        self._thread.start()

    def _run(self, load: Callable[[slice], np.ndarray], chunks: list[tuple[int, slice]]) -> None:
        try:
            for i, s in chunks:
                item = (i, s, load(s))
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the driver, which raises it
            self._queue.put(exc)
            return
        self._queue.put(None)

    def __iter__(self) -> Iterator[tuple[int, slice, np.ndarray]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()


class _Writer:
    """Writes finished chunks into the store in a background thread, in the order they are handed over.

    Writing a chunk (compressing maps and writing chunk files) overlaps the next chunk's
    explanation; at most ``depth`` chunks wait, so memory stays bounded. A chunk's
    ``done`` flag is written after its arrays, so a kill between the two recomputes it.
    """

    def __init__(self, write: Callable[[int, slice, dict[str, np.ndarray], dict[str, Any]], None],
                 depth: int = 2) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(int(depth), 1))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xaikit-bulk-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure, drain without writing
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001 - handed to the driver, which raises it
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing the store failed: {self._error}") from self._error

    def put(self, i: int, s: slice, arrays: dict[str, np.ndarray], result: dict[str, Any]) -> None:
        self._raise()
        self._queue.put((i, s, arrays, result))

    def close(self, check: bool = True) -> None:
        """Wait for every chunk handed over to be written; raise the first write error if ``check``."""
        self._queue.put(None)
        self._thread.join()
        if check:
            self._raise()


def _read(paths: list[Path], size: tuple[int, int], channels: int, to_grey: bool) -> np.ndarray:
    """Pixels of ``paths``; for a 1-channel model, colour files are an error unless ``to_grey``."""
    from .io import load_images

    if channels != 1 or to_grey:
        return load_images(paths, size=size, channels=channels)[0]
    rgb = load_images(paths, size=size, channels=3)[0]
    colour = np.flatnonzero((rgb != rgb[..., :1]).any(axis=(1, 2, 3)))
    if len(colour):
        raise InputError(f"the model takes 1 channel (grey) but {paths[colour[0]]} is in colour; pass to_grey=True "
                         "(--to-grey) to convert colour images (OpenCV: 0.299 R + 0.587 G + 0.114 B)")
    return np.ascontiguousarray(rgb[..., :1])


# --------------------------------------------------------------------------- the task
def explain_chunk(model: Any, *, images: np.ndarray, method: str, backend: str, params: dict[str, Any],
                  targets: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Explain one chunk (runs on an engine: ``model`` is the opened model, whose explainer is kept for the next)."""
    from ._api import get_explainer
    from .execution import cell_key

    key = "explainer:" + cell_key({"method": method, "backend": backend, "params": params})
    explainer = model.cache.get(key)
    if explainer is None:  # one per worker and run: its compiled functions are traced once
        explainer = model.cache[key] = get_explainer(model.model, method, backend=backend, **params)
    exp = explainer.explain(images, targets)
    result = {"elapsed": exp.elapsed, "params": exp.params, "score": exp.score, "layer": exp.layer}
    return result, {"maps": exp.attributions, "targets": exp.targets, "predictions": exp.predictions,
                    "outputs": exp.outputs}


# --------------------------------------------------------------------------- the store
def _resumable_store(zarr: Any, out: Path, spec: dict[str, Any], overwrite: bool) -> Any:
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


# --------------------------------------------------------------------------- the model
def _open(model: Any, framework: str | None, source: dict[str, Any] | None) -> tuple[Any, Any]:
    """``(OpenedModel, ModelRef or None)`` of what the caller gave (no reference for a model object)."""
    from .execution import ModelRef, weights_digest
    from .models import OpenedModel, open_model

    if isinstance(model, OpenedModel) and source is not None:
        return model, ModelRef.build(source, weights_digest(model.model))
    if isinstance(model, ModelRef):
        spec = dict(model.spec)
    elif isinstance(model, dict):
        spec = dict(model)
    elif isinstance(model, (str, os.PathLike)):
        text = str(model)
        if text.startswith("zoo:"):
            name, _, fw = text[4:].partition("@")
            spec = {"zoo": name, "framework": fw or framework}
        else:
            spec = {"path": text, "framework": framework} if framework else {"path": text}
    elif isinstance(model, OpenedModel):
        return model, None
    else:  # a model object: run in this process only
        from .registry import services_for

        services = services_for(model)
        return OpenedModel(model, services, services.describe(model, None), type(model).__name__), None
    opened = open_model(**spec)
    return opened, ModelRef.build(spec, weights_digest(opened.model))


def explain_to_zarr(model: Any, images: Any, out: str | os.PathLike[str], method: str = "gradcam", *,
                    targets: Any = None, backend: str = "auto", preprocess: str | None = None,
                    chunk_size: int = 32, prefetch: int = 2, engine: Any = "local", address: str | None = None,
                    workers: int | None = None, framework: str | None = None, overwrite: bool = False,
                    progress: Callable[[int, int], None] | None = None, names: Sequence[str] | None = None,
                    to_grey: bool = False, source: dict[str, Any] | None = None,
                    log: Callable[[str], None] | None = None, dtype: str = "float32", **params: Any) -> BulkResult:
    """Explain every image of ``images`` with ``method`` into the Zarr store ``out`` (resuming it).

    Parameters
    ----------
    model
        A model file path, ``"zoo:NAME"`` (``"zoo:NAME@torch"``), a dict of
        :func:`xaikit.models.open_model` arguments, an :class:`~xaikit.models.OpenedModel`
        or a model object. The Ray engine opens the model on its workers, so it needs a
        name it can open (not an object).
    images
        A folder, an image file, a glob pattern (``"val/**/*.JPEG"``) or a list of them;
        or an array of pixels ``(N, H, W, C)`` in [0, 255] (channels last, preprocessed
        like files).
    out
        The Zarr store (a folder, conventionally ``*.zarr``).
    method, backend, targets
        As :func:`xaikit.explain`: ``targets`` None (the predicted classes), one class, or
        one per image.
    preprocess
        Pixels -> model input (:mod:`xaikit.preprocessing`); default: what the model is
        known to take (zoo: ``scale255``), else ``none``.
    chunk_size
        Images per task and per Zarr chunk (the unit of resumption).
    prefetch
        Chunks read ahead of the engine.
    engine, address, workers
        ``"local"`` (default) or ``"ray"`` (see :func:`xaikit.execution.get_executor`),
        or an :class:`~xaikit.execution.Executor` (left open).
    overwrite
        Replace a store made by another run (default: refuse it).
    progress
        Called as ``progress(done_images, total_images)`` at the start and after each
        chunk (a chunk kept from an earlier run counts once its images are checked).
    names
        Names of in-memory images (default ``"0"``, ``"1"``, ...).
    to_grey
        A model taking 1 channel: convert colour files to grey (else a colour file is an
        error; grey files need nothing).
    source
        With an :class:`~xaikit.models.OpenedModel`: the :func:`~xaikit.models.open_model`
        arguments that opened it (how workers open it).
    log
        Called with a line of text when something needs saying: another run holds the
        store (this one waits), images changed since their maps were computed.
    dtype
        The maps' dtype, ``"float32"`` (default) or ``"float16"`` (half the bytes; each
        value within :data:`FLOAT16_RELATIVE_ERROR` of it relative to its magnitude, see
        the module's docstring). Outputs stay float32.
    **params
        The method's parameters. A random method without ``seed`` gets one drawn on the
        first run and recorded; resuming uses it.

    Returns
    -------
    BulkResult
    """
    from . import __version__
    from .execution import Executor, OpenModel, Task, array_digest, canonical, cell_key, get_executor, json_ready
    from .kernels import to_layout
    from .preprocessing import get_scheme

    zarr = _zarr()
    if chunk_size < 1 or prefetch < 1:
        raise InputError(f"chunk_size and prefetch must be >= 1; got {chunk_size} and {prefetch}")
    if dtype not in MAP_DTYPES:
        raise InputError(f"dtype must be one of {', '.join(map(repr, MAP_DTYPES))} (the maps' dtype); got {dtype!r}")
    opened, ref = _open(model, framework, source)
    if ref is None and not (isinstance(engine, str) and engine == "local"):
        raise InputError("the Ray engine opens the model on its workers: give a model file, 'zoo:NAME' or "
                         "open_model arguments, not a model object")
    model_obj, services = opened.model, opened.services
    from .registry import backend_for_model, backend_versions
    # ---- the images
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise InputError(f"images as an array must be pixels (N, H, W, C); got shape {images.shape}")
        pixels_all = images
        image_names = list(names) if names is not None else [str(i) for i in range(len(images))]
        if len(image_names) != len(images):
            raise InputError(f"names has {len(image_names)} entries for {len(images)} images")
        size = images.shape[1:3]
        channels = images.shape[3]

        def load(s: slice) -> np.ndarray:
            return np.asarray(pixels_all[s], np.float32)
    else:
        from .io import load_images

        paths = find_bulk_images(images)
        image_names = [str(p) for p in paths]
        h, w = opened.input_size
        channels = opened.channels
        size = (h, w) if h and w else load_images(paths[:1], channels=channels)[0].shape[1:3]

        def load(s: slice) -> np.ndarray:
            return _read(paths[s], tuple(size), channels, to_grey)
    n = len(image_names)
    scheme_name = preprocess or opened.default_preprocess or "none"
    scheme = get_scheme(scheme_name)
    first_nhwc = scheme.forward(np.asarray(load(slice(0, 1)), np.float32))
    spec_model = services.describe(model_obj, to_layout(first_nhwc, "NHWC", opened.layout))
    layout = spec_model.layout
    h, w = first_nhwc.shape[1:3]
    backend_name = backend if backend != "auto" else backend_for_model(model_obj, method)
    from .binding import get_method_class

    takes_seed = "seed" in get_method_class(method, backend_name).param_names()
    if is_score_function(targets) or not spec_model.classifier:
        raise InputError("bulk explanation into Zarr stores classes (targets, predictions, (N, K) outputs); it does "
                         "not take a score function or a model that is not a classifier yet. Explain such images "
                         "with xaikit.explain(..., targets=score_function) chunk by chunk (docs/targets.md).")
    if targets is not None and not np.isscalar(targets):
        targets = np.asarray(targets)
        if targets.shape != (n,):
            raise InputError(f"targets must be one class or one per image ({n}); got shape {targets.shape}")
    fingerprint = ref.fingerprint if ref is not None else services.fingerprint(model_obj)[:16]
    spec = {"format": FORMAT, "model": fingerprint, "method": method, "backend": backend_name,
            "params": canonical(params), "preprocess": scheme.name, "chunk_size": chunk_size,
            "images": array_digest(images) if isinstance(images, np.ndarray) else cell_key({"names": image_names}),
            "targets": canonical(targets)}
    if dtype != "float32":  # stores made before dtype existed (float32) resume as they were
        spec["maps_dtype"] = dtype
    # ---- the store (locked: one run at a time creates, checks and writes it)
    out_path = Path(out)
    lock = store_lock(out_path)
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        if log is not None:
            log(f"another run is writing {out_path}: waiting for it to finish (then its chunks are kept)")
        lock.acquire()
    try:
        n_chunks = (n + chunk_size - 1) // chunk_size
        root = _resumable_store(zarr, out_path, json_ready(spec), overwrite)
        if root is None:
            seed = params.get("seed")
            if takes_seed and seed is None:
                from .validation import check_seed

                seed = check_seed(None)
            root = zarr.open_group(str(out_path), mode="w")
            k = max(int(spec_model.n_outputs or 1), 1)
            root.create_array("maps", shape=(n, h, w), chunks=(chunk_size, h, w), dtype=dtype, fill_value=np.nan,
                              compressors=_maps_codec())
            small = {"compressors": None}  # a few hundred bytes per chunk: compressing them costs more than it saves
            root.create_array("targets", shape=(n,), chunks=(chunk_size,), dtype="int64", fill_value=-1, **small)
            root.create_array("predictions", shape=(n,), chunks=(chunk_size,), dtype="int64", fill_value=-1, **small)
            root.create_array("outputs", shape=(n, k), chunks=(chunk_size, k), dtype="float32", fill_value=np.nan,
                              **small)
            root.create_array("image_hashes", shape=(n,), chunks=(chunk_size,), dtype="uint64", fill_value=0, **small)
            root.create_array("done", shape=(n_chunks,), chunks=(1,), dtype="uint8", fill_value=0, compressors=None)
            root.attrs["xaikit_bulk"] = json_ready({
                "spec": spec, "seed": seed, "method": method, "backend": backend_name, "params_given": params,
                "preprocess": scheme.name, "chunk_size": chunk_size, "n_images": n, "images": image_names,
                "model": {"source": opened.source,
                          "fingerprint": fingerprint, "layout": layout, "open": ref.spec if ref is not None else None},
                "versions": {"xaikit": __version__, **backend_versions(backend_name)},
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            })
        info = dict(root.attrs["xaikit_bulk"])
        run_params = dict(params)
        if takes_seed and run_params.get("seed") is None:
            run_params["seed"] = info["seed"]
        done = np.asarray(root["done"][:], bool)
        known = np.asarray(root["image_hashes"][:], np.uint64)  # the pixels each finished chunk was computed from
        chunks = [(i, slice(i * chunk_size, min((i + 1) * chunk_size, n))) for i in range(n_chunks)]
        # ---- the run
        owned = not isinstance(engine, Executor)
        runner = get_executor(engine, address=address, workers=workers)
        if ref is None:
            from .execution import ModelRef

            ref = ModelRef(f"object:{fingerprint}", {}, fingerprint)
        runner.adopt(ref, OpenModel(model_obj, services, layout))
        engine_info = runner.describe()
        start = time.perf_counter()
        finished = computed = reused = images_computed = 0
        changed: list[str] = []
        first: list[tuple[float, int]] = []  # (time, images) when the first chunk was explained
        if progress is not None:
            progress(finished, n)

        def load_hashed(s: slice) -> tuple[np.ndarray, np.ndarray]:  # in the reader thread
            pixels = load(s)
            return pixels, image_hashes(pixels)

        reader = _Reader(load_hashed, [c for c in chunks if not done[c[0]]] + [c for c in chunks if done[c[0]]],
                         prefetch)
        pending: dict[int, tuple[slice, np.ndarray]] = {}
        arrays = {name: root[name] for name in ("maps", "targets", "predictions", "outputs", "image_hashes", "done")}

        def submit(i: int, s: slice, pixels: np.ndarray, hashes: np.ndarray) -> None:
            x = to_layout(scheme.forward(np.asarray(pixels, np.float32)), "NHWC", layout)
            t = targets[s] if isinstance(targets, np.ndarray) else targets
            runner.submit(Task(explain_chunk, ref, {}, {"images": x, "method": method, "backend": backend_name,
                                                        "params": run_params, "targets": t}), i)
            pending[i] = (s, hashes)

        def write(i: int, s: slice, a: dict[str, np.ndarray], res: dict[str, Any]) -> None:
            if done[i]:  # a chunk computed again (its images changed): not finished until all is rewritten
                arrays["done"][i] = 0
            write_together([(arrays["maps"], s, maps_as(a["maps"], dtype))]
                           + [(arrays[name], s, a[name]) for name in ("targets", "predictions", "outputs",
                                                                      "image_hashes")])
            arrays["done"][i] = 1  # the record: written after the chunk's arrays
            if "run" not in info:
                info["run"] = json_ready({"params": res["params"], "score": res["score"], "layer": res["layer"],
                                          "engine": engine_info})
                root.attrs["xaikit_bulk"] = info

        writer = _Writer(write)

        def collect() -> None:
            nonlocal finished, computed, images_computed
            i, outcome = runner.next_done()
            s, hashes = pending.pop(i)
            if outcome.error is not None:
                raise RuntimeError(f"chunk {i} (images {s.start}..{s.stop - 1}) failed: {outcome.error}\n"
                                   f"{outcome.traceback or ''}")
            writer.put(i, s, {**outcome.arrays, "image_hashes": hashes}, outcome.result)
            finished += s.stop - s.start
            images_computed += s.stop - s.start
            computed += 1
            if not first:
                first.append((time.perf_counter(), s.stop - s.start))
            if progress is not None:
                progress(finished, n)

        try:
            try:
                for i, s, (pixels, hashes) in reader:
                    if done[i]:
                        same = known[s] == hashes
                        if same.all():  # finished earlier, from these very pixels: kept
                            reused += 1
                            finished += s.stop - s.start
                            if progress is not None:
                                progress(finished, n)
                            continue
                        changed += [image_names[s.start + j] for j in np.flatnonzero(~same)]
                    while not runner.has_room():
                        collect()
                    submit(i, s, pixels, hashes)
                while pending:
                    collect()
            except BaseException:
                writer.close(check=False)  # what was computed is written, even when a later chunk failed
                raise
            writer.close()
        finally:
            reader.close()
            if owned:
                runner.close()
            else:
                runner.release(ref)
        end = time.perf_counter()
        if changed and log is not None:
            listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            log(f"{len(changed)} image(s) changed since their maps were computed (same names, other pixels): "
                f"{listed}; their chunks were computed again")
        seconds = end - start
        startup = first[0][0] - start if first else 0.0
        steady = (images_computed - first[0][1]) / (end - first[0][0]) if computed > 1 and end > first[0][0] else 0.0
        return BulkResult(out_path, n, n_chunks, computed, reused, seconds,
                          images_computed / seconds if images_computed and seconds > 0 else 0.0, engine_info,
                          startup_seconds=startup, steady_images_per_second=steady, changed=changed)
    finally:
        lock.release()
