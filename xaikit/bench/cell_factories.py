"""The bench's cell factories: for a row of a model, the cells computing its maps, metrics, sanity check, floor.

Each factory keys its cell (:func:`xaikit.execution.cell_key` of what the result depends
on: model, sample, parameters, library versions, code digests), builds the task that
computes it (a function of :mod:`.cells` on plain data) and says what to do with the
record (``done``: fill the row, return the cells that follow). :class:`CellFactories`
is mixed into the driver (:mod:`.runner`) with a :class:`~.schedule.CellScheduler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..execution import ModelRef, Task, canonical, cell_key, code_digest, error_text
from ..registry import backend_versions
from .cells import Sample, agreement_cell, explain_cell, floor_cell, metric_cell, randomisation_cell, transform_maps
from .config import CAUSAL_METRICS, MASK_METRICS, METRICS, ROBUSTNESS_METRICS, ModelEntry, SuiteConfig
from .plan import Pair
from .results import BenchResults, ModelResult, RowResult
from .schedule import Cell

__all__ = ["QUALITY_MAP_METRICS", "CellFactories", "ModelRun", "backend_code", "model_ref", "services_package"]

QUALITY_MAP_METRICS = tuple(m for m in METRICS if m not in ("randomisation", "agreement"))


#: Core modules whose code shapes every explanation (validation, targets, upsampling).
_CORE = ("xaikit.explainer", "xaikit.configurable", "xaikit.described", "xaikit.param_resolution",
         "xaikit.result_checks", "xaikit.explanation", "xaikit.result_format", "xaikit.kernels", "xaikit.methods",
         "xaikit.catalogue", "xaikit.spec", "xaikit.engine", "xaikit.validation", "xaikit._api")


def backend_code(backend: str) -> str:
    """Digest of the code that computes ``backend``'s explanations (its package, the shared Keras view, the core)."""
    from ..registry import get_backend

    spec = get_backend(backend)
    targets = [*spec.methods.values(), spec.engine, spec.services]
    packages = {target.split(":", 1)[0].split(".", 1)[0] for target in targets if target}
    return code_digest(*sorted(packages), *_CORE)


def services_package(pm: Any) -> str:
    """The package of the model's services (its backend's framework code), for cell keys."""
    return type(pm.services).__module__.split(".", 1)[0]


def model_ref(entry: ModelEntry, seed: int, weights_sha: str) -> ModelRef:
    """How the workers open ``entry``'s model (as :func:`.sources.prepare_model` did, the same weights)."""
    return ModelRef.build({"path": entry.path, "arch": entry.arch, "zoo": entry.zoo, "weights": entry.weights,
                           "input_size": entry.input_size, "classes": entry.classes, "unsafe": entry.unsafe,
                           "framework": entry.framework, "seed": seed}, weights_sha)



@dataclass
class ModelRun:
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



class CellFactories:
    """The cells of a model's rows (mixed into the driver, which holds these attributes).

    Attributes
    ----------
    config : SuiteConfig
        The suite.
    results : BenchResults
        Where a cell that cannot be built records its error.
    bar : tqdm or None
        The progress bar, corrected for cells that will not run.
    """

    config: SuiteConfig
    results: BenchResults
    bar: Any
    arrays: Callable[[str], dict[str, np.ndarray]]

    def quality_metrics(self, pm_has_masks: bool) -> list[str]:
        enabled = self.config.metrics.enabled
        return [m for m in QUALITY_MAP_METRICS if m in enabled and (pm_has_masks or m not in MASK_METRICS)]

    def pair_cells(self, entry: ModelEntry) -> int:
        """Cells of one pair (mask metrics counted; the bar is corrected for models without masks)."""
        enabled = self.config.metrics.enabled
        n = 1 + int(self.config.speed.floor)
        if entry.quality:
            n += len([m for m in QUALITY_MAP_METRICS if m in enabled]) + int("randomisation" in enabled)
        return n

    def n_cells(self, entry: ModelEntry, pairs: list[Pair]) -> int:
        enabled = self.config.metrics.enabled
        n = len(pairs) * self.pair_cells(entry)
        if entry.quality:
            per_row = len([m for m in QUALITY_MAP_METRICS if m in enabled and m not in ROBUSTNESS_METRICS])
            n += len(self.config.controls) * per_row
            n += int("randomisation" in enabled and "edge" in self.config.controls)
            n += int("agreement" in enabled)
        return n


    # ------------------------------------------------------------ explain
    def params_for_run(self, pm: Any, pair: Pair) -> dict[str, Any]:
        """The pair's parameters for ``pm``: values in input units resolved, the background loaded."""
        from ..binding import get_method_class
        from .sources import resolve_input_refs

        params = resolve_input_refs(pair.params, pm.scheme, pm.channels)
        if self.config.align:
            params = {**self.alignment(pm, pair).params, **params}
        accepted = get_method_class(pair.method, pair.backend).param_names()
        if "background" in accepted and "background" not in params:
            spec = pm.entry.background if pm.entry.background is not None else self.config.background
            params["background"] = pm.background(spec, self.config.batch_size)
        return params

    def aligned_record(self, pm: Any, pair: Pair) -> dict[str, Any] | None:
        """How the row was aligned, as its record keeps it: the parameters set and what the library cannot express."""
        if not self.config.align:
            return None
        a = self.alignment(pm, pair)
        return {"params": sorted(a.params), "limits": list(a.limits)}

    def alignment(self, pm: Any, pair: Pair) -> Any:
        """What the pair is given to compute its method's definition (``align = true``); the entry's shared
        parameters are part of the definition."""
        from ..alignment import align_params
        from .sources import resolve_input_refs

        given = resolve_input_refs({k: pair.params[k] for k in pair.shared}, pm.scheme, pm.channels)
        return align_params(pm.model, pm.images[:1], pair.method, pair.backend, given)

    def explain_of(self, run: ModelRun, row: RowResult) -> Cell:
        pm, pair, speed = run.pm, row.pair, self.config.speed
        assert pair is not None
        params = self.params_for_run(pm, pair)
        maps_spec = {"kind": "maps", "model": pm.model_id, "weights": pm.weights_sha, "method": pair.method,
                     "backend": pair.backend, "versions": backend_versions(pair.backend),
                     "code": backend_code(pair.backend), "params": params,
                     "sample": pm.sample_sha, "ranked_outputs": pair.ranked_outputs}
        row.maps_key = cell_key(maps_spec)
        key = cell_key({"kind": "explain", "maps": row.maps_key, "version": 3,  # 3: warm-up with the timed shapes
                        "speed": [speed.repeats, speed.max_seconds, speed.warmup, speed.memory_interval]})
        row.explain_key = key
        task = Task(explain_cell, run.ref, {"sample": run.sample},
                    {"method": pair.method, "backend": pair.backend, "params": params,
                     "ranked_outputs": pair.ranked_outputs, "dropped": pair.dropped, "speed": speed,
                     "aligned": self.aligned_record(pm, pair)})
        context = {"kind": "explain", "model": pm.entry.id, "label": row.label, "method": row.method,
                   "backend": row.backend, "maps_key": row.maps_key, "spec": canonical(maps_spec)}

        def done(record: dict[str, Any] | None) -> list[Cell]:
            if record is None:
                if self.bar is not None:  # the pair's other cells will not run
                    self.bar.update(self.pair_cells(pm.entry) - 1)
                return []
            row.explain = record
            row.maps = self.arrays(key)["attributions"]
            row.transform = transform_maps(row.maps[:1], row.method, self.config.map_transform)[1]
            follow = [self.metric_of(run, row, metric) for metric in run.metrics]
            if pm.entry.quality and "randomisation" in self.config.metrics.enabled and pm.randomisable:
                follow.append(self.randomisation_of(run, row, pair))
            if self.config.speed.floor:
                floor = self.floor_of(run, row, pair)
                if floor is not None:
                    follow.append(floor)
            return follow

        return Cell(key, f"{pm.entry.id} · {row.row} · explain", context, task, done)

    def control_row(self, pm: Any, control: str) -> RowResult:
        from .controls import control_maps

        row = RowResult(control, control, "control", control=True)
        row.maps = control_maps(control, pm.images_nhwc, pm.seed)
        row.maps_key = cell_key({"kind": "control_maps", "control": control, "sample": pm.sample_sha,
                                 "seed": pm.seed, "code": code_digest("xaikit.bench.controls")})
        row.transform = "signed"
        return row

    # ------------------------------------------------------------ metrics
    def metric_of(self, run: ModelRun, row: RowResult, metric: str) -> Cell:
        cfg, pm = self.config, run.pm
        params = cfg.metrics.get(metric)
        transform = transform_maps(row.maps[:1], row.method, cfg.map_transform)[1] if row.maps is not None else ""
        causal = metric in CAUSAL_METRICS
        robust = metric in ROBUSTNESS_METRICS
        spec = {"kind": "metric", "metric": metric, "maps": row.maps_key, "params": params, "transform": transform,
                "code": code_digest("xaikit.metrics", services_package(pm)),
                "score": pm.metric_score(cfg.metrics.score) if causal else None,
                "batch": cfg.batch_size if causal or robust else None,
                "seed": cfg.seed if causal or robust else None}
        method: dict[str, Any] = {}
        if robust:  # re-runs the method: its maps key names the model, method, backend and parameters
            assert row.pair is not None
            method = {"method": row.pair.method, "backend": row.pair.backend,
                      "method_params": self.params_for_run(pm, row.pair)}
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

        return Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · {metric}", context, task, done)

    # ------------------------------------------------------------ randomisation
    def randomisation_of(self, run: ModelRun, row: RowResult, pair: Pair | None) -> Cell:
        cfg, pm = self.config, run.pm
        params = cfg.metrics.get("randomisation")
        n = min(int(params["n_images"]), len(pm.images))
        spec = {"kind": "randomisation", "maps": row.maps_key, "model": pm.model_id, "weights": pm.weights_sha,
                "params": params, "n": n, "seed": cfg.seed,
                "code": code_digest("xaikit.metrics", services_package(pm))}
        task = Task(randomisation_cell, run.ref, {"sample": run.sample},
                    {"n": n, "method": None if pair is None else pair.method,
                     "backend": None if pair is None else pair.backend,
                     "params": {} if pair is None else self.params_for_run(pm, pair), "check": params,
                     "seed": cfg.seed, "weights_sha": pm.weights_sha, "model_id": pm.entry.id})
        context = {"kind": "randomisation", "model": pm.entry.id, "label": row.label, "backend": row.backend,
                   "maps_key": row.maps_key}

        def done(record: dict[str, Any] | None) -> tuple[()]:
            if record is not None:
                row.randomisation = record["result"]
            return ()

        return Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · randomisation", context, task, done)

    # ------------------------------------------------------------ floor
    def floor_of(self, run: ModelRun, row: RowResult, pair: Pair) -> Cell | None:
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
                "code": code_digest("xaikit.bench.floor", services_package(pm)),
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

        return Cell(cell_key(spec), f"{pm.entry.id} · {row.row} · floor", context, task, done)

    # ------------------------------------------------------------ agreement
    def agreement_of(self, run: ModelRun) -> list[Cell]:
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

        return [Cell(key, f"{run.pm.entry.id} · agreement", {"kind": "agreement", "model": run.pm.entry.id}, task,
                      done)]
