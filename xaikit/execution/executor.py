"""The executor interface: runs :class:`~.tasks.Task` s and hands back their outcomes.

Two implement it: :class:`~.local.LocalExecutor` (in the driver's process) and
:class:`~.ray_executor.RayExecutor` (on Ray actors). The bench's cells and the bulk
explanation's chunks are both tasks for one of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from .tasks import ModelRef, OpenModel, Outcome, Task

__all__ = ["Executor"]


class Executor(ABC):
    """Runs tasks, at most :attr:`capacity` at a time, and hands back each outcome once.

    The driver :meth:`submit` s tasks while :meth:`has_room`, then takes finished ones
    with :meth:`next_done` (in completion order). Executors are context managers:
    :meth:`close` releases their workers.
    """

    name = "executor"
    #: Whether tasks run in other processes (their arguments and results are copied there and back).
    remote = False

    @property
    @abstractmethod
    def capacity(self) -> int:
        """Tasks in flight at most."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Tasks submitted and not yet handed back."""

    def has_room(self) -> bool:
        return self.in_flight < self.capacity

    @abstractmethod
    def submit(self, task: Task, tag: Any = None) -> None:
        """Start ``task``; ``tag`` comes back with its outcome."""

    @abstractmethod
    def next_done(self) -> tuple[Any, Outcome]:
        """``(tag, outcome)`` of a finished task (waits for one)."""

    def adopt(self, ref: ModelRef, model: OpenModel) -> None:  # noqa: B027 (optional: nothing by default)
        """Use ``model``, already open in the driver, for tasks naming ``ref`` (where it can)."""

    def release(self, ref: ModelRef) -> None:  # noqa: B027 (optional: nothing by default)
        """Tasks naming ``ref`` are over: drop what is kept for them."""

    def describe(self) -> dict[str, Any]:
        """What runs the tasks (recorded with the results, under ``engine`` as the ``--engine`` option names it)."""
        return {"engine": self.name}

    def close(self) -> None:  # noqa: B027 (optional: nothing by default)
        """Release the workers."""

    def run(self, tasks: list[Task]) -> Iterator[tuple[int, Outcome]]:
        """``(index, outcome)`` of every task, in completion order (keeps the executor full)."""
        todo = list(enumerate(tasks))
        todo.reverse()
        while todo or self.in_flight:
            while todo and self.has_room():
                i, task = todo.pop()
                self.submit(task, i)
            yield self.next_done()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
