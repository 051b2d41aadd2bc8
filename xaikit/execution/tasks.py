"""What an executor runs: tasks of plain data, the models they name, and the outcome of each.

A :class:`Task` is a module-level function and its arguments, all plain data (arrays,
numbers, strings, a :class:`ModelRef`), so that any process can run it: the driver
itself (:class:`~xaikit.execution.local.LocalExecutor`) or a Ray worker
(:class:`~xaikit.execution.ray_executor.RayExecutor`). The function is called as
``fn(model, **shared, **args)`` where ``model`` is the :class:`OpenModel` the task's
:class:`ModelRef` names (None for tasks without a model) and ``shared`` are the large
arrays several tasks read (a model's image sample, a row's maps): the Ray executor sends
each of those once through the object store.

:func:`execute` runs one task and never raises for a failure of the work itself: a
failure is an :class:`Outcome` with ``error`` set, so that the driver reports it and
goes on, whichever executor ran it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["ModelRef", "OpenModel", "Outcome", "Task", "error_text", "execute", "open_ref", "weights_digest"]


def error_text(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (at most 500 characters)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


@dataclass(frozen=True)
class ModelRef:
    """How any process opens a model: the arguments of :func:`xaikit.models.open_model`.

    Attributes
    ----------
    key : str
        Identity of the model (a hash of ``spec``, ``fingerprint`` and the file contents):
        workers keep one opened model per key.
    spec : dict
        Keyword arguments of :func:`~xaikit.models.open_model` (``path``, ``arch``, ``zoo``,
        ``weights``, ``input_size``, ``classes``, ``unsafe``, ``framework``, ``seed``).
    fingerprint : str or None
        The weights digest the driver saw (:func:`weights_digest`);
        a worker that opens other weights (another file under the same name on another
        machine, an architecture initialised differently) refuses to run.
    data : bytes or None
        The contents of a model *file*, shipped with the reference so that workers on
        other machines need no shared file system (written to a temporary file there;
        a worker that can read the driver's file with these contents opens it in place,
        so that the files it names beside it, such as an ONNX model's external weights,
        are found).
        Model folders (SavedModel) are not shipped: their path must be readable by the
        workers.
    """

    key: str
    spec: dict[str, Any]
    fingerprint: str | None = None
    data: bytes | None = None

    @classmethod
    def build(cls, spec: dict[str, Any], fingerprint: str | None = None, *, ship_file: bool = True) -> ModelRef:
        """A reference to the model ``open_model(**spec)`` opens (a model file's contents included)."""
        spec = {k: v for k, v in spec.items() if v is not None and v is not False}
        data = None
        path = spec.get("path")
        if ship_file and path is not None and ":" not in Path(str(path)).name and Path(path).is_file():
            data = Path(path).read_bytes()
        h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
        h.update(str(fingerprint).encode())
        if data is not None:
            h.update(hashlib.sha256(data).digest())
        return cls(h.hexdigest()[:24], spec, fingerprint, data)

    @property
    def name(self) -> str:
        spec = self.spec
        return str(spec.get("zoo") or spec.get("arch") or Path(str(spec.get("path", "model"))).name)


@dataclass
class OpenModel:
    """A model opened in this process: the framework's object, its services, and what tasks keep for it.

    ``cache`` lives as long as the opened model (on a worker: across its tasks); tasks
    key their entries by plain data (an explainer by method, backend and parameters).
    """

    model: Any
    services: Any
    layout: str = "NHWC"
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(model, **shared, **args)``.

    Attributes
    ----------
    fn : callable
        A module-level function (Ray sends it by reference).
    model : ModelRef or None
        The model the function works on, opened once per worker.
    shared : dict
        name -> ``(key, value)``: large values several tasks read (the image sample, a
        row's maps). ``key`` identifies the value: an executor sends each key once.
    args : dict
        The other (small) arguments.
    """

    fn: Callable[..., tuple[dict[str, Any], dict[str, Any] | None]]
    model: ModelRef | None = None
    shared: dict[str, tuple[str, Any]] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a task produced: its result and side arrays, or the error that stopped it."""

    result: dict[str, Any] | None = None
    arrays: dict[str, Any] | None = None
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    worker: int | None = None  # the process that ran it


def weights_digest(model: Any) -> str:
    """A hash of every weight of ``model`` (its framework's services' fingerprint; 16 hex digits)."""
    from ..registry import services_for

    return services_for(model).fingerprint(model)[:16]


# --------------------------------------------------------------------------- running a task
_TEMP_DIR: list[str] = []


def open_ref(ref: ModelRef) -> OpenModel:
    """Open the model ``ref`` names in this process, checking that its weights are the driver's."""
    from ..models import open_model

    spec = dict(ref.spec)
    if ref.data is not None and not _same_file(Path(str(spec["path"])), ref.data):
        if not _TEMP_DIR:
            _TEMP_DIR.append(tempfile.mkdtemp(prefix="xaikit-models-"))
        local = Path(_TEMP_DIR[0]) / ref.key / Path(str(spec["path"])).name
        if not local.exists():
            from ..atomic_files import atomic_write_bytes

            local.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(local, ref.data)
        spec["path"] = str(local)
    opened = open_model(**spec)
    if ref.fingerprint is not None:
        seen = weights_digest(opened.model)
        if seen != ref.fingerprint:
            raise InputError(f"the model {ref.name} opened on worker process {os.getpid()} has weights {seen}, the "
                             f"driver's has {ref.fingerprint}: the workers must see the same model file (install the "
                             "same files and versions on every node, or give a model file rather than a folder so "
                             "that it is shipped with the tasks)")
    return OpenModel(opened.model, opened.services, opened.layout)


def _same_file(path: Path, data: bytes) -> bool:
    """Whether ``path`` is readable here and holds ``data``: the file the driver shipped, opened where it is.

    Opened in place, a model file finds the files beside it that it names (an ONNX
    model's external weights); the shipped copy, written alone to a temporary folder,
    is for workers that cannot read the driver's file (another machine).
    """
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def execute(task: Task, model: OpenModel | None, shared: dict[str, Any]) -> Outcome:
    """Run ``task`` on ``model`` with the ``shared`` values; a failure becomes ``Outcome.error``."""
    start = time.perf_counter()
    try:
        result, arrays = task.fn(model, **shared, **task.args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - a failing task is reported, the run goes on
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return Outcome(error=error_text(exc), traceback="".join(tb[-6:])[-3000:], seconds=time.perf_counter() - start,
                       worker=os.getpid())
    return Outcome(result, arrays, time.perf_counter() - start, worker=os.getpid())
