"""Run a benchmark suite cell by cell, reusing every finished cell of the store.

For each model: load it and draw its seeded sample; then for each (method, backend)
pair, in order, the cells

1. ``explain`` -- a warm-up with the timed runs' tensor shapes (:mod:`xaikit._timing`;
   its wall time is the first-call cost), then up to ``speed.repeats`` timed runs on the
   sample (median seconds per image: the steady state; peak RSS sampled in a background
   thread); the maps of the last run are kept (``cells/<key>.npz``);
2. one cell per quality metric (deletion, insertion, MuFidelity, pointing games,
   sparseness, complexity) on those maps;
3. ``randomisation`` -- the cascading model-parameter randomisation sanity check
   (weights restored afterwards and checked against the checksum);
4. ``floor`` -- the pass rate of the method's unavoidable passes (:mod:`.floor`);

then the controls (``random``, ``edge``) and one ``agreement`` cell for all the maps
of the model. A cell whose key is in the store is not recomputed (see :mod:`.store`).
A failing cell is reported and its dependants skipped; the run goes on.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..catalogue import METHODS
from ..errors import FileFormatError, InputError
from .config import MASK_METRICS, ConfigError, ModelEntry, SuiteConfig
from .memory import PeakRSS, rss_source
from .store import ResultStore, canonical, cell_key, code_digest

__all__ = ["MAGNITUDE_METHODS", "BenchResults", "ModelResult", "Pair", "RowResult", "plan_pairs", "run_suite"]

#: Methods whose sign is mostly noise: ``map_transform = "auto"`` gives the metrics |map|.
MAGNITUDE_METHODS = tuple(m for m, s in METHODS.items() if s.view == "magnitude")
QUALITY_MAP_METRICS = ("deletion", "insertion", "mu_fidelity", "pointing_game", "energy_pointing_game",
                       "sparseness", "complexity")


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Pair:
    """One row of the benchmark: a method entry computed by one backend on one model."""

    model_id: str
    label: str
    method: str
    backend: str
    params: dict[str, Any]
    ranked_outputs: int | None = None
    dropped: tuple[str, ...] = ()

    @property
    def row(self) -> str:
        return f"{self.label} ({self.backend})"


def _installed_backends(method: str) -> tuple[list[str], list[str]]:
    from ..registry import list_methods

    for row in list_methods():
        if row.id == method:
            return list(row.backends), list(row.unavailable_backends)
    return [], []


def plan_pairs(config: SuiteConfig, model: ModelEntry, notes: list[str] | None = None) -> list[Pair]:
    """The (method, backend) pairs run on ``model``, with their merged parameters.

    Parameters are merged from low to high priority: the suite's ``batch_size`` and
    ``seed``, the entry's ``params``, its ``backend_params`` for the backend, then the
    model's ``params`` for the method id and for the entry's label. A parameter the
    backend does not take is dropped (and listed in ``Pair.dropped``); a parameter no
    backend of the entry takes is a configuration error.
    """
    from ..binding import get_method_class

    notes = notes if notes is not None else []
    pairs = []
    for entry in config.methods:
        if entry.models is not None and model.id not in entry.models:
            continue
        installed, _ = _installed_backends(entry.method)
        if entry.backends is None:
            backends = installed
        else:
            backends = [b for b in entry.backends if b in installed]
            for b in entry.backends:
                if b not in installed:
                    from ..registry import get_backend

                    notes.append(f"{entry.label}: backend {b!r} is not installed here and was skipped "
                                 f"({get_backend(b).install_hint()})")
        if not backends:
            notes.append(f"{entry.label}: no installed backend implements {entry.method!r}; skipped")
            continue
        accepted = {b: set(get_method_class(entry.method, b).param_names()) for b in backends}
        given = {**entry.params, **{k: v for bp in entry.backend_params.values() for k, v in bp.items()},
                 **model.params.get(entry.method, {}), **model.params.get(entry.label, {})}
        nowhere = [k for k in given if not any(k in a for a in accepted.values())]
        if nowhere:
            listing = "; ".join(f"{b}: {', '.join(sorted(a))}" for b, a in accepted.items())
            raise ConfigError(f"{config.source}: method {entry.label!r} on model {model.id!r}: parameter(s) "
                              f"{nowhere} are not taken by any of its backends ({listing}).")
        for b in backends:
            merged: dict[str, Any] = {"batch_size": config.batch_size}
            if "seed" in accepted[b]:
                merged["seed"] = config.seed
            merged.update(entry.params)
            merged.update(entry.backend_params.get(b, {}))
            merged.update(model.params.get(entry.method, {}))
            if entry.label != entry.method:
                merged.update(model.params.get(entry.label, {}))
            dropped = tuple(k for k in merged if k not in accepted[b])
            params = {k: v for k, v in merged.items() if k in accepted[b]}
            pairs.append(Pair(model.id, entry.label, entry.method, b, params, entry.ranked_outputs, dropped))
    return pairs


# --------------------------------------------------------------------------- results
@dataclass
class RowResult:
    """Everything measured for one row (a pair, or a control)."""

    label: str
    method: str
    backend: str
    control: bool = False
    pair: Pair | None = None
    explain: dict[str, Any] | None = None
    explain_key: str | None = None
    maps_key: str | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    randomisation: dict[str, Any] | None = None
    floor: dict[str, Any] | None = None
    transform: str = "signed"
    maps: np.ndarray | None = None  # (n, H, W), kept in memory during the run only

    @property
    def row(self) -> str:
        return f"{self.label} ({self.backend})"


@dataclass
class ModelResult:
    entry: ModelEntry
    info: dict[str, Any]
    rows: list[RowResult] = field(default_factory=list)
    agreement: dict[str, Any] | None = None
    prepared: Any = None  # PreparedModel during the run

    @property
    def id(self) -> str:
        return self.entry.id


@dataclass
class BenchResults:
    """What a run produced: per-model rows, errors, notes, counts, environment."""

    config: SuiteConfig
    out_dir: Path
    store: ResultStore
    models: list[ModelResult] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    shared: int = 0
    seconds: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("xaikit", "numpy", "tensorflow", "keras", "tf-explain", "shap", "opencv-python-headless",
                 "matplotlib"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def environment() -> dict[str, Any]:
    """Machine and library versions recorded with the results."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        cores = os.cpu_count() or 0
    return {"platform": platform.platform(), "cpu": cpu, "cores": cores, "memory_source": rss_source(),
            "versions": _versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


#: Core modules whose code shapes every explanation (validation, targets, upsampling).
_CORE = ("xaikit.explainer", "xaikit.explanation", "xaikit.kernels", "xaikit.methods", "xaikit.catalogue", "xaikit.spec",
         "xaikit.engine", "xaikit.validation", "xaikit._api")


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


def _backend_versions(backend: str) -> dict[str, str]:
    from ..registry import list_backends

    for b in list_backends():
        if b.name == backend:
            return dict(b.versions)
    return {}


def transform_maps(maps: np.ndarray, method: str, mode: str) -> tuple[np.ndarray, str]:
    """Maps as the metrics see them, and the name of the transform applied."""
    if mode == "abs" or (mode == "auto" and method in MAGNITUDE_METHODS):
        return np.abs(maps), "abs"
    return maps, "signed"


def _error_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


# --------------------------------------------------------------------------- the runner
class _Runner:
    def __init__(self, config: SuiteConfig, out_dir: Path, *, reuse: bool, log: Callable[[str], None],
                 progress: bool) -> None:
        self.config = config
        self.results = BenchResults(config, out_dir, ResultStore(out_dir))
        self.store = self.results.store
        self.reuse = reuse
        self.log = log
        self.progress = progress
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
        """Return the stored record of ``key``, computing and storing it if needed (None on failure).

        The cell is computed while holding its claim in the store, after checking again
        that no other process finished it meanwhile: concurrent runs compute it once.
        """
        if self.bar is not None:
            self.bar.set_description_str(describe[:70])
        try:
            record = self._reusable(key, describe, repair=False)
            if record is None:
                with self.store.claim(key, on_wait=lambda: self.log(f"  waiting: another run is computing {describe}")):
                    record = self._reusable(key, describe, repair=True)
                    if record is None:
                        return self._compute(key, describe, compute, context)
            if key in self._done:
                self.results.shared += 1  # computed earlier in this run for another row
            else:
                self.results.reused += 1  # by an earlier run, or a concurrent one
                self._done.add(key)
            return record
        finally:
            if self.bar is not None:
                self.bar.update(1)

    def _compute(self, key: str, describe: str,
                 compute: Callable[[], tuple[dict[str, Any], dict[str, np.ndarray] | None]],
                 context: dict[str, Any]) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            result, arrays = compute()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a failing cell is reported, the run goes on
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            self.results.errors.append({**context, "error": _error_text(exc), "traceback": "".join(tb[-6:])[-3000:]})
            self.log(f"  FAILED {describe}: {_error_text(exc)}")
            return None
        record = self.store.put(key, {**context, "seconds": time.perf_counter() - start, "result": result}, arrays)
        self.results.computed += 1
        self._done.add(key)
        return record

    # ------------------------------------------------------------------ run
    def run(self) -> BenchResults:
        start = time.perf_counter()
        self.results.environment = environment()
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
            per_row = len([m for m in QUALITY_MAP_METRICS if m in enabled])
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
            self.results.errors.append({"model": entry.id, "cell": "load", "error": _error_text(exc),
                                        "traceback": traceback.format_exc()[-3000:]})
            self.log(f"  FAILED to load {entry.id}: {_error_text(exc)}")
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
        if entry.quality:
            for control in cfg.controls:
                row = self._control_row(pm, control)
                mr.rows.append(row)
                for metric in metrics:
                    self._metric(pm, row, metric)
                if control == "edge" and "randomisation" in cfg.metrics.enabled and pm.randomisable:
                    self._randomisation(pm, row, None)
        for pair in pairs:
            try:
                pair = Pair(pair.model_id, pair.label, pair.method, pair.backend,
                            resolve_layer_refs(pm.model, pair.params), pair.ranked_outputs, pair.dropped)
            except InputError as exc:
                raise ConfigError(f"{cfg.source}: {pair.row} on {entry.id}: {exc}") from None
            row = RowResult(pair.label, pair.method, pair.backend, pair=pair)
            mr.rows.append(row)
            ok = self._explain(pm, row)
            if not ok:
                if self.bar is not None:  # the pair's other cells will not run
                    self.bar.update(self._pair_cells(entry) - 1)
                continue
            for metric in metrics:
                self._metric(pm, row, metric)
            if entry.quality and "randomisation" in cfg.metrics.enabled and pm.randomisable:
                self._randomisation(pm, row, pair)
            if cfg.speed.floor:
                self._floor(pm, row, pair)
        if entry.quality and "agreement" in cfg.metrics.enabled:
            self._agreement(pm, mr)
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
        accepted = get_method_class(pair.method, pair.backend).param_names()
        if "background" in accepted and "background" not in params:
            spec = pm.entry.background if pm.entry.background is not None else self.config.background
            params["background"] = pm.background(spec, self.config.batch_size)
        return params

    def _explain(self, pm: Any, row: RowResult) -> bool:
        from .._api import get_explainer

        pair = row.pair
        assert pair is not None
        speed = self.config.speed
        params = self._params_for_run(pm, pair)
        maps_spec = {"kind": "maps", "model": pm.model_id, "weights": pm.weights_sha, "method": pair.method,
                     "backend": pair.backend, "versions": _backend_versions(pair.backend),
                     "code": _backend_code(pair.backend), "params": params,
                     "sample": pm.sample_sha, "ranked_outputs": pair.ranked_outputs}
        row.maps_key = cell_key(maps_spec)
        key = cell_key({"kind": "explain", "maps": row.maps_key, "version": 3,  # 3: warm-up with the timed shapes
                        "speed": [speed.repeats, speed.max_seconds, speed.warmup, speed.memory_interval]})
        row.explain_key = key
        x, t = pm.images, pm.targets

        def run(explainer: Any, xs: np.ndarray, ts: np.ndarray) -> Any:
            if pair.ranked_outputs:
                return explainer.explain_ranked(xs, pair.ranked_outputs)
            return [explainer.explain(xs, ts)]

        def compute() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
            explainer = get_explainer(pm.model, pair.method, backend=pair.backend, **params)
            warm_seconds = None
            warm_peak = None
            from .memory import current_rss

            rss_before = current_rss() / 2**20
            warm_images = 0
            if speed.warmup != "none":
                from .._timing import warm_up

                with PeakRSS(speed.memory_interval) as wmem:
                    warm_seconds, warm_images = warm_up(explainer, x, t, ranked=pair.ranked_outputs,
                                                        mode="cheap" if speed.warmup == "cheap" else "auto")
                warm_peak = wmem.peak_mb
            runs: list[float] = []
            with PeakRSS(speed.memory_interval) as mem:
                while True:
                    t0 = time.perf_counter()
                    exps = run(explainer, x, t)
                    runs.append((time.perf_counter() - t0) / len(x))
                    if len(runs) >= speed.repeats or sum(runs) * len(x) >= speed.max_seconds:
                        break
            exp = exps[0]
            result = {
                "seconds_per_image": float(np.median(runs)), "runs": runs, "repeats_done": len(runs),
                "repeats_asked": speed.repeats, "n_images": len(x), "peak_rss_mb": mem.peak_mb,
                "rss_start_mb": mem.start_mb, "rss_delta_mb": mem.delta_mb, "rss_samples": mem.samples,
                "rss_before_warmup_mb": rss_before,
                "rss_cell_delta_mb": max(mem.peak_mb, warm_peak or 0.0) - rss_before,
                "warmup": speed.warmup, "warmup_seconds": warm_seconds, "warmup_images": warm_images,
                "warmup_peak_rss_mb": warm_peak,
                "params": exp.params, "score": exp.score, "layer": exp.layer, "info": exp.info,
                "targets_match": bool(np.array_equal(exp.targets, t)),
                "dropped_params": list(pair.dropped),
            }
            gap = exp.extras.get("completeness_gap")
            if gap is not None:
                result["completeness_gap_mean_abs"] = float(np.mean(np.abs(gap)))
            arrays = {"attributions": exp.attributions, "targets": exp.targets, "outputs": exp.outputs}
            for r, e in enumerate(exps[1:], start=1):
                arrays[f"rank{r}_attributions"] = e.attributions
                arrays[f"rank{r}_targets"] = e.targets
            return result, arrays

        context = {"kind": "explain", "model": pm.entry.id, "label": row.label, "method": row.method,
                   "backend": row.backend, "maps_key": row.maps_key, "spec": canonical(maps_spec)}
        record = self._cell(key, f"{pm.entry.id} · {row.row} · explain", compute, context)
        if record is None:
            return False
        row.explain = record
        row.maps = self._arrays(key)["attributions"]
        row.transform = transform_maps(row.maps[:1], row.method, self.config.map_transform)[1]
        return True

    def _control_row(self, pm: Any, control: str) -> RowResult:
        from .controls import control_maps

        row = RowResult(control, control, "control", control=True)
        row.maps = control_maps(control, pm.images_nhwc, pm.seed)
        row.maps_key = cell_key({"kind": "control_maps", "control": control, "sample": pm.sample_sha,
                                 "seed": pm.seed, "code": code_digest("xaikit.bench.controls")})
        row.transform = "signed"
        return row

    # ------------------------------------------------------------ metrics
    def _predict(self, pm: Any) -> Callable[[np.ndarray], np.ndarray]:
        """The metrics' ``predict``: channels-last images (as the metrics perturb them) -> class scores."""
        from ..kernels import to_layout

        score, bs = pm.metric_score(self.config.metrics.score), self.config.batch_size
        return lambda imgs: pm.services.class_scores(pm.model, to_layout(imgs, "NHWC", pm.layout), score, bs)

    def _metric(self, pm: Any, row: RowResult, metric: str) -> None:
        from .. import metrics as M

        cfg = self.config
        params = cfg.metrics.get(metric)
        maps, transform = transform_maps(row.maps, row.method, cfg.map_transform) if row.maps is not None else (None, "")
        causal = metric in ("deletion", "insertion", "mu_fidelity")
        spec = {"kind": "metric", "metric": metric, "maps": row.maps_key, "params": params, "transform": transform,
                "code": code_digest("xaikit.metrics", _services_package(pm)),
                "score": pm.metric_score(cfg.metrics.score) if causal else None,
                "batch": cfg.batch_size if causal else None,
                "seed": cfg.seed if metric == "mu_fidelity" else None}
        key = cell_key(spec)

        def compute() -> tuple[dict[str, Any], None]:
            x, t = pm.images_nhwc, pm.targets
            bs, score = cfg.batch_size, pm.metric_score(cfg.metrics.score)
            if metric in ("deletion", "insertion"):
                fn = M.deletion if metric == "deletion" else M.insertion
                res = fn(self._predict(pm), x, maps, t, batch_size=bs, score=score, **params)
                return {"values": res.values, "mean": res.mean(), "fractions": res.fractions,
                        "curve_mean": res.curves.mean(axis=0), "curve_std": res.curves.std(axis=0),
                        "start": res.curves[:, 0], "params": res.params, "transform": transform}, None
            if metric == "mu_fidelity":
                res = M.mu_fidelity(self._predict(pm), x, maps, t, batch_size=bs, seed=cfg.seed, score=score,
                                    **params)
                return {"values": res.values, "mean": res.mean(), "params": res.params, "transform": transform}, None
            if metric in ("pointing_game", "energy_pointing_game"):
                keep = np.flatnonzero(pm.has_mask)
                values = np.full(len(x), np.nan)
                if metric == "pointing_game":
                    values[keep] = M.pointing_game(maps[keep], pm.masks[keep], **params)
                else:
                    values[keep] = M.energy_pointing_game(maps[keep], pm.masks[keep])
                valid = values[~np.isnan(values)]
                return {"values": values, "mean": float(valid.mean()) if valid.size else None,
                        "n_valid": int(valid.size), "params": params, "transform": transform}, None
            fn = M.sparseness if metric == "sparseness" else M.complexity
            values = fn(maps)
            valid = values[~np.isnan(values)]
            return {"values": values, "mean": float(valid.mean()) if valid.size else None,
                    "transform": transform}, None

        context = {"kind": "metric", "metric": metric, "model": pm.entry.id, "label": row.label,
                   "backend": row.backend, "maps_key": row.maps_key}
        record = self._cell(key, f"{pm.entry.id} · {row.row} · {metric}", compute, context)
        if record is not None:
            row.metrics[metric] = record["result"]

    # ------------------------------------------------------------ randomisation
    def _randomisation(self, pm: Any, row: RowResult, pair: Pair | None) -> None:
        from .._api import get_explainer
        from ..metrics import cascading_randomisation
        from .controls import edge_maps
        from .sources import weights_digest

        cfg = self.config
        params = cfg.metrics.get("randomisation")
        n = min(int(params["n_images"]), len(pm.images))
        spec = {"kind": "randomisation", "maps": row.maps_key, "model": pm.model_id, "weights": pm.weights_sha,
                "params": params, "n": n, "seed": cfg.seed,
                "code": code_digest("xaikit.metrics", _services_package(pm))}
        key = cell_key(spec)

        def compute() -> tuple[dict[str, Any], None]:
            from ..kernels import to_layout

            x, t = pm.images[:n], pm.targets[:n]
            if pair is None:
                def explain_fn(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
                    return edge_maps(to_layout(xs, pm.layout, "NHWC"))
            else:
                run_params = self._params_for_run(pm, pair)
                explainer = get_explainer(pm.model, pair.method, backend=pair.backend, **run_params)

                def explain_fn(xs: np.ndarray, ts: np.ndarray) -> Any:
                    # ranked_outputs would re-rank on the randomised model: explain the fixed targets instead
                    return explainer.explain(xs, ts).attributions

            randomizer = pm.services.randomizer(pm.model)
            res = cascading_randomisation(explain_fn, randomizer, x, t, layers=params.get("layers"),
                                          mode=params["mode"], seed=cfg.seed, layout=pm.layout)
            restored = weights_digest(pm.model) == pm.weights_sha
            if not restored:
                raise RuntimeError(f"the weights of {pm.entry.id} differ from the original after the randomisation "
                                   "check: later cells would be wrong; stopping this model is safest")
            means = res.mean()
            return {"layers": list(res.layers), "spearman": res.spearman, "spearman_abs": res.spearman_abs,
                    "ssim": res.ssim, "mean_spearman": means["spearman"], "mean_spearman_abs": means["spearman_abs"],
                    "mean_ssim": means["ssim"], "final_spearman": float(means["spearman"][-1]),
                    "final_spearman_abs": float(means["spearman_abs"][-1]), "final_ssim": float(means["ssim"][-1]),
                    "top_spearman_abs": float(means["spearman_abs"][0]), "weights_restored": restored,
                    "n_images": n, "params": res.params,
                    "nan_final": int(np.isnan(res.spearman_abs[-1]).sum())}, None

        context = {"kind": "randomisation", "model": pm.entry.id, "label": row.label, "backend": row.backend,
                   "maps_key": row.maps_key}
        record = self._cell(key, f"{pm.entry.id} · {row.row} · randomisation", compute, context)
        if record is not None:
            row.randomisation = record["result"]

    # ------------------------------------------------------------ floor
    def _floor(self, pm: Any, row: RowResult, pair: Pair) -> None:
        from .floor import candidate_batch_sizes, floor_plan, measure_pass_rate

        cfg, speed = self.config, self.config.speed
        exp = row.explain["result"]  # type: ignore[index]
        try:
            plan = floor_plan(pair.method, exp["params"], layer=exp.get("layer"), score=exp.get("score"),
                              default_score=pm.default_score, image_size=pm.image_size,
                              ranked_outputs=pair.ranked_outputs)
        except (KeyError, ValueError) as exc:
            self.results.errors.append({"model": pm.entry.id, "label": row.label, "backend": row.backend,
                                        "cell": "floor", "error": _error_text(exc)})
            if self.bar is not None:
                self.bar.update(1)
            return
        n = len(pm.images)
        sizes = candidate_batch_sizes(speed.floor_batch_sizes, plan.passes * n)
        # The floor is measured in the same run as the method's time: it is keyed by the timing cell (and when
        # that was measured), so re-timing a method re-measures its floor, and a reused time keeps its floor.
        spec = {"kind": "floor_rate", "model": pm.model_id, "weights": pm.weights_sha, "pass": plan.kind,
                "layer": plan.layer, "k": plan.k, "score": plan.score, "sample": pm.sample_sha, "sizes": sizes,
                "min_seconds": speed.floor_min_seconds,
                "code": code_digest("xaikit.bench.floor", _services_package(pm)),
                "timing": [row.explain_key, row.explain.get("time")]}  # type: ignore[union-attr]
        key = cell_key(spec)

        def compute() -> tuple[dict[str, Any], None]:
            if plan.k > 1:
                scores = pm.services.class_scores(pm.model, pm.images, None, cfg.batch_size)
                targets = np.argsort(-scores, axis=1, kind="stable")[:, :plan.k]
            else:
                targets = pm.targets
            rate = measure_pass_rate(pm.services.engine(pm.model), pm.images, targets, plan, batch_sizes=sizes,
                                     min_seconds=speed.floor_min_seconds, feature_batch=cfg.batch_size)
            rate["tried"] = {str(k): v for k, v in rate["tried"].items()}
            return rate, None

        context = {"kind": "floor", "model": pm.entry.id, "label": row.label, "backend": row.backend,
                   "pass": plan.kind}
        record = self._cell(key, f"{pm.entry.id} · {row.row} · floor", compute, context)
        if record is None:
            return
        rate = record["result"]
        floor = plan.passes * rate["seconds_per_pass"]
        row.floor = {"kind": plan.kind, "passes": plan.passes, "description": plan.description,
                     "seconds_per_pass": rate["seconds_per_pass"], "batch_size": rate["batch_size"],
                     "tried": rate["tried"], "floor_per_image": floor,
                     "ratio": exp["seconds_per_image"] / floor if floor > 0 else None}

    # ------------------------------------------------------------ agreement
    def _agreement(self, pm: Any, mr: ModelResult) -> None:
        from ..metrics import agreement_table

        cfg = self.config
        rows = [r for r in mr.rows if r.maps is not None]
        if len(rows) < 2:
            return
        fraction = cfg.metrics.get("agreement")["fraction"]
        spec = {"kind": "agreement", "maps": [r.maps_key for r in rows], "names": [r.row for r in rows],
                "fraction": fraction, "transform": cfg.map_transform, "code": code_digest("xaikit.metrics")}
        key = cell_key(spec)

        def compute() -> tuple[dict[str, Any], None]:
            named = {r.row: transform_maps(r.maps, r.method, cfg.map_transform)[0] for r in rows}
            table = agreement_table(named, fraction=fraction)
            return {"names": list(table.names), "matrices": table.matrices, "params": table.params}, None

        context = {"kind": "agreement", "model": pm.entry.id}
        record = self._cell(key, f"{pm.entry.id} · agreement", compute, context)
        if record is not None:
            mr.agreement = record["result"]


def run_suite(config: SuiteConfig, out_dir: str | os.PathLike[str], *, reuse: bool = True,
              log: Callable[[str], None] | None = None, progress: bool = False) -> BenchResults:
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

    Returns
    -------
    BenchResults
        Feed it to :func:`xaikit.bench.report.write_reports`.
    """
    import os as _os

    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    runner = _Runner(config, Path(out_dir), reuse=reuse, log=log or (lambda s: None), progress=progress)
    return runner.run()
