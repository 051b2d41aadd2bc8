"""ROAR (remove and retrain, Hooker et al. 2019) as tasks of xaikit's executors and results store.

Every retraining — one (method, removed fraction, training seed), plus the accuracy
without removal per seed — is a :class:`~xaikit.execution.Task` run by an executor (``local``: in
this process; ``ray``: in parallel on Ray workers) and stored as one record of a
:class:`~xaikit.execution.ResultStore` as soon as it finishes. A run that is stopped (Ctrl-C, a
lost node, ``kill``) and started again with the same folder and inputs skips the
finished cells: a cell's key is a hash of the data, its maps, the fraction, the seed,
how the pixels are removed (and the imputation's noise and its seed), the fit's name and
arguments, and the code that computes it (:func:`~xaikit.execution.code_digest`); the
cells that remove nothing are shared by both removals.

>>> from xaikit.bench.roar import run_remove_and_retrain
>>> res = run_remove_and_retrain(make_fit, {"epochs": 5}, x_train, y_train, x_test, y_test, maps,
...                              store="roar-store", engine="ray")      # doctest: +SKIP
>>> print(res.table())                                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..execution import Executor, ResultStore, Task, array_digest, cell_key, code_digest, get_executor
from ..metrics.roar import RoarResult, prepare_roar, retrained_accuracy

__all__ = ["roar_cell", "run_remove_and_retrain"]

#: The label of the cells trained on unmodified images.
NO_REMOVAL = "(no removal)"


def roar_cell(model: None, *, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
              test_labels: np.ndarray, train_maps: np.ndarray | None = None, test_maps: np.ndarray | None = None,
              fraction: float, seed: int, fill: list[float], fit_factory: Callable[..., Any],
              fit_kwargs: dict[str, Any], batch_size: int, removal: str = "mean", noise: float = 0.01,
              noise_seed: int = 0) -> tuple[dict[str, Any], None]:
    """One retraining (a task's function): :func:`~xaikit.metrics.roar.retrained_accuracy` run where the task runs.

    ``fit_factory(**fit_kwargs)`` builds the ``fit`` callable here, and the images are
    degraded here, so a worker receives the maps, not one degraded copy of the data per cell.

    Parameters
    ----------
    model : None
        Unused (a task's model slot: ROAR trains its own).
    train_images, train_labels, test_images, test_labels, train_maps, test_maps, fraction, seed, fill
        As in :func:`~xaikit.metrics.roar.retrained_accuracy` (maps ``None``: nothing removed).
    fit_factory, fit_kwargs
        As in :func:`run_remove_and_retrain`.
    batch_size, removal, noise, noise_seed
        As in :func:`~xaikit.metrics.roar.retrained_accuracy`.

    Returns
    -------
    tuple
        ``({"accuracy": float}, None)``.
    """
    fit = fit_factory(**fit_kwargs)
    accuracy = retrained_accuracy(fit, train_images, train_labels, test_images, test_labels, train_maps, test_maps,
                                  fraction, seed, np.asarray(fill, np.float32), removal=removal, noise=noise,
                                  noise_seed=noise_seed, batch_size=batch_size)
    return {"accuracy": accuracy}, None


def run_remove_and_retrain(fit_factory: Callable[..., Any], fit_kwargs: Mapping[str, Any], train_images: Any,
                           train_labels: Any, test_images: Any, test_labels: Any,
                           maps: Mapping[str, tuple[Any, Any]], *, store: str | os.PathLike[str],
                           fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), seeds: Sequence[int] = (0, 1),
                           random_seed: int = 0, batch_size: int = 256, removal: str = "mean",
                           noise: float = 0.01, engine: str | Executor = "local",
                           address: str | None = None, workers: int | None = None,
                           log: Callable[[str], None] | None = None) -> RoarResult:
    """:func:`xaikit.metrics.roar.remove_and_retrain` with every retraining a resumable task of an executor.

    Parameters
    ----------
    fit_factory : callable
        A module-level function (Ray workers import it by name): ``fit_factory(**fit_kwargs)``
        returns ``fit(images, labels, seed) -> predict`` (e.g.
        :func:`xaikit_torch.zoo.roar.make_fit`). Its module's code is part of the cells' keys.
    fit_kwargs : mapping
        Plain data: the architecture, input shape, classes, epochs...
    train_images, train_labels, test_images, test_labels, maps, fractions, seeds, random_seed, batch_size
        As in :func:`~xaikit.metrics.roar.remove_and_retrain`.
    removal, noise
        As there: how the removed pixels are filled.
    store : path
        The results folder (:class:`~xaikit.execution.ResultStore`): finished cells found
        there are reused, new ones appended as they finish.
    engine, address, workers
        The executor (:func:`~xaikit.execution.get_executor`): ``"local"`` or ``"ray"``.
    log : callable or None
        Called with one line per cell (``"... (reused)"`` for a cell found in the store).

    Returns
    -------
    RoarResult
        ``params`` also hold the executor, the cells computed and reused, and each cell's key.

    Raises
    ------
    RuntimeError
        Some cells failed (the finished ones are kept: run again to retry only those).
    """
    setup = prepare_roar(train_images, train_labels, test_images, test_labels, maps, fractions=fractions,
                         seeds=seeds, random_seed=random_seed, batch_size=batch_size, removal=removal,
                         noise=noise)
    say = log or (lambda s: None)
    results = ResultStore(store)
    fit_kwargs = dict(fit_kwargs)
    cells = _roar_cells(setup, fit_factory, fit_kwargs)
    keys = [cell_key(spec) for *_, spec, _ in cells]
    accuracy = np.full((len(setup.maps), setup.fractions.size, len(setup.seeds)), np.nan)
    baseline = np.full(len(setup.seeds), np.nan)
    names = tuple(setup.maps)

    def place(i: int, value: float) -> None:
        name, f, s = cells[i][:3]
        if name == NO_REMOVAL:
            baseline[s] = value
        else:
            accuracy[names.index(name), f, s] = value

    def label(i: int) -> str:
        name, f, s = cells[i][:3]
        at = "" if name == NO_REMOVAL else f" {setup.fractions[f]:.0%}"
        return f"{name}{at} seed {setup.seeds[s]}"

    start = time.perf_counter()
    todo = []
    for i, key in enumerate(keys):
        record = results.get(key)
        if record is None:
            todo.append(i)
        else:
            place(i, float(record["result"]["accuracy"]))
            say(f"{label(i)}: accuracy {record['result']['accuracy']:.3f} (reused)")
    errors = []
    runner = get_executor(engine, address=address, workers=workers)
    try:
        for index, outcome in runner.run([cells[i][4] for i in todo]):
            i = todo[index]
            if outcome.error is not None:
                errors.append(f"{label(i)}: {outcome.error}")
                say(f"{label(i)}: failed ({outcome.error})")
                continue
            assert outcome.result is not None
            results.put(keys[i], {**cells[i][3], "seconds": outcome.seconds, "result": outcome.result})
            place(i, float(outcome.result["accuracy"]))
            say(f"{label(i)}: accuracy {outcome.result['accuracy']:.3f}")
        described = runner.describe()
    finally:
        if not isinstance(engine, Executor):   # an executor given by the caller stays theirs to close
            runner.close()
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(cells)} ROAR cells failed (the {len(cells) - len(errors)} "
                           f"finished are stored in {results.folder}; run again to retry the others): "
                           + "; ".join(errors[:5]))
    return RoarResult(methods=names, fractions=setup.fractions, seeds=setup.seeds, accuracy=accuracy,
                      baseline=baseline, seconds=time.perf_counter() - start,
                      params={"fill": setup.fill.tolist(), "random_seed": setup.random_seed,
                              "removal": setup.removal, "noise": setup.noise,
                              "n_train": len(setup.train_images), "n_test": len(setup.test_images),
                              "engine": described, "computed": len(todo), "reused": len(cells) - len(todo),
                              "store": str(results.folder), "cell_keys": keys})


def _roar_cells(setup: Any, fit_factory: Callable[..., Any],
               fit_kwargs: dict[str, Any]) -> list[tuple[str, int, int, dict[str, Any], Task]]:
    """``(method, fraction index, seed index, spec, task)`` of every retraining: the baselines, then each map set's
    fractions and seeds (the spec is what the cell's key is made of)."""
    code = code_digest("xaikit.metrics.roar", "xaikit.metrics.deletion", "xaikit.metrics.road",
                       fit_factory.__module__)
    data = {"train_images": ("roar-train", setup.train_images), "train_labels": ("roar-train-labels",
                                                                                  setup.train_labels),
            "test_images": ("roar-test", setup.test_images), "test_labels": ("roar-test-labels", setup.test_labels)}
    data = {name: (f"{label}-{array_digest(value)}", value) for name, (label, value) in data.items()}
    common = {"kind": "roar", "data": {name: key for name, (key, _) in data.items()},
              "fit": f"{fit_factory.__module__}.{fit_factory.__qualname__}", "fit_kwargs": fit_kwargs,
              "fill": setup.fill.tolist(), "code": code}
    cells: list[tuple[str, int, int, dict[str, Any], Task]] = []   # (method, fraction index, seed index, spec, task)
    removal = {"removal": setup.removal}
    if setup.removal == "noisy_linear":   # the noise changes nothing with the mean fill: not in those cells' keys
        removal.update(noise=setup.noise, noise_seed=setup.random_seed)
    for s, seed in enumerate(setup.seeds):   # nothing removed: one cell for both removals
        spec = {**common, "method": NO_REMOVAL, "fraction": 0.0, "seed": seed}
        cells.append((NO_REMOVAL, -1, s, spec, _task(data, None, 0.0, seed, setup, fit_factory, fit_kwargs, {})))
    for name, (train_maps, test_maps) in setup.maps.items():
        shared = {**data, "train_maps": (f"maps-{array_digest(train_maps)}", train_maps),
                  "test_maps": (f"maps-{array_digest(test_maps)}", test_maps)}
        for f, fraction in enumerate(setup.fractions):
            for s, seed in enumerate(setup.seeds):
                spec = {**common, "method": name, "maps": [shared["train_maps"][0], shared["test_maps"][0]],
                        "fraction": float(fraction), "seed": seed, **removal}
                cells.append((name, f, s, spec, _task(shared, None, float(fraction), seed, setup, fit_factory,
                                                      fit_kwargs, removal)))
    return cells


def _task(shared: dict[str, tuple[str, Any]], model: None, fraction: float, seed: int, setup: Any,
          fit_factory: Callable[..., Any], fit_kwargs: dict[str, Any], removal: dict[str, Any]) -> Task:
    return Task(roar_cell, model, shared, {"fraction": fraction, "seed": int(seed), "fill": setup.fill.tolist(),
                                           "fit_factory": fit_factory, "fit_kwargs": fit_kwargs,
                                           "batch_size": setup.batch_size, **removal})
