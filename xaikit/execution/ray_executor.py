"""The Ray executor: tasks run on a pool of Ray actors, on this machine or on a cluster.

Each worker is an actor (:class:`ray.util.ActorPool` hands it one task at a time) that
opens each model once, through the model services (:func:`.tasks.open_ref`: any backend's
model, Keras, PyTorch, ONNX), and keeps it for the following tasks. Models and the large
values of the tasks (image samples, maps) go through Ray's object store: each is put
once (``ray.put``) and read by every worker that needs it. Results come back to the
driver, which alone writes the results store.

Faults: a worker that dies (killed, out of memory, its node lost) is restarted by Ray
(``max_restarts``) and the calls it had are run again (``max_task_retries``); a worker
that keeps dying ends the run with an error, and finished cells are kept in the store.

Ray is started here when no Ray session is running: ``address=None`` starts a local one
with ``workers`` CPUs; ``address="auto"`` (or ``"ray://host:10001"``, ``"host:6379"``)
joins the cluster started with ``ray start --head`` (see ``docs/scaling.md``).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ..errors import InputError, MissingDependencyError
from .executor import Executor
from .tasks import ModelRef, OpenModel, Outcome, Task, error_text, execute, open_ref

__all__ = ["RayExecutor", "import_ray"]

#: Restarts of a worker that died, and retries of the calls it had, before the run stops.
MAX_RESTARTS = 3
MAX_TASK_RETRIES = 3


def import_ray() -> Any:
    """The :mod:`ray` module, or an error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("the Ray engine needs ray: pip install 'xaikit[distributed]'") from None
    return ray


class _Worker:
    """A Ray actor: runs tasks, keeping the models it opened (one per :class:`ModelRef` key)."""

    def __init__(self, env: dict[str, str]) -> None:
        os.environ.update(env)  # before any framework is imported in this process
        import importlib.util

        if importlib.util.find_spec("torch") is not None and importlib.util.find_spec("tensorflow") is not None:
            import torch  # noqa: F401 - PyTorch before TensorFlow in one process (see docs/backends/torch.md)
        self.models: dict[str, OpenModel] = {}

    def pid(self) -> int:
        return os.getpid()

    def run(self, tag: Any, task: Task, names: list[str], ref: ModelRef | None, *values: Any) -> tuple[Any, Outcome]:
        model = None
        if ref is not None:
            model = self.models.get(ref.key)
            if model is None:
                try:
                    model = self.models[ref.key] = open_ref(ref)
                except Exception as exc:  # noqa: BLE001 - reported like any failing task
                    return tag, Outcome(error=error_text(exc), worker=os.getpid())
        # Values from the object store are read-only views of shared memory: the task gets its own copies.
        shared = {name: copy.deepcopy(value) for name, value in zip(names, values)}
        outcome = execute(task, model, shared)
        if outcome.error is not None and ref is not None:
            self.models.pop(ref.key, None)  # a failed task may have left the model changed: open it again
        return tag, outcome

    def forget(self, key: str) -> None:
        self.models.pop(key, None)


class RayExecutor(Executor):
    """Run tasks on ``workers`` Ray actors.

    Parameters
    ----------
    address
        None: join the running Ray session, else start a local one; ``"auto"`` or a
        cluster address: join that cluster (``ray.init(address=...)``).
    workers
        Actors (tasks at a time). Default: the CPUs (or GPUs with ``gpus_per_worker``)
        the Ray session has.
    cpus_per_worker, gpus_per_worker
        Resources each actor reserves (a GPU cluster: ``gpus_per_worker=1``).
    depth
        Tasks queued per worker, so that a worker never waits for the driver.
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, workers: int | None = None, cpus_per_worker: float = 1.0,
                 gpus_per_worker: float = 0.0, depth: int = 2) -> None:
        ray = import_ray()
        from ray.util import ActorPool

        if workers is not None and workers < 1:
            raise InputError(f"workers must be >= 1; got {workers}")
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False}
            if address is None and workers is not None:
                kwargs["num_cpus"] = max(int(workers * cpus_per_worker + 0.999), 1)
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise InputError(f"cannot reach the Ray cluster at {address!r} ({exc}); start it with `ray start "
                                 "--head` on the head node, or drop --address to start Ray on this machine") from None
            self._started = True
        resources = ray.cluster_resources()
        if workers is None:
            pool = resources.get("GPU", 0) / gpus_per_worker if gpus_per_worker else \
                resources.get("CPU", 1) / cpus_per_worker
            workers = max(int(pool), 1)
        self.workers = int(workers)
        env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        actor = ray.remote(_Worker).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                                            max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)
        self.actors = [actor.remote(env) for _ in range(self.workers)]
        self._pool = ActorPool(self.actors)
        self._depth = max(int(depth), 1)
        self._in_flight = 0
        self._puts: dict[str, Any] = {}  # key -> ObjectRef: every model and shared value is put once
        self._by_model: dict[str, set[str]] = {}  # model key -> keys of the shared values put for its tasks
        self._forgets: list[Any] = []  # calls that drop a model on the workers (waited for before closing)

    # ----------------------------------------------------------------- the Executor protocol
    @property
    def capacity(self) -> int:
        return self.workers * self._depth

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _put(self, key: str, value: Any, model: ModelRef | None) -> Any:
        ref = self._puts.get(key)
        if ref is None:
            ref = self._puts[key] = self._ray.put(value)
            self._by_model.setdefault(model.key if model is not None else "", set()).add(key)
        return ref

    def submit(self, task: Task, tag: Any = None) -> None:
        names = list(task.shared)
        values = [self._put(f"value:{key}", value, task.model) for key, value in task.shared.values()]
        ref = None if task.model is None else self._put(f"model:{task.model.key}", task.model, task.model)
        light = Task(task.fn, None, {}, task.args)
        self._pool.submit(lambda actor, v: actor.run.remote(*v), (tag, light, names, ref, *values))
        self._in_flight += 1

    def next_done(self) -> tuple[Any, Outcome]:
        from ray.exceptions import RayActorError

        try:
            tag, outcome = self._pool.get_next_unordered()
        except RayActorError as exc:
            raise RuntimeError(f"a Ray worker died {MAX_RESTARTS + 1} times (out of memory? a crash in native "
                               f"code?): {str(exc).splitlines()[0]}; finished work is kept, run again to "
                               "resume") from None
        finally:
            self._in_flight -= 1
        return tag, outcome

    def release(self, ref: ModelRef) -> None:
        """Drop the object-store copies of ``ref``'s model and values (and of model-less tasks), and the workers'
        opened model."""
        for key in self._by_model.pop(ref.key, set()) | self._by_model.pop("", set()):
            self._puts.pop(key, None)
        self._forgets += [actor.forget.remote(ref.key) for actor in self.actors]

    def worker_pids(self) -> list[int]:
        """The process id of each worker (faults are tested by killing one)."""
        return list(self._ray.get([a.pid.remote() for a in self.actors]))

    def describe(self) -> dict[str, Any]:
        resources = self._ray.cluster_resources()
        return {"engine": self.name, "workers": self.workers, "ray": self._ray.__version__,
                "nodes": len(self._ray.nodes()), "cluster_cpus": resources.get("CPU"),
                "cluster_gpus": resources.get("GPU", 0)}

    def close(self) -> None:
        if getattr(self, "_forgets", None):
            self._ray.wait(self._forgets, num_returns=len(self._forgets), timeout=10)
            self._forgets = []
        for actor in getattr(self, "actors", []):
            self._ray.kill(actor)
        self.actors = []
        self._puts.clear()
        if self._started:
            self._ray.shutdown()
            self._started = False
