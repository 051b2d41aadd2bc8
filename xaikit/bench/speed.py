"""The speed suite: native methods against their floor and against the libraries they wrap.

One command (``xaikit speed``) runs every case below in one process (memory cases in
fresh subprocesses, so that each peak is clean), prints a table and appends every
finished case to a results store (``speed/results.jsonl``), so an interrupted run
resumes and a re-run reuses finished cases (the key includes the code of xaikit and of
the backends, so edited code is re-measured).

Cases
-----
``floor``
    Each native method on ``N`` images (on the zoo's 64x64 ``shapes_cnn4`` too, at N = 1 and 8,
    as on its PyTorch twin: where the host work around the compiled call shows most): median
    wall time of ``explain`` after a warm-up,
    against the floor of :mod:`xaikit.bench.floor` (the model passes the method needs,
    back to back in a compiled loop, at the best batch size not larger than the passes it
    makes), measured in alternating rounds with the method because this machine's speed
    drifts; also against the overlapped loop (throughput).
``overhead``
    The same single image explained with Grad-CAM again and again: xaikit against
    tf-explain's own ``GradCAM().explain`` (what users of tf-explain call).
``library``
    The same work (method, images, samples/steps/patches, targets) through the native
    backend and through the tf-explain and shap adapters (which run those libraries'
    own computations).
``memory``
    Peak RSS added by SmoothGrad with 20 and with 200 samples at the same
    ``batch_size``, natively and through tf-explain (which stacks all samples of an
    image in one batch).
``ranked``
    Expected gradients for the top-2 classes: native ``explain_ranked(k=2)`` (one forward
    pass, two backward passes per sample) against two separate native calls and
    against shap's ``ranked_outputs=2``.

With ``device="cuda"`` (``xaikit speed --device cuda``) the same cases run on the GPU
(:mod:`.devices`): the models are built there, memory cases also report the device
allocator's peak, and the cases that measure the CPU alone (intra-op threads, Ray and Zarr
throughput) are left out. A framework that sees no GPU has its cases left out, and the
run says so.

The PyTorch cases (``torch_*``) are in :mod:`.speed_torch`, the engines' cases in
:mod:`.speed_distributed`; the case type and the timing they share in :mod:`.speed_measure`.
This module assembles the suite and runs it; :mod:`.speed_report` writes the report
(``summarize``, re-exported here).

The models are built here with random weights (``weights=None``): speed does not depend
on the weights. ``cnn4`` is the seeds' cats-vs-dogs CNN on 150x150x3 (single sigmoid);
``vgg16`` and ``xception`` are ``keras.applications`` architectures at 150x150x3 with 10
classes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .devices import GPUPeak, check_device, keras_device
from .speed_measure import (
    SpeedCase,
    core_methods,
    explain_params,
    floor_measure,
    median_time,
    memory_case,
    per_call_seconds,
    suite_method_params,
)
from .speed_report import describe_result, summarize
from .speed_torch import TORCH_RUNNERS, torch_cases

__all__ = ["SpeedCase", "default_cases", "run_speed_suite", "build_model"]

SIZE = (150, 150, 3)
_MODEL_CACHE: dict[str, Any] = {}


#: The suite's models: a named architecture each, at 150x150x3 with seeded random weights.
_ARCHITECTURES = {"cnn4": ("cnn4", 1), "vgg16": ("VGG16", 10), "xception": ("Xception", 10)}


#: The zoo's Keras models in the suite (trained weights), at their own image sizes.
_ZOO_SIZES = {"shapes_cnn4": (64, 64, 3)}


def build_model(name: str, device: str = "cpu") -> Any:
    """A model of the suite, with seeded random weights, its variables on ``device`` (cached per process)."""
    if (name, device) in _MODEL_CACHE:
        return _MODEL_CACHE[name, device]
    from ..models import open_model

    if name in _ZOO_SIZES:
        from .. import zoo

        with keras_device(device):
            _MODEL_CACHE[name, device] = zoo.load_model(name, "keras")
        return _MODEL_CACHE[name, device]

    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown speed-suite model {name!r}; models: {', '.join(_ARCHITECTURES)}")
    arch, classes = _ARCHITECTURES[name]
    with keras_device(device):
        model = open_model(arch=arch, weights="none", input_size=SIZE[:2], classes=classes, seed=0,
                           framework="keras").model
    _MODEL_CACHE[name, device] = model
    return model


#: Grad-CAM layers: the last convolution block (the seeds' choices for the big models).
CAM_LAYERS = {"shapes_cnn4": "conv2d_3", "cnn4": "conv2d_3", "vgg16": "block5_conv3",
              "xception": "block14_sepconv2_act"}


def _images(n: int, seed: int = 0, size: tuple[int, int, int] = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *size)).astype(np.float32)


def _zoo_params(method: str) -> dict[str, Any]:
    """A method's parameters on the zoo's 64x64 CNN (as on its PyTorch twin: occlusion patches of 8 pixels)."""
    return {"patch_size": 8} if method == "occlusion" else suite_method_params(CAM_LAYERS["shapes_cnn4"], method, False)


def default_cases(quick: bool = False, full: bool = False, device: str = "cpu") -> list[SpeedCase]:
    """The suite. ``quick``: the 4-conv CNN only, few images; ``full``: N=64 on the big models too; ``device``:
    ``"cpu"`` or ``"cuda"`` (every case on the GPU, but those measuring the CPU alone)."""
    if device != "cpu":
        on_device = [replace(c, device=device) for c in default_cases(quick, full)
                     if c.kind not in _CPU_ONLY_KINDS]
        return on_device
    cases: list[SpeedCase] = [SpeedCase("floor", "shapes_cnn4", method, n, _zoo_params(method))
                              for method in core_methods() for n in (1, 8)]
    models = ["cnn4"] if quick else ["cnn4", "vgg16", "xception"]
    for model in models:
        big = model != "cnn4"
        sizes = (1, 8) if quick else ((1, 64) if not big or full else (1, 16))
        for method in core_methods():
            for n in sizes:
                cases.append(SpeedCase("floor", model, method, n, suite_method_params(CAM_LAYERS[model], method, big)))
    cases.append(SpeedCase("overhead", "cnn4", "gradcam", 1, {"layer": CAM_LAYERS["cnn4"], "calls": 20},
                           ("tensorflow", "tf-explain-api")))
    n_lib = 4 if quick else 16
    for method, backends in [("smoothgrad", ("tensorflow", "tf-explain")),
                             ("integrated_gradients", ("tensorflow", "tf-explain")),
                             ("occlusion", ("tensorflow", "tf-explain")),
                             ("vanilla_gradients", ("tensorflow", "tf-explain")),
                             ("gradcam", ("tensorflow", "tf-explain")),
                             ("expected_gradients", ("tensorflow", "shap"))]:
        params = suite_method_params(CAM_LAYERS["cnn4"], method, big=False)
        if method == "occlusion":
            params = {**params, "baseline": 0.5}
        cases.append(SpeedCase("library", "cnn4", method, n_lib, params, backends))
    for backend in ("tensorflow", "tf-explain"):
        for n_samples in (20, 200):
            cases.append(SpeedCase("memory", "cnn4", "smoothgrad", 1,
                                   {"n_samples": n_samples, "seed": 0, "batch_size": 16}, (backend,)))
    cases.append(SpeedCase("ranked", "cnn4", "expected_gradients", 4 if quick else 8,
                           {"n_samples": 50, "seed": 0, "background_size": 16, "k": 2},
                           ("tensorflow", "tensorflow-separate", "shap")))
    if not quick:
        cases.append(SpeedCase("ranked", "vgg16", "expected_gradients", 1,
                               {"n_samples": 16, "seed": 0, "background_size": 8, "k": 2, "layer": "block2_pool"},
                               ("tensorflow", "tensorflow-separate", "shap")))
    return cases + torch_cases(quick=quick, full=full) + _engine_cases(quick)


#: Kinds that measure the CPU alone (intra-op threads, Ray and Zarr throughput): not run with ``--device cuda``.
_CPU_ONLY_KINDS = frozenset({"torch_threads", "engine", "bulk", "bulk_memory"})
#: Kinds that run a Keras model (the others are PyTorch's ``torch_*`` and the engines').
_KERAS_KINDS = frozenset({"floor", "overhead", "library", "memory", "ranked"})


def _engine_cases(quick: bool) -> list[SpeedCase]:
    """The engines' cases (:mod:`.speed_distributed`), when Ray and Zarr are installed."""
    import importlib.util

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("zarr") is None:
        return []
    from .speed_distributed import DISTRIBUTED_RUNNERS, distributed_cases

    RUNNERS.update(DISTRIBUTED_RUNNERS)
    return distributed_cases(SpeedCase, quick)


def _background(case: SpeedCase) -> np.ndarray | None:
    size = case.params.get("background_size")
    return None if size is None else _images(int(size), seed=1, size=_ZOO_SIZES.get(case.model, SIZE))


def _floor_case(case: SpeedCase) -> dict[str, Any]:
    size = _ZOO_SIZES.get(case.model, SIZE)
    return floor_measure(case, build_model(case.model, case.device), _images(case.n_images, size=size), "tensorflow",
                          size[:2], _background(case))


def _overhead_case(case: SpeedCase) -> dict[str, Any]:
    from tf_explain.core.grad_cam import GradCAM

    import xaikit as xk

    model = build_model(case.model, case.device)
    x = _images(1)
    layer = case.params["layer"]
    calls = int(case.params["calls"])
    explainer = xk.get_explainer(model, "gradcam", layer=layer)
    explainer.explain(x)
    tfx = GradCAM()
    tfx.explain((x, None), model, class_index=0, layer_name=layer)

    ours = per_call_seconds(lambda: explainer.explain(x, 0), calls)
    theirs = per_call_seconds(lambda: tfx.explain((x, None), model, class_index=0, layer_name=layer), calls)
    fresh = per_call_seconds(lambda: xk.explain(model, x, method="gradcam", layer=layer, targets=0), calls)
    return {"seconds": {"tensorflow": ours, "tensorflow (new explainer per call)": fresh, "tf-explain": theirs},
            "ratio": theirs / ours}


def _library_case(case: SpeedCase) -> dict[str, Any]:
    import xaikit as xk

    model = build_model(case.model, case.device)
    x = _images(case.n_images)
    params = explain_params(case, _background(case))
    targets = xk.explain(model, x[:1], method="vanilla_gradients").targets.repeat(case.n_images)
    explainers = {}
    for backend in case.backends:
        explainers[backend] = xk.get_explainer(model, case.method, backend=backend, **params)
        explainers[backend].explain(x[:1], targets[:1])
    # Alternate the backends in rounds (this machine's speed drifts): the median per backend.
    times: dict[str, list[float]] = {b: [] for b in explainers}
    for _ in range(3):
        for backend, explainer in explainers.items():
            times[backend].append(median_time(lambda e=explainer: e.explain(x, targets), budget=6.0, max_runs=3)[0])
    out = {b: float(np.median(t)) for b, t in times.items()}
    native = out["tensorflow"]
    return {"seconds": out, "ratio": {b: t / native for b, t in out.items() if b != "tensorflow"}}


def _ranked_case(case: SpeedCase) -> dict[str, Any]:
    import xaikit as xk

    model = build_model(case.model, case.device)
    x = _images(case.n_images)
    params = explain_params(case, _background(case))
    k = int(case.params["k"])
    native = xk.get_explainer(model, "expected_gradients", backend="tensorflow", **params)
    shap_explainer = xk.get_explainer(model, "expected_gradients", backend="shap", **params)
    ranked = native.explain_ranked(x[:1], k)
    out = {}
    out["tensorflow"] = median_time(lambda: native.explain_ranked(x, k))[0]
    targets = [r.targets for r in native.explain_ranked(x, k)] if case.n_images > 1 else [r.targets for r in ranked]

    def separate() -> None:
        for t in targets:
            native.explain(x, t)

    out["tensorflow-separate"] = median_time(separate)[0]
    shap_explainer.explain_ranked(x[:1], k)
    out["shap"] = median_time(lambda: shap_explainer.explain_ranked(x, k))[0]
    return {"seconds": out, "ratio": {b: t / out["tensorflow"] for b, t in out.items() if b != "tensorflow"}}


def _memory_child(payload: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import xaikit as xk

    from .memory import PeakRSS

    spec = json.loads(payload)
    device = spec.get("device", "cpu")
    with keras_device(device):
        model = build_model(spec["model"], device)
        x = _images(spec["n"])
        explainer = xk.get_explainer(model, spec["method"], backend=spec["backend"], **spec["params"])
        # Warm up with a 1-sample explainer of the same batch size: traces and allocator pools
        # for that batch exist before the measured call, which then shows what the samples add.
        warm = {**spec["params"], "n_samples": 1}
        xk.get_explainer(model, spec["method"], backend=spec["backend"], **warm).explain(x, 0)
        with PeakRSS() as peak, GPUPeak(device, "tensorflow") as gpu:
            explainer.explain(x, 0)
    print(json.dumps({"peak_mb": peak.peak_mb, "delta_mb": peak.delta_mb, "start_mb": peak.start_mb,
                      "gpu_mb": gpu.mb}))


def _keras_memory_case(case: SpeedCase) -> dict[str, Any]:
    """Peak RSS added by one call on a Keras model, in fresh interpreters (this module's memory child)."""
    return memory_case(case, "xaikit.bench.speed")


RUNNERS = {"floor": _floor_case, "overhead": _overhead_case, "library": _library_case, "memory": _keras_memory_case,
           "ranked": _ranked_case}
RUNNERS.update(TORCH_RUNNERS)


# ------------------------------------------------------------------------------ suite
def run_speed_suite(out_dir: str | os.PathLike[str], *, quick: bool = False, full: bool = False,
                    fresh: bool = False, only: str | None = None, log: Callable[[str], None] = print,
                    report_only: bool = False, device: str = "cpu") -> list[dict]:
    """Run the suite (resuming from ``out_dir``), write ``speed.md``, return the records.

    With ``report_only`` nothing is measured: ``speed.md`` is assembled from the latest
    record of each case in the store, whatever code measured it (for runs made case by
    case with ``only``); cases never measured are left out. ``device``: ``"cpu"`` or
    ``"cuda"`` (:mod:`.devices`; a ``ValueError`` naming what is missing where no GPU is
    visible).
    """
    from ..atomic_files import atomic_write_text
    from ..execution import ResultStore, cell_key, code_digest

    out = Path(out_dir)
    store = ResultStore(out)  # with fresh, matching cases are measured again and appended (the last record wins)
    import platform

    from ..registry import discover_backends

    packages = sorted({t.split(":", 1)[0].split(".", 1)[0] for s in discover_backends().values()
                       for t in (*s.methods.values(), s.engine, s.services) if t})
    digest = code_digest("xaikit", *packages)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    cases = default_cases(quick=quick, full=full, device=device)
    if device != "cpu" and not report_only:
        seen = check_device(device)
        machine["gpu"] = seen["torch"] or seen["tensorflow"]
        if seen["tensorflow"] is None:
            log("TensorFlow sees no GPU (pip install 'tensorflow[and-cuda]'): the Keras cases are left out")
            cases = [c for c in cases if c.kind not in _KERAS_KINDS]
        if seen["torch"] is None:
            log("PyTorch sees no GPU (a CUDA build of torch is needed): the PyTorch cases are left out")
            cases = [c for c in cases if c.kind in _KERAS_KINDS]
    records = []
    latest: dict[str, dict[str, Any]] = {}
    if report_only:
        for r in sorted(store, key=lambda r: r.get("time", "")):
            latest[json.dumps(r.get("case"), sort_keys=True)] = r
    for case in cases:
        if only and only not in case.kind and only not in case.method and only not in case.model:
            continue
        if report_only:
            found = latest.get(json.dumps(case.spec(), sort_keys=True))
            if found is not None:
                records.append(found)
                log(f"{case.label:<90} {describe_result(found['result'])}  [{found.get('time', '?')}]")
            continue
        key = cell_key({"speed": case.spec(), "code": digest, "machine": machine})
        record = None if fresh else store.get(key)
        if record is None:
            start = time.perf_counter()
            with keras_device(case.device) if case.kind in _KERAS_KINDS else contextlib.nullcontext():
                result = RUNNERS[case.kind](case)
            record = store.put(key, {"case": case.spec(), "result": result, "machine": machine,
                                     "wall": time.perf_counter() - start})
            status = f"{time.perf_counter() - start:.0f} s"
        else:
            status = "reused"
        records.append(record)
        log(f"{case.label:<90} {describe_result(record['result'])}  [{status}]")
    text = f"# xaikit speed suite\n\nMachine: {machine}. Medians after a warm-up.\n\n"
    if report_only and records:
        times = sorted(r.get("time", "?") for r in records)
        text += (f"Assembled from the latest record of each case ({len(records)} cases, measured "
                 f"{times[0]} to {times[-1]}).\n\n")
    text += summarize(records)
    atomic_write_text(out / "speed.md", text)
    log(f"wrote {out / 'speed.md'}")
    return records


if __name__ == "__main__":  # the memory child process
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2])
    else:
        sys.exit("usage: python -m xaikit.bench.speed --memory-child JSON  (use `xaikit speed` to run the suite)")
