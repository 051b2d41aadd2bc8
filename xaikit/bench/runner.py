"""Run a benchmark suite cell by cell on an executor, reusing every finished cell of the store.

For each model: load it and draw its seeded sample; then for each (method, backend)
pair, the cells

1. ``explain`` -- a warm-up with the timed runs' tensor shapes (:mod:`xaikit._timing`;
   its wall time is the first-call cost), then up to ``speed.repeats`` timed runs on the
   sample (median seconds per image: the steady state; peak RSS sampled in a background
   thread); the maps of the last run are kept (``cells/<key>.npz``);
2. once its maps exist: one cell per quality metric (deletion, insertion, MuFidelity,
   pointing games, sparseness, complexity) on those maps; ``randomisation`` -- the
   cascading model-parameter randomisation sanity check (weights restored afterwards and
   checked against the checksum); ``floor`` -- the pass rate of the method's unavoidable
   passes (:mod:`.floor`);

with the controls (``random``, ``edge``) first, and one ``agreement`` cell for all the
maps of the model last. A cell whose key is in the store is not recomputed (see
:mod:`xaikit.execution.store`). A failing cell is reported and its dependants skipped; the run goes on.

The pieces: :mod:`.plan` (the pairs), :mod:`.cells` (each cell as a function of plain
data: model, sample, parameters), :mod:`.cell_factories` (each cell keyed, its task
built, its record put in its row), :mod:`.schedule` (the cells claimed, handed to the
executor, recorded: the driver alone writes the store, so the store's guarantees --
durable records, each cell computed once by concurrent runs -- hold whichever executor
computes), :mod:`xaikit.execution` (what runs the cells: ``local``, in this process one
at a time, or ``ray``, on workers), and this module, the driver: models loaded, rows
planned, cells counted for the progress bar.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..execution import Executor, OpenModel, error_text, get_executor
from .cell_factories import CellFactories, ModelRun, model_ref
from .cells import MAGNITUDE_METHODS, transform_maps
from .config import MASK_METRICS, ROBUSTNESS_METRICS, ConfigError, ModelEntry, SuiteConfig
from .plan import Pair, plan_pairs
from .results import BenchResults, ModelResult, RowResult, environment
from .schedule import Cell, CellScheduler

__all__ = ["MAGNITUDE_METHODS", "BenchResults", "ModelResult", "Pair", "RowResult", "plan_pairs", "run_suite",
           "transform_maps"]


class _Runner(CellFactories, CellScheduler):
    """The driver of one suite run: each model loaded, its rows' cells made and scheduled."""

    # ------------------------------------------------------------------ run
    def run(self) -> BenchResults:
        start = time.perf_counter()
        self.results.environment = {**environment(), "engine": self.executor.describe()}
        plans = []
        for entry in self.config.models:
            notes: list[str] = []
            pairs = plan_pairs(self.config, entry, notes)  # configuration errors before any work
            for n in notes:
                if f"{entry.id}: {n}" not in self.results.notes:
                    self.results.notes.append(f"{entry.id}: {n}")
            plans.append((entry, pairs))
        total = sum(self.n_cells(entry, pairs) for entry, pairs in plans)
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="cell", file=sys.stderr, disable=not self.progress, dynamic_ncols=True,
                        leave=False)
        try:
            for entry, pairs in plans:
                self._run_model(entry, pairs)
        finally:
            self.bar.close()
            self.bar = None
            self.results.seconds = time.perf_counter() - start
        return self.results

    def _run_model(self, entry: ModelEntry, pairs: list[Pair]) -> None:
        from .sources import prepare_model, resolve_layer_refs

        cfg = self.config
        self.log(f"model {entry.id} ({entry.source}): loading, {len(pairs)} method/backend pair(s)")
        try:
            pm = prepare_model(entry, n_images=cfg.n_images, seed=cfg.seed, pool=cfg.pool, batch_size=cfg.batch_size)
        except (KeyboardInterrupt, SystemExit):
            raise
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a model that fails to load is reported, the others run
            import traceback

            self.results.errors.append({"model": entry.id, "cell": "load", "error": error_text(exc),
                                        "traceback": traceback.format_exc()[-3000:]})
            self.log(f"  FAILED to load {entry.id}: {error_text(exc)}")
            if self.bar is not None:
                self.bar.update(self.n_cells(entry, pairs))
            return
        pairs = self._pairs_for(pm, pairs)
        mr = ModelResult(entry, dict(pm.info, id=entry.id, source=entry.source, weights_sha=pm.weights_sha,
                                     preprocess=pm.preprocess, names=pm.names, targets=pm.targets.tolist(),
                                     quality=entry.quality),
                         prepared=pm)
        self.results.models.append(mr)
        self.log(f"  {len(pm.images)} images {pm.image_size[0]}x{pm.image_size[1]}, {pm.n_params:,} parameters, "
                 f"weights {pm.weights_sha}" + ("" if entry.quality else " (speed only)"))
        has_masks = pm.masks is not None and bool(np.any(pm.has_mask))
        metrics = self.quality_metrics(has_masks) if entry.quality else []
        if entry.quality and self.bar is not None and not has_masks:  # the mask metrics will not run
            skipped = len([m for m in MASK_METRICS if m in cfg.metrics.enabled])
            self.bar.total -= skipped * (len(pairs) + len(cfg.controls))
            self.bar.refresh()
        run = ModelRun(pm, model_ref(entry, cfg.seed, pm.weights_sha), mr, metrics)
        self.executor.adopt(run.ref, OpenModel(pm.model, pm.services, pm.layout))
        todo: list[Cell] = []
        if entry.quality:
            for control in cfg.controls:
                row = self.control_row(pm, control)
                mr.rows.append(row)
                todo += [self.metric_of(run, row, metric) for metric in metrics if metric not in ROBUSTNESS_METRICS]
                if control == "edge" and "randomisation" in cfg.metrics.enabled and pm.randomisable:
                    todo.append(self.randomisation_of(run, row, None))
        for pair in pairs:
            try:
                pair = Pair(pair.model_id, pair.label, pair.method, pair.backend,
                            resolve_layer_refs(pm.model, pair.params), pair.ranked_outputs, pair.dropped,
                            pair.shared)
            except InputError as exc:
                raise ConfigError(f"{cfg.source}: {pair.row} on {entry.id}: {exc}") from None
            row = RowResult(pair.label, pair.method, pair.backend, pair=pair)
            mr.rows.append(row)
            todo.append(self.explain_of(run, row))
        try:
            self.run_cells(todo)
            if entry.quality and "agreement" in cfg.metrics.enabled:
                self.run_cells(self.agreement_of(run))
        finally:
            self.executor.release(run.ref)
        for row in mr.rows:  # maps are re-read from the store by the report
            row.maps = None

    def _pairs_for(self, pm: Any, pairs: list[Pair]) -> list[Pair]:
        """The pairs whose backend explains ``pm.model`` (:func:`xaikit.registry.backends_for_model`).

        A Keras model is not run through the black-box backend, nor a black box through the
        Keras backends. For a model other than Keras, the randomisation check and the
        floor (measured on the TensorFlow graph) are skipped.
        """
        from ..registry import backends_for_model

        explaining = set(backends_for_model(pm.model))
        kept = [p for p in pairs if p.backend in explaining]
        skipped = sorted({p.backend for p in pairs} - explaining)
        if skipped:
            self.log(f"  skipped backend(s) {', '.join(skipped)}: they do not explain this model")
            if self.bar is not None:
                self.bar.update(sum(self.pair_cells(pm.entry) for p in pairs if p.backend not in explaining))
        if not pm.randomisable:
            self.log(f"  randomisation check: the {pm.services.backend!r} backend cannot re-initialise this model's "
                     "weights; skipped")
            if self.bar is not None:
                cfg, quality = self.config, pm.entry.quality
                randomisation = quality and "randomisation" in cfg.metrics.enabled
                self.bar.total -= len(kept) * int(randomisation)
                self.bar.total -= int(randomisation and "edge" in cfg.controls)
                self.bar.refresh()
        return kept

def run_suite(config: SuiteConfig, out_dir: str | os.PathLike[str], *, reuse: bool = True,
              log: Callable[[str], None] | None = None, progress: bool = False, engine: str | Executor = "local",
              address: str | None = None, workers: int | None = None, unsafe: bool = False) -> BenchResults:
    """Run (or resume) ``config``, storing cells in ``out_dir``; see the module docstring.

    Parameters
    ----------
    config
        The suite.
    out_dir
        Folder of the results store (``results.jsonl``, ``cells/``) and the reports.
    reuse
        Reuse finished cells of the store (False recomputes everything and appends).
    log
        Called with one line per model and per failure; default: silent.
    progress
        Show a tqdm bar on stderr.
    engine
        What computes the cells: ``"local"`` (this process, one cell at a time), ``"ray"``
        (Ray workers, see :class:`~xaikit.execution.ray_executor.RayExecutor`) or an
        :class:`~xaikit.execution.Executor` (left open). The results are the same cell
        for cell, timings aside; the store is written by this process only.
    address, workers
        The Ray executor's cluster address (None: the running Ray session, else a new local
        one) and worker count (default: the cluster's CPUs).
    unsafe
        Trust the code the suite's models carry (Lambda layers, SavedModel folders,
        TorchScript, pickled modules): only the caller grants it. A model the suite marks
        ``unsafe = true`` stops the run before anything loads unless this is True.

    Returns
    -------
    BenchResults
        Feed it to :func:`xaikit.bench.report.write_reports`.
    """
    config = config.trusted(unsafe)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    owned = not isinstance(engine, Executor)
    executor = get_executor(engine, address=address, workers=workers)
    try:
        runner = _Runner(config, Path(out_dir), reuse=reuse, log=log or (lambda s: None), progress=progress,
                         executor=executor)
        return runner.run()
    finally:
        if owned:
            executor.close()

