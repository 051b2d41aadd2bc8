"""Engines that run the bench's cells and the bulk explanation's chunks: ``local`` and ``ray``.

A cell or a chunk is a :class:`~.base.Task` of plain data (a module-level function, a
:class:`~.base.ModelRef`, arrays, parameters); an :class:`~.base.Engine` runs tasks and
hands back their :class:`~.base.Outcome` s. The driver alone writes the results.

- ``local`` (:class:`~.local.LocalEngine`): in the driver's process, one task at a time;
  the default, needing nothing.
- ``ray`` (:class:`~.ray_engine.RayEngine`): on Ray actors, on this machine or a cluster
  (``pip install 'xaikit[distributed]'``).
"""

from __future__ import annotations

from .base import Engine, ModelRef, OpenModel, Outcome, Task, execute

__all__ = ["ENGINES", "Engine", "ModelRef", "OpenModel", "Outcome", "Task", "execute", "get_engine"]

#: Engine names, as ``--engine`` takes them.
ENGINES = ("local", "ray")


def get_engine(engine: str | Engine = "local", *, address: str | None = None, workers: int | None = None) -> Engine:
    """An engine by name (an :class:`Engine` is returned as it is).

    Parameters
    ----------
    engine
        ``"local"`` or ``"ray"``.
    address
        Ray only: the cluster to join (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``);
        None starts Ray on this machine unless a Ray session is running.
    workers
        Ray only: worker actors (default: the cluster's CPUs).
    """
    from ...errors import InputError

    if isinstance(engine, Engine):
        return engine
    if engine == "local":
        if address is not None or workers is not None:
            raise InputError("--address and --workers configure the Ray engine; add --engine ray")
        from .local import LocalEngine

        return LocalEngine()
    if engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(address, workers=workers)
    raise InputError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
