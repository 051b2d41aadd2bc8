"""How the speed suite measures a case, whatever the framework: the case, the methods' parameters, the timing.

The suite (:mod:`.speed`) and its PyTorch cases (:mod:`.speed_torch`) share what is here:
:class:`SpeedCase`; the parameters each method runs with; the median wall time of a call;
a native method against its floor (:mod:`.floor`), measured in alternating rounds because
this machine's speed drifts; the peak memory of one call, measured in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SpeedCase", "core_methods", "engine_of", "explain_params", "floor_measure", "fmt_duration", "median_time",
           "memory_case", "per_call_seconds", "suite_method_params"]


@dataclass(frozen=True)
class SpeedCase:
    """One measurement of the suite."""

    kind: str  # floor, overhead, library, memory, ranked; torch_* (.speed_torch); engine, bulk* (.speed_distributed)
    model: str
    method: str
    n_images: int
    params: dict[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = ("tensorflow",)
    device: str = "cpu"  # "cpu" or "cuda": where the model and the images live (see :mod:`.devices`)

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items() if k not in ("background", "layer"))
        where = "" if self.device == "cpu" else f" [{self.device}]"
        return f"{self.kind}: {self.model} {self.method} N={self.n_images}{where}" + (f" ({extra})" if extra else "")

    def spec(self) -> dict[str, Any]:
        """The case as stored (a CPU case has no ``device`` key: records written before devices existed match)."""
        spec = {"kind": self.kind, "model": self.model, "method": self.method, "n": self.n_images,
                "params": self.params, "backends": list(self.backends)}
        if self.device != "cpu":
            spec["device"] = self.device
        return spec


def suite_method_params(layer: str, method: str, big: bool) -> dict[str, Any]:
    """What ``method`` runs with in the suite (``layer``: the CAMs' layer; ``big``: a large model, fewer samples).

    Not the methods' ``example_params`` (settings for the test CNN's few pixels): the suite times real models with
    the sample counts people use. A layer method not listed runs at ``layer`` with its defaults.
    """
    samples = 8 if big else 50
    table: dict[str, dict[str, Any]] = {
        "smoothgrad": {"n_samples": samples, "seed": 0},
        "integrated_gradients": {"steps": samples},
        "expected_gradients": {"n_samples": samples, "seed": 0, "background_size": 16},
        "occlusion": {"patch_size": 30 if big else 15},
        "vargrad": {"n_samples": samples, "seed": 0},
        "squaregrad": {"n_samples": samples, "seed": 0},
        "rise": {"n_samples": 500 if big else 1000, "grid_size": 7, "seed": 0},
        "kernel_shap": {"n_samples": 256 if big else 500, "n_segments": 50, "seed": 0},
        "lime": {"n_samples": 256 if big else 500, "n_segments": 50, "seed": 0},
        "sobol": {"grid_size": 8, "n_designs": 32},
        "deepliftshap": {"background_size": 8 if big else 16},
        "layer_conductance": {"layer": layer, "steps": samples},
    }
    if method in table:
        return table[method]
    from ..catalogue import get_method

    return {"layer": layer} if get_method(method).layer == "auto" else {}


def core_methods() -> list[str]:
    """The attribution methods the native backends compute (a library-only method has no native floor)."""
    from ..catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS, METHODS

    return [m for m in ATTRIBUTION_METHODS if METHODS[m].core and m not in ATTENTION_METHODS]  # CNN suites


# ----------------------------------------------------------------------------- timing
def median_time(fn: Callable[[], Any], *, budget: float = 20.0, max_runs: int = 5) -> tuple[float, int]:
    """Median wall time of ``fn`` over up to ``max_runs`` runs within ``budget`` seconds (after a warm-up)."""
    times: list[float] = []
    while len(times) < max_runs and (sum(times) < budget or len(times) < 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if len(times) == 1 and times[0] > budget / 3:
            break  # an expensive case: one timed run is all the budget allows
    return float(np.median(times)), len(times)


def explain_params(case: SpeedCase, background: np.ndarray | None) -> dict[str, Any]:
    """The case's parameters for ``get_explainer`` (``background``: the images of a ``background_size``)."""
    params = {k: v for k, v in case.params.items() if k not in ("background_size", "calls", "k")}
    if background is not None:
        params["background"] = background
    return params


def floor_measure(case: SpeedCase, model: Any, x: np.ndarray, backend: str, image_size: tuple[int, int],
                   background: np.ndarray | None = None) -> dict[str, Any]:
    """A native method on ``x`` against its floor (see ``floor`` in :mod:`.speed`)."""
    import xaikit as xk
    from xaikit.explainer import resolve_score

    from .floor import floor_plan, measure_pass_rate

    params = explain_params(case, background)
    explainer = xk.get_explainer(model, case.method, backend=backend, **params)
    warm = explainer.explain(x[:1])  # traces the compiled functions (not timed)
    explainer.explain(x[:1])
    targets = np.full(case.n_images, warm.targets[0])  # explicit targets: no prediction pass is timed
    exp = explainer.explain(x[:1], targets[:1])
    spec = explainer._describe(x[:1])
    plan = floor_plan(case.method, exp.params, layer=exp.layer, score=exp.score,
                      default_score=resolve_score(None, spec), image_size=image_size)
    total_passes = plan.passes * case.n_images
    sizes = [b for b in (1, 2, 4, 8, 16, 32, 64) if b <= total_passes] or [total_passes]
    sample, sample_targets = x[: min(len(x), 64)], np.asarray(targets[: min(len(x), 64)])
    engine = engine_of(model)
    best = measure_pass_rate(engine, sample, sample_targets, plan, batch_sizes=sizes, min_seconds=0.3)["batch_size"]
    # This machine's speed drifts by tens of percent over minutes: alternate the method and its
    # floor in rounds and take the median of each, so the ratio compares like with like.
    method_times, floor_times, overlapped_times = [], [], []
    for _ in range(5):
        method_times.append(median_time(lambda: explainer.explain(x, targets), budget=2.0, max_runs=9)[0])
        for serial, into in ((True, floor_times), (False, overlapped_times)):
            rate = measure_pass_rate(engine, sample, sample_targets, plan, batch_sizes=[best], min_seconds=0.3,
                                     serial=serial)
            into.append(rate["seconds_per_pass"] * total_passes)
        if sum(method_times) > 60:
            break
    seconds = float(np.median(method_times))
    serial, overlapped = float(np.median(floor_times)), float(np.median(overlapped_times))
    floor = min(serial, overlapped)  # the best compiled loop is the floor
    result = {"seconds": seconds, "rounds": len(method_times), "floor_seconds": floor, "ratio": seconds / floor,
              "serial_floor_seconds": serial, "overlapped_floor_seconds": overlapped,
              "floor_batch_size": best, "floor": plan.description, "passes": total_passes}
    if plan.passes == 1 and total_passes <= 64:  # one pass per image, all in one call: a bare compiled call
        one_call = _one_call_seconds(model, sample, sample_targets, plan)
        result.update(one_call_seconds=one_call, ratio_one_call=seconds / one_call)
    return result


def engine_of(model: Any) -> Any:
    """The native engine of ``model`` (through its framework's services)."""
    from ..registry import services_for

    return services_for(model).engine(model)


def _one_call_seconds(model: Any, x: np.ndarray, targets: np.ndarray, plan: Any) -> float:
    """Median time of one call of a compiled function making the method's passes on ``x`` (no loop)."""
    engine = engine_of(model)
    t = np.asarray(targets, np.int32).reshape(len(x), -1)[:, : plan.k]
    engine.pass_loop(plan, x, t, 1)  # one iteration: nothing to overlap
    times = []
    for _ in range(15):
        start = time.perf_counter()
        engine.pass_loop(plan, x, t, 1)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def per_call_seconds(fn: Callable[[], Any], calls: int) -> float:
    """Median wall time of ``fn`` over ``calls`` calls (no warm-up: the caller warms up)."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def memory_case(case: SpeedCase, child: str, repeats: int = 3) -> dict[str, Any]:
    """Peak RSS added by one explain call, each time in a fresh interpreter; the median of ``repeats``.

    ``child`` is the module whose ``--memory-child`` entry point builds the model and measures the call
    (:mod:`.speed` for the Keras models, :mod:`.speed_torch` for the PyTorch ones).
    """
    payload = json.dumps({"model": case.model, "method": case.method, "n": case.n_images,
                          "params": case.params, "backend": case.backends[0], "device": case.device})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-m", child, "--memory-child", payload],
                              capture_output=True, text=True, env=env, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"memory measurement failed: {proc.stderr[-2000:]}")
        runs.append(json.loads(lines[-1]))
    middle = sorted(runs, key=lambda r: r["delta_mb"])[len(runs) // 2]
    out = {**middle, "delta_mb_runs": [r["delta_mb"] for r in runs]}
    if case.device != "cpu":  # the device allocator's peak (``gpu_mb``): what the GPU's memory must hold
        out["gpu_mb"] = float(np.median([r["gpu_mb"] for r in runs]))
    return out


def fmt_duration(seconds: float) -> str:
    """A duration for the tables: seconds from one second up, else milliseconds."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"
