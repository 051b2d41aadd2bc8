"""Executors that run the bench's cells and the bulk explanation's chunks, and the store of their results.

A cell or a chunk is a :class:`~.tasks.Task` of plain data (a module-level function, a
:class:`~.tasks.ModelRef`, arrays, parameters); an :class:`~.executor.Executor` runs tasks
and hands back their :class:`~.tasks.Outcome` s. The driver alone writes the results
(:class:`~.store.ResultStore` for the bench; a Zarr store for bulk explanation).

- ``local`` (:class:`~.local.LocalExecutor`): in the driver's process, one task at a time;
  the default, needing nothing.
- ``ray`` (:class:`~.ray_executor.RayExecutor`): on Ray actors, on this machine or a cluster
  (``pip install 'xaikit[distributed]'``).

"Executor" is not "engine": :class:`xaikit.engine.Engine` is a framework's primitives
(gradients, layer activations) that the methods are written over. The command line and
``run_suite`` / ``explain_to_zarr`` still choose an executor with ``engine="local"|"ray"``
(``--engine``), the name users know.
"""

from __future__ import annotations

from .executor import Executor
from .store import ResultStore, array_digest, canonical, cell_key, code_digest, json_ready
from .tasks import ModelRef, OpenModel, Outcome, Task, error_text, execute, open_ref, weights_digest

__all__ = ["EXECUTORS", "Executor", "ModelRef", "OpenModel", "Outcome", "ResultStore", "Task", "array_digest",
           "canonical", "cell_key", "code_digest", "error_text", "execute", "get_executor", "json_ready", "open_ref",
           "weights_digest"]

#: Executor names, as ``--engine`` takes them.
EXECUTORS = ("local", "ray")


def get_executor(executor: str | Executor = "local", *, address: str | None = None,
                 workers: int | None = None) -> Executor:
    """An executor by name (an :class:`Executor` is returned as it is).

    Parameters
    ----------
    executor
        ``"local"`` or ``"ray"``.
    address
        Ray only: the cluster to join (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``);
        None starts Ray on this machine unless a Ray session is running.
    workers
        Ray only: worker actors (default: the cluster's CPUs).
    """
    from ..errors import InputError

    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        if address is not None or workers is not None:
            raise InputError("--address and --workers configure the Ray engine; add --engine ray")
        from .local import LocalExecutor

        return LocalExecutor()
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(address, workers=workers)
    raise InputError(f"unknown engine {executor!r}; engines: {', '.join(EXECUTORS)}")
