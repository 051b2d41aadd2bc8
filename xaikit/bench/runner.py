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
data: model, sample, parameters), :mod:`xaikit.execution` (what runs the cells: ``local``, in
this process one at a time, or ``ray``, on workers), and this module, the driver: it
keys the cells, claims them, hands them to the executor and alone writes the store, so the
store's guarantees (durable records, each cell computed once by concurrent runs) hold
whichever executor computes.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError
from ..execution import (
    Executor,
    ModelRef,
    OpenModel,
    Outcome,
    ResultStore,
    Task,
    canonical,
    cell_key,
    code_digest,
    error_text,
    get_executor,
)
from ..registry import backend_versions
from .cells import (
    MAGNITUDE_METHODS,
    Sample,
    agreement_cell,
    explain_cell,
    floor_cell,
    metric_cell,
    randomisation_cell,
    transform_maps,
)
from .config import (
    CAUSAL_METRICS,
    MASK_METRICS,
    METRICS,
    ROBUSTNESS_METRICS,
    ConfigError,
    ModelEntry,
    SuiteConfig,
)
from .plan import Pair, plan_pairs
from .results import BenchResults, ModelResult, RowResult, environment

__all__ = ["MAGNITUDE_METHODS", "BenchResults", "ModelResult", "Pair", "RowResult", "plan_pairs", "run_suite",
           "transform_maps"]

#: The metrics computed once per row (every metric but the randomisation check and the agreement).
QUALITY_MAP_METRICS = tuple(m for m in METRICS if m not in ("randomisation", "agreement"))


#: Core modules whose code shapes every explanation (validation, targets, upsampling).
_CORE = ("xaikit.explainer", "xaikit.explanation", "xaikit.kernels", "xaikit.methods", "xaikit.catalogue",
         "xaikit.spec", "xaikit.engine", "xaikit.validation", "xaikit._api")


def _backend_code(backend: str) -> str:
    """Digest of the code that computes ``backend``'s explanations (its package, the shared Keras view, the core)."""
    from ..registry import get_backend

    spec = get_backend(backend)
    targets = [*spec.methods.values(), spec.engine, spec.services]
    packages = {target.split(":", 1)[0].split(".", 1)[0] for target in targets if target}
    return code_digest(*sorted(packages), *_CORE)


def _services_package(pm: Any) -> str:
    """The package of the model's services (its backend's framework code), for cell keys."""
    return type(pm.services).__module__.split(".", 1)[0]


def _model_ref(entry: ModelEntry, seed: int, weights_sha: str) -> ModelRef:
    """How the workers open ``entry``'s model (as :func:`.sources.prepare_model` did, the same weights)."""
    return ModelRef.build({"path": entry.path, "arch": entry.arch, "zoo": entry.zoo, "weights": entry.weights,
                           "input_size": entry.input_size, "classes": entry.classes, "unsafe": entry.unsafe,
                           "framework": entry.framework, "seed": seed}, weights_sha)


@dataclass
class _Cell:
    """A cell waiting to run: its key, what to say about it, the task computing it, what to do with the record."""

    key: str
    describe: str
    context: dict[str, Any]
    task: Task
    done: Callable[[dict[str, Any] | None], Iterable[_Cell]] = field(default=lambda record: ())


def _call(model: OpenModel | None, *, compute: Callable[[], tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Any]:
    """A task running a closure (cells computed in the driver's process only: the local executor)."""
    return compute()


@dataclass
class _ModelRun:
    """One model's run: the prepared model, how workers open it, its sample as a shared value."""

    pm: Any  # PreparedModel
    ref: ModelRef
    mr: ModelResult
    metrics: list[str]

    @property
    def sample(self) -> tuple[str, Sample]:
        pm = self.pm
        return (f"sample:{self.ref.key}:{pm.sample_sha}",
                Sample(pm.images, pm.targets, pm.layout, pm.masks, pm.has_mask, pm.sample_sha))


# --------------------------------------------------------------------------- the driver
class _Runner:
    def __init__(self, config: SuiteConfig, out_dir: Path, *, reuse: bool, log: Callable[[str], None],
                 progress: bool, executor: Executor | None = None) -> None:
        from ..execution.local import LocalExecutor

        self.config = config
        self.results = BenchResults(config, out_dir, ResultStore(out_dir))
        self.store = self.results.store
        self.reuse = reuse
        self.log = log
        self.progress = progress
        self.executor = executor if executor is not None else LocalExecutor()
        self.bar: Any = None
        self._done: set[str] = set()  # keys finished (computed or reused) in this run
        self._since = 0 if reuse else self.store.end  # a fresh run reuses only records written after it started
        self._loaded: tuple[str, dict[str, np.ndarray]] | None = None  # side arrays checked by _reusable
        if self.store.skipped_lines:
            self.results.notes.append(f"the store had {self.store.skipped_lines} unreadable line(s) (a run killed "
                                      "while writing); they were ignored")

    # ------------------------------------------------------------- cell plumbing
    def _reusable(self, key: str, describe: str, *, repair: bool) -> dict[str, Any] | None:
        """The finished record of ``key`` this run may use, its side file checked (else None).

        Without ``reuse`` only records written since this run started count (by this run
        or a concurrent one). A damaged side file makes the cell unfinished; with
        ``repair`` (only while holding the cell's claim) it is discarded and logged.
        """
        record = self.store.get(key, since=0 if key in self._done else self._since)
        if record is None or not record.get("arrays"):
            return record
        try:
            self._loaded = (key, self.store.arrays(key))
        except FileFormatError as exc:
            if repair:
                self.store.discard(key, f"damaged side file: {exc}")
                message = f"{describe}: the stored maps were damaged ({exc}); computing the cell again"
                self.log(f"  {message}")
                self.results.notes.append(message)
            return None
        return record

    def _arrays(self, key: str) -> dict[str, np.ndarray]:
        """The side arrays of a finished cell (those :meth:`_reusable` just checked, else read from the store)."""
        loaded, self._loaded = self._loaded, None
        return loaded[1] if loaded is not None and loaded[0] == key else self.store.arrays(key)

    def _cell(self, key: str, describe: str, compute: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray] | None]],
              context: dict[str, Any]) -> dict[str, Any] | None:
        """Return the stored record of ``key``, computing ``compute()`` in this process and storing it if needed.

        The cell is computed while holding its claim in the store, after checking again
        that no other process finished it meanwhile: concurrent runs compute it once.
        """
        out: list[dict[str, Any] | None] = []
        self._run_cells([_Cell(key, describe, context, Task(_call, args={"compute": compute}),
                               lambda record: out.append(record) or ())])
        return out[0]

    def _reused(self, key: str) -> None:
        if key in self._done:
            self.results.shared += 1  # computed earlier in this run for another row
        else:
            self.results.reused += 1  # by an earlier run, or a concurrent one
            self._done.add(key)

    def _store(self, cell: _Cell, outcome: Outcome) -> dict[str, Any] | None:
        """Write a computed cell to the store (the driver alone writes it); None for a failed one."""
        if outcome.error is not None:
            self.results.errors.append({**cell.context, "error": outcome.error, "traceback": outcome.traceback or ""})
            self.log(f"  FAILED {cell.describe}: {outcome.error}")
            return None
        record = self.store.put(cell.key, {**cell.context, "seconds": outcome.seconds, "result": outcome.result},
                                outcome.arrays)
        self.results.computed += 1
        self._done.add(cell.key)
        return record

    def _run_cells(self, cells: Iterable[_Cell]) -> None:
        """Run ``cells`` and the cells their results call for, keeping the executor busy.

        A cell is handed to the executor while this process holds its claim (taken without
        waiting: a process holding claims never waits for another's, so two runs on one
        store cannot wait for each other); a cell claimed elsewhere waits until nothing
        else runs here, then waits for the claim and is reused. A cell whose key is
        already running here (another row of the same cell) waits for that one.
        Follow-up cells (the metrics of new maps) run next, before the queue.
        """
        queue: deque[_Cell] = deque(cells)
        deferred: deque[_Cell] = deque()
        running: dict[str, list[_Cell]] = {}  # key -> cells waiting for that computation (the first computes it)

        def finish(cell: _Cell, record: dict[str, Any] | None) -> None:
            if self.bar is not None:
                self.bar.update(1)
            queue.extendleft(reversed(list(cell.done(record) or ())))

        def compute(cell: _Cell) -> None:
            running[cell.key] = [cell]
            self.executor.submit(cell.task, cell.key)

        while queue or deferred or self.executor.in_flight:
            while queue and self.executor.has_room():
                cell = queue.popleft()
                if self.bar is not None:
                    self.bar.set_description_str(cell.describe[:70])
                if cell.key in running:
                    running[cell.key].append(cell)
                    continue
                record = self._reusable(cell.key, cell.describe, repair=False)
                if record is None:
                    if not self.store.try_claim(cell.key):
                        deferred.append(cell)
                        continue
                    record = self._reusable(cell.key, cell.describe, repair=True)
                    if record is None:
                        compute(cell)
                        continue
                    self.store.release_claim(cell.key)
                self._reused(cell.key)
                finish(cell, record)
            if self.executor.in_flight:
                key, outcome = self.executor.next_done()
                try:
                    record = self._store(running[key][0], outcome)
                finally:
                    self.store.release_claim(key)
                first, *others = running.pop(key)
                finish(first, record)
                for other in others:
                    if record is not None:
                        self.results.shared += 1
                    finish(other, record)
            elif deferred:  # nothing runs here and no claim is held: wait for the other run's claim
                cell = deferred.popleft()
                waiting = f"  waiting: another run is computing {cell.describe}"
                with self.store.claim(cell.key, on_wait=lambda text=waiting: self.log(text)):
                    record = self._reusable(cell.key, cell.describe, repair=True)
                    if record is None:
                        self.executor.submit(cell.task, cell.key)
                        record = self._store(cell, self.executor.next_done()[1])
                    else:
                        self._reused(cell.key)
                finish(cell, record)

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
        total = sum(self._n_cells(entry, pairs) for entry, pairs in plans)
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

    def _quality_metrics(self, pm_has_masks: bool) -> list[str]:
        enabled = self.config.metrics.enabled
        return [m for m in QUALITY_MAP_METRICS if m in enabled and (pm_has_masks or m not in MASK_METRICS)]

    def _pair_cells(self, entry: ModelEntry) -> int:
        """Cells of one pair (mask metrics counted; the bar is corrected for models without masks)."""
        enabled = self.config.metrics.enabled
        n = 1 + int(self.config.speed.floor)
        if entry.quality:
            n += len([m for m in QUALITY_MAP_METRICS if m in enabled]) + int("randomisation" in enabled)
        return n

    def _n_cells(self, entry: ModelEntry, pairs: list[Pair]) -> int:
        enabled = self.config.metrics.enabled
        n = len(pairs) * self._pair_cells(entry)
        if entry.quality:
            per_row = len([m for m in QUALITY_MAP_METRICS if m in enabled and m not in ROBUSTNESS_METRICS])
            n += len(self.config.controls) * per_row
            n += int("randomisation" in enabled and "edge" in self.config.controls)
            n += int("agreement" in enabled)
        return n

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
                self.bar.update(self._n_cells(entry, pairs))
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
        metrics = self._quality_metrics(has_masks) if entry.quality else []
        if entry.quality and self.bar is not None and not has_masks:  # the mask metrics will not run
            skipped = len([m for m in MASK_METRICS if m in cfg.metrics.enabled])
            self.bar.total -= skipped * (len(pairs) + len(cfg.controls))
            self.bar.refresh()
        run = _ModelRun(pm, _model_ref(entry, cfg.seed, pm.weights_sha), mr, metrics)
        self.executor.adopt(run.ref, OpenModel(pm.model, pm.services, pm.layout))
        todo: list[_Cell] = []
        if entry.quality:
            for control in cfg.controls:
                row = self._control_row(pm, control)
                mr.rows.append(row)
                todo += [self._metric(run, row, metric) for metric in metrics if metric not in ROBUSTNESS_METRICS]
                if control == "edge" and "randomisation" in cfg.metrics.enabled and pm.randomisable:
                    todo.append(self._randomisation(run, row, None))
        for pair in pairs:
            try:
                pair = Pair(pair.model_id, pair.label, pair.method, pair.backend,
                            resolve_layer_refs(pm.model, pair.params), pair.ranked_outputs, pair.dropped,
                            pair.shared)
            except InputError as exc:
                raise ConfigError(f"{cfg.source}: {pair.row} on {entry.id}: {exc}") from None
            row = RowResult(pair.label, pair.method, pair.backend, pair=pair)
            mr.rows.append(row)
            todo.append(self._explain(run, row))
        try:
            self._run_cells(todo)
            if entry.quality and "agreement" in cfg.metrics.enabled:
                self._run_cells(self._agreement(run))
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
                self.bar.update(sum(self._pair_cells(pm.entry) for p in pairs if p.backend not in explaining))
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

    # ------------------------------------------------------------ explain
    def _params_for_run(self, pm: Any, pair: Pair) -> dict[str, Any]:
        """The pair's parameters for ``pm``: values in input units resolved, the background loaded."""
        from ..binding import get_method_class
        from .sources import resolve_input_refs

        params = resolve_input_refs(pair.params, pm.scheme, pm.channels)
        if self.config.align:
            params = {**self._alignment(pm, pair).params, **params}
        accepted = get_method_class(pair.method, pair.backend).param_names()
        if "background" in accepted and "background" not in params:
            spec = pm.entry.background if pm.entry.background is not None else self.config.background
            params["background"] = pm.background(spec, self.config.batch_size)
        return params

    def _aligned_record(self, pm: Any, pair: Pair) -> dict[str, Any] | None:
        """How the row was aligned, as its record keeps it: the parameters set and what the library cannot express."""
        if not self.config.align:
            return None
        a = self._alignment(pm, pair)
        return {"params": sorted(a.params), "limits": list(a.limits)}

    def _alignment(self, pm: Any, pair: Pair) -> Any:
        """What the pair is given to compute its method's definition (``align = true``); the entry's shared
        parameters are part of the definition."""
        from ..alignment import align_params
        from .sources import resolve_input_refs

        given = resolve_input_refs({k: pair.params[k] for k in pair.shared}, pm.scheme, pm.channels)
        return align_params(pm.model, pm.images[:1], pair.method, pair.backend, given)

    def _explain(self, run: _ModelRun, row: RowResult) -> _Cell:
        pm, pair, speed = run.pm, row.pair, self.config.speed
        assert pair is not None
        params = self._params_for_run(pm, pair)
        maps_spec = {"kind": "maps", "model": pm.model_id, "weights": pm.weights_sha, "method": pair.method,
                     "backend": pair.backend, "versions": backend_versions(pair.backend),
                     "code": _backend_code(pair.backend), "params": params,
                     "sample": pm.sample_sha, "ranked_outputs": pair.ranked_outputs}
        row.maps_key = cell_key(maps_spec)
        key = cell_key({"kind": "explain", "maps": row.maps_key, "version": 3,  # 3: warm-up with the timed shapes
                        "speed": [speed.repeats, speed.max_seconds, speed.warmup, speed.memory_interval]})
        row.explain_key = key
        task = Task(explain_cell, run.ref, {"sample": run.sample},
                    {"method": pair.method, "backend": pair.backend, "params": params,
                     "ranked_outputs": pair.ranked_outputs, "dropped": pair.dropped, "speed": speed,
                     "aligned": self._aligned_record(pm, pair)})
        context = {"kind": "explain", "model": pm.entry.id, "label": row.label, "method": row.method,
                   "backend": row.backend, "maps_key": row.maps_key, "spec": canonical(maps_spec)}

        def done(record: dict[str, Any] | None) -> list[_Cell]:
            if record is None:
                if self.bar is not None:  # the pair's other cells will not run
                    self.bar.update(self._pair_cells(pm.entry) - 1)
                return []
            row.explain = record
            row.maps = self._arrays(key)["attributions"]
            row.transform = transform_maps(row.maps[:1], row.method, self.config.map_transform)[1]
            follow = [self._metric(run, row, metric) for metric in run.metrics]
            if pm.entry.quality and "randomisation" in self.config.metrics.enabled and pm.randomisable:
                follow.append(self._randomisation(run, row, pair))
            if self.config.speed.floor:
                floor = self._floor(run, row, pair)
                if floor is not None:
                    follow.append(floor)
            return follow

        return _Cell(key, f"{pm.entry.id} · {row.row} · explain", context, task, done)

    def _control_row(self, pm: Any, control: str) -> RowResult:
        from .controls import control_maps

        row = RowResult(control, control, "control", control=True)
        row.maps = control_maps(control, pm.images_nhwc, pm.seed)
        row.maps_key = cell_key({"kind": "control_maps", "control": control, "sample": pm.sample_sha,
                                 "seed": pm.seed, "code": code_digest("xaikit.bench.controls")})
        row.transform = "signed"
        return row

    # ------------------------------------------------------------ metrics
    def _metric(self, run: _ModelRun, row: RowResult, metric: str) -> _Cell:
        cfg, pm = self.config, run.pm
        params = cfg.metrics.get(metric)
        transform = transform_maps(row.maps[:1], row.method, cfg.map_transform)[1] if row.maps is not None else ""
        causal = metric in CAUSAL_METRICS
        robust = metric in ROBUSTNESS_METRICS
        spec = {"kind": "metric", "metric": metric, "maps": row.maps_key, "params": params, "transform": transform,
                "code": code_digest("xaikit.metrics", _services_package(pm)),
                "score": pm.metric_score(cfg.metrics.score) if causal else None,
                "batch": cfg.batch_size if causal or robust else None,
                "seed": cfg.seed if causal or robust else None}
        method: dict[str, Any] = {}
        if robust:  # re-runs the method: its maps key names the model, method, backend and parameters
            assert row.pair is not None
            method = {"method": row.pair.method, "backend": row.pair.backend,
                      "method_params": self._params_for_run(pm, row.pair)}
        task = Task(metric_cell, run.ref, {"sample": run.sample, "maps": (str(row.maps_key), row.maps)},
                    {"metric": metric, "params": params, "transform": transform,
                     "score": pm.metric_score(cfg.metrics.score),
                     "batch_size": cfg.batch_size, "seed": cfg.seed, **method})
        context = {"kind": "metric", "metric": metric, "model": pm.entry.id, "label": row.label,
                   "backend": row.backend, "maps_key": row.maps_key}

        def done(record: dict[str, Any] | None) -> tuple[()]:
            if record is not None:
                row.metrics[metric] = record["result"]
            return ()

        return _Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · {metric}", context, task, done)

    # ------------------------------------------------------------ randomisation
    def _randomisation(self, run: _ModelRun, row: RowResult, pair: Pair | None) -> _Cell:
        cfg, pm = self.config, run.pm
        params = cfg.metrics.get("randomisation")
        n = min(int(params["n_images"]), len(pm.images))
        spec = {"kind": "randomisation", "maps": row.maps_key, "model": pm.model_id, "weights": pm.weights_sha,
                "params": params, "n": n, "seed": cfg.seed,
                "code": code_digest("xaikit.metrics", _services_package(pm))}
        task = Task(randomisation_cell, run.ref, {"sample": run.sample},
                    {"n": n, "method": None if pair is None else pair.method,
                     "backend": None if pair is None else pair.backend,
                     "params": {} if pair is None else self._params_for_run(pm, pair), "check": params,
                     "seed": cfg.seed, "weights_sha": pm.weights_sha, "model_id": pm.entry.id})
        context = {"kind": "randomisation", "model": pm.entry.id, "label": row.label, "backend": row.backend,
                   "maps_key": row.maps_key}

        def done(record: dict[str, Any] | None) -> tuple[()]:
            if record is not None:
                row.randomisation = record["result"]
            return ()

        return _Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · randomisation", context, task, done)

    # ------------------------------------------------------------ floor
    def _floor(self, run: _ModelRun, row: RowResult, pair: Pair) -> _Cell | None:
        from .floor import candidate_batch_sizes, floor_plan

        cfg, speed, pm = self.config, self.config.speed, run.pm
        exp = row.explain["result"]  # type: ignore[index]
        try:
            plan = floor_plan(pair.method, exp["params"], layer=exp.get("layer"), score=exp.get("score"),
                              default_score=pm.default_score, image_size=pm.image_size,
                              ranked_outputs=pair.ranked_outputs)
        except (KeyError, ValueError) as exc:
            self.results.errors.append({"model": pm.entry.id, "label": row.label, "backend": row.backend,
                                        "cell": "floor", "error": error_text(exc)})
            if self.bar is not None:
                self.bar.update(1)
            return None
        sizes = candidate_batch_sizes(speed.floor_batch_sizes, plan.passes * len(pm.images))
        # The floor is measured in the same run as the method's time: it is keyed by the timing cell (and when
        # that was measured), so re-timing a method re-measures its floor, and a reused time keeps its floor.
        spec = {"kind": "floor_rate", "model": pm.model_id, "weights": pm.weights_sha, "pass": plan.kind,
                "layer": plan.layer, "k": plan.k, "score": plan.score, "sample": pm.sample_sha, "sizes": sizes,
                "min_seconds": speed.floor_min_seconds,
                "code": code_digest("xaikit.bench.floor", _services_package(pm)),
                "timing": [row.explain_key, row.explain.get("time")]}  # type: ignore[union-attr]
        task = Task(floor_cell, run.ref, {"sample": run.sample},
                    {"plan": plan, "sizes": sizes, "min_seconds": speed.floor_min_seconds,
                     "batch_size": cfg.batch_size})
        context = {"kind": "floor", "model": pm.entry.id, "label": row.label, "backend": row.backend,
                   "pass": plan.kind}

        def done(record: dict[str, Any] | None) -> tuple[()]:
            if record is None:
                return ()
            rate = record["result"]
            floor = plan.passes * rate["seconds_per_pass"]
            row.floor = {"kind": plan.kind, "passes": plan.passes, "description": plan.description,
                         "seconds_per_pass": rate["seconds_per_pass"], "batch_size": rate["batch_size"],
                         "tried": rate["tried"], "floor_per_image": floor,
                         "ratio": exp["seconds_per_image"] / floor if floor > 0 else None}
            return ()

        return _Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · floor", context, task, done)

    # ------------------------------------------------------------ agreement
    def _agreement(self, run: _ModelRun) -> list[_Cell]:
        cfg, mr = self.config, run.mr
        rows = [r for r in mr.rows if r.maps is not None]
        if len(rows) < 2:
            return []
        fraction = cfg.metrics.get("agreement")["fraction"]
        spec = {"kind": "agreement", "maps": [r.maps_key for r in rows], "names": [r.row for r in rows],
                "fraction": fraction, "transform": cfg.map_transform, "code": code_digest("xaikit.metrics")}
        key = cell_key(spec)
        named = {r.row: transform_maps(r.maps, r.method, cfg.map_transform)[0] for r in rows}
        task = Task(agreement_cell, None, {"maps": (key, named)}, {"fraction": fraction})

        def done(record: dict[str, Any] | None) -> tuple[()]:
            if record is not None:
                mr.agreement = record["result"]
            return ()

        return [_Cell(key, f"{run.pm.entry.id} · agreement", {"kind": "agreement", "model": run.pm.entry.id}, task,
                      done)]


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
