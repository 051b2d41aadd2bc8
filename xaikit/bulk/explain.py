"""The driver of a bulk explanation: :func:`explain_to_zarr` (see :mod:`xaikit.bulk`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .plan import plan_run
from .schedule import ChunkJob, check_decode, run_chunks
from .source import image_source, open_bulk_model
from .store import MAP_DTYPES, BulkStore, create_store, locked_store, resumable_store, zarr_module
from .summary import BulkResult, summarise

__all__ = ["explain_to_zarr"]


def explain_to_zarr(model: Any, images: Any, out: str | os.PathLike[str], method: str = "gradcam", *,
                    targets: Any = None, backend: str = "auto", preprocess: str | None = None,
                    chunk_size: int = 32, prefetch: int = 2, engine: Any = "local", address: str | None = None,
                    workers: int | None = None, framework: str | None = None, overwrite: bool = False,
                    progress: Callable[[int, int], None] | None = None, names: Sequence[str] | None = None,
                    to_grey: bool = False, source: dict[str, Any] | None = None,
                    log: Callable[[str], None] | None = None, dtype: str = "float32", decode: str = "auto",
                    **params: Any) -> BulkResult:
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
    decode
        Where image files are decoded: ``"auto"`` (default: by the Ray workers when they
        run on this machine, only the file names travel to them; else here),
        ``"driver"`` (here, the pixels travel) or ``"workers"`` (a cluster whose workers
        read the same files, on a shared disk). The result's ``traffic`` says what
        travelled.
    **params
        The method's parameters. A random method without ``seed`` gets one drawn on the
        first run and recorded; resuming uses it.

    Returns
    -------
    BulkResult
    """
    from ..execution import ModelRef, OpenModel, json_ready

    zarr = zarr_module()
    _check_arguments(chunk_size, prefetch, dtype, decode)
    opened, ref = open_bulk_model(model, framework, source)
    if ref is None and not (isinstance(engine, str) and engine == "local"):
        raise InputError("the Ray engine opens the model on its workers: give a model file, 'zoo:NAME' or "
                         "open_model arguments, not a model object")
    images_in = image_source(images, names, opened, to_grey)
    plan = plan_run(opened, ref, images_in, images, method=method, backend=backend, preprocess=preprocess,
                    targets=targets, params=params, chunk_size=chunk_size, dtype=dtype)
    out_path = Path(out)
    lock = locked_store(out_path, log)  # one run at a time creates, checks and writes the store
    try:
        root = resumable_store(zarr, out_path, json_ready(plan.spec), overwrite)
        if root is None:
            root = create_store(zarr, out_path, n=len(images_in), size=plan.size, n_outputs=plan.n_outputs,
                                chunk_size=chunk_size, dtype=dtype,
                                attrs=plan.store_attrs(opened, ref, images_in, chunk_size))
        store = BulkStore.open(root, dtype)
        job = ChunkJob(method, plan.backend, plan.run_params(store.info), plan.targets, plan.forward, store.dtype)
        if ref is None:
            ref = ModelRef(f"object:{plan.fingerprint}", {}, plan.fingerprint)
        tally = run_chunks(engine, ref, OpenModel(opened.model, opened.services, plan.layout), job, store,
                           images_in, chunk_size=chunk_size, prefetch=prefetch, address=address, workers=workers,
                           progress=progress, decode=decode)
        return summarise(out_path, len(store.done), tally, log)
    finally:
        lock.release()


def _check_arguments(chunk_size: int, prefetch: int, dtype: str, decode: str) -> None:
    """Refuse a chunk size or prefetch below 1, a dtype a store cannot hold and an unknown ``decode``."""
    check_decode(decode)
    if chunk_size < 1 or prefetch < 1:
        raise InputError(f"chunk_size and prefetch must be >= 1; got {chunk_size} and {prefetch}")
    if dtype not in MAP_DTYPES:
        raise InputError(f"dtype must be one of {', '.join(map(repr, MAP_DTYPES))} (the maps' dtype); got {dtype!r}")
