"""The local executor: every task runs in the driver's process, one at a time, in order.

The default, needing no set-up. A task runs when the driver asks for its outcome, so the
driver computes a cell while holding its claim on the store, exactly as it always did.
"""

from __future__ import annotations

from typing import Any

from .executor import Executor
from .tasks import ModelRef, OpenModel, Outcome, Task, error_text, execute, open_ref

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Run tasks in this process; models the driver opened are used as they are."""

    name = "local"

    def __init__(self) -> None:
        self._models: dict[str, OpenModel] = {}
        self._pending: tuple[Any, Task] | None = None

    @property
    def capacity(self) -> int:
        return 1

    @property
    def in_flight(self) -> int:
        return int(self._pending is not None)

    def adopt(self, ref: ModelRef, model: OpenModel) -> None:
        self._models[ref.key] = model

    def release(self, ref: ModelRef) -> None:
        self._models.pop(ref.key, None)

    def submit(self, task: Task, tag: Any = None) -> None:
        if self._pending is not None:
            raise RuntimeError("the local executor runs one task at a time: take its outcome first")
        self._pending = (tag, task)

    def next_done(self) -> tuple[Any, Outcome]:
        if self._pending is None:
            raise RuntimeError("no task is running")
        (tag, task), self._pending = self._pending, None
        model = None
        if task.model is not None:
            model = self._models.get(task.model.key)
            if model is None:
                try:
                    model = self._models[task.model.key] = open_ref(task.model)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # noqa: BLE001 - reported like any failing task
                    return tag, Outcome(error=error_text(exc))
        return tag, execute(task, model, {name: value for name, (_, value) in task.shared.items()})
