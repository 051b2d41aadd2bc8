"""The speed suite: native methods against their floor and against the libraries they wrap.

One command (``xaikit speed``) runs every case below in one process (memory cases in
fresh subprocesses, so that each peak is clean), prints a table and appends every
finished case to a results store (``speed/results.jsonl``), so an interrupted run
resumes and a re-run reuses finished cases (the key includes the code of xaikit and of
the backends, so edited code is re-measured).

Cases
-----
``floor``
    Each native method on ``N`` images: median wall time of ``explain`` after a warm-up,
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

The models are built here with random weights (``weights=None``): speed does not depend
on the weights. ``cnn4`` is the seeds' cats-vs-dogs CNN on 150x150x3 (single sigmoid);
``vgg16`` and ``xception`` are ``keras.applications`` architectures at 150x150x3 with 10
classes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SpeedCase", "default_cases", "run_speed_suite", "build_model"]

SIZE = (150, 150, 3)
_MODEL_CACHE: dict[str, Any] = {}


#: The suite's models: a named architecture each, at 150x150x3 with seeded random weights.
_ARCHITECTURES = {"cnn4": ("cnn4", 1), "vgg16": ("VGG16", 10), "xception": ("Xception", 10)}


def build_model(name: str) -> Any:
    """A model of the suite, with seeded random weights (cached per process)."""
    if name in _MODEL_CACHE:
        return _MODEL_CACHE[name]
    from ..models import open_model

    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown speed-suite model {name!r}; models: {', '.join(_ARCHITECTURES)}")
    arch, classes = _ARCHITECTURES[name]
    model = open_model(arch=arch, weights="none", input_size=SIZE[:2], classes=classes, seed=0,
                       framework="keras").model
    _MODEL_CACHE[name] = model
    return model


#: Grad-CAM layers: the last convolution block (the seeds' choices for the big models).
CAM_LAYERS = {"cnn4": "conv2d_3", "vgg16": "block5_conv3", "xception": "block14_sepconv2_act"}


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *SIZE)).astype(np.float32)


@dataclass(frozen=True)
class SpeedCase:
    """One measurement of the suite."""

    kind: str  # floor | overhead | library | memory | ranked
    model: str
    method: str
    n_images: int
    params: dict[str, Any] = field(default_factory=dict)
    backends: tuple[str, ...] = ("tensorflow",)

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items() if k not in ("background", "layer"))
        return f"{self.kind}: {self.model} {self.method} N={self.n_images}" + (f" ({extra})" if extra else "")

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "method": self.method, "n": self.n_images,
                "params": self.params, "backends": list(self.backends)}


def _method_params(model: str, method: str, big: bool) -> dict[str, Any]:
    samples = 8 if big else 50
    return {
        "gradcam": {"layer": CAM_LAYERS[model]},
        "gradcam++": {"layer": CAM_LAYERS[model]},
        "vanilla_gradients": {},
        "gradient_x_input": {},
        "smoothgrad": {"n_samples": samples, "seed": 0},
        "integrated_gradients": {"steps": samples},
        "expected_gradients": {"n_samples": samples, "seed": 0, "background_size": 16},
        "occlusion": {"patch_size": 30 if big else 15},
        **{cam: {"layer": CAM_LAYERS[model]} for cam in ("xgradcam", "hirescam", "layercam", "scorecam",
                                                         "ablationcam", "eigencam", "guided_gradcam")},
        "guided_backprop": {},
        "deconvnet": {},
        "vargrad": {"n_samples": samples, "seed": 0},
        "squaregrad": {"n_samples": samples, "seed": 0},
        "rise": {"n_samples": 500 if big else 1000, "grid_size": 7, "seed": 0},
        "kernel_shap": {"n_samples": 256 if big else 500, "n_segments": 50, "seed": 0},
        "lime": {"n_samples": 256 if big else 500, "n_segments": 50, "seed": 0},
        "sobol": {"grid_size": 8, "n_designs": 32},
    }[method]


def default_cases(quick: bool = False, full: bool = False) -> list[SpeedCase]:
    """The suite. ``quick``: the 4-conv CNN only, few images; ``full``: N=64 on the big models too."""
    cases: list[SpeedCase] = []
    models = ["cnn4"] if quick else ["cnn4", "vgg16", "xception"]
    for model in models:
        big = model != "cnn4"
        sizes = (1, 8) if quick else ((1, 64) if not big or full else (1, 16))
        for method in _core_methods():
            for n in sizes:
                cases.append(SpeedCase("floor", model, method, n, _method_params(model, method, big)))
    cases.append(SpeedCase("overhead", "cnn4", "gradcam", 1, {"layer": CAM_LAYERS["cnn4"], "calls": 20},
                           ("tensorflow", "tf-explain-api")))
    n_lib = 4 if quick else 16
    for method, backends in [("smoothgrad", ("tensorflow", "tf-explain")),
                             ("integrated_gradients", ("tensorflow", "tf-explain")),
                             ("occlusion", ("tensorflow", "tf-explain")),
                             ("vanilla_gradients", ("tensorflow", "tf-explain")),
                             ("gradcam", ("tensorflow", "tf-explain")),
                             ("expected_gradients", ("tensorflow", "shap"))]:
        params = _method_params("cnn4", method, big=False)
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


def _core_methods() -> list[str]:
    """The attribution methods the native backends compute (a library-only method has no native floor)."""
    from ..catalogue import ATTRIBUTION_METHODS, METHODS

    return [m for m in ATTRIBUTION_METHODS if METHODS[m].core]


def _engine_cases(quick: bool) -> list[SpeedCase]:
    """The engines' cases (:mod:`.speed_distributed`), when Ray and Zarr are installed."""
    import importlib.util

    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("zarr") is None:
        return []
    from .speed_distributed import DISTRIBUTED_RUNNERS, distributed_cases

    RUNNERS.update(DISTRIBUTED_RUNNERS)
    return distributed_cases(SpeedCase, quick)


# ----------------------------------------------------------------------------- timing
def _median_time(fn: Callable[[], Any], *, budget: float = 20.0, max_runs: int = 5) -> tuple[float, int]:
    """Median wall time of ``fn`` over up to ``max_runs`` runs within ``budget`` seconds (after a warm-up)."""
    times: list[float] = []
    while len(times) < max_runs and (sum(times) < budget or len(times) < 1):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if len(times) == 1 and times[0] > budget / 3:
            break  # an expensive case: one timed run is all the budget allows
    return float(np.median(times)), len(times)


def _background(case: SpeedCase) -> np.ndarray | None:
    size = case.params.get("background_size")
    return None if size is None else _images(int(size), seed=1)


def _explain_params(case: SpeedCase) -> dict[str, Any]:
    params = {k: v for k, v in case.params.items() if k not in ("background_size", "calls", "k")}
    background = _background(case)
    if background is not None:
        params["background"] = background
    return params


def _floor_case(case: SpeedCase) -> dict[str, Any]:
    return _floor_measure(case, build_model(case.model), _images(case.n_images), "tensorflow", SIZE[:2])


def _floor_measure(case: SpeedCase, model: Any, x: np.ndarray, backend: str, image_size: tuple[int, int],
                   background: np.ndarray | None = None) -> dict[str, Any]:
    """A native method on ``x`` against its floor (see ``floor`` in the module docstring)."""
    import xaikit as xk
    from xaikit.explainer import resolve_score

    from .floor import floor_plan, measure_pass_rate

    params = _explain_params(case)
    if background is not None and "background" in params:
        params["background"] = background
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
    engine = _engine(model)
    best = measure_pass_rate(engine, sample, sample_targets, plan, batch_sizes=sizes, min_seconds=0.3)["batch_size"]
    # This machine's speed drifts by tens of percent over minutes: alternate the method and its
    # floor in rounds and take the median of each, so the ratio compares like with like.
    method_times, floor_times, overlapped_times = [], [], []
    for _ in range(5):
        method_times.append(_median_time(lambda: explainer.explain(x, targets), budget=2.0, max_runs=9)[0])
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


def _engine(model: Any) -> Any:
    from ..registry import services_for

    return services_for(model).engine(model)


def _one_call_seconds(model: Any, x: np.ndarray, targets: np.ndarray, plan: Any) -> float:
    """Median time of one call of a compiled function making the method's passes on ``x`` (no loop)."""
    engine = _engine(model)
    t = np.asarray(targets, np.int32).reshape(len(x), -1)[:, : plan.k]
    engine.pass_loop(plan, x, t, 1)  # one iteration: nothing to overlap
    times = []
    for _ in range(15):
        start = time.perf_counter()
        engine.pass_loop(plan, x, t, 1)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _per_call(fn: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _overhead_case(case: SpeedCase) -> dict[str, Any]:
    from tf_explain.core.grad_cam import GradCAM

    import xaikit as xk

    model = build_model(case.model)
    x = _images(1)
    layer = case.params["layer"]
    calls = int(case.params["calls"])
    explainer = xk.get_explainer(model, "gradcam", layer=layer)
    explainer.explain(x)
    tfx = GradCAM()
    tfx.explain((x, None), model, class_index=0, layer_name=layer)

    ours = _per_call(lambda: explainer.explain(x, 0), calls)
    theirs = _per_call(lambda: tfx.explain((x, None), model, class_index=0, layer_name=layer), calls)
    fresh = _per_call(lambda: xk.explain(model, x, method="gradcam", layer=layer, targets=0), calls)
    return {"seconds": {"tensorflow": ours, "tensorflow (new explainer per call)": fresh, "tf-explain": theirs},
            "ratio": theirs / ours}


def _library_case(case: SpeedCase) -> dict[str, Any]:
    import xaikit as xk

    model = build_model(case.model)
    x = _images(case.n_images)
    params = _explain_params(case)
    targets = xk.explain(model, x[:1], method="vanilla_gradients").targets.repeat(case.n_images)
    explainers = {}
    for backend in case.backends:
        explainers[backend] = xk.get_explainer(model, case.method, backend=backend, **params)
        explainers[backend].explain(x[:1], targets[:1])
    # Alternate the backends in rounds (this machine's speed drifts): the median per backend.
    times: dict[str, list[float]] = {b: [] for b in explainers}
    for _ in range(3):
        for backend, explainer in explainers.items():
            times[backend].append(_median_time(lambda e=explainer: e.explain(x, targets), budget=6.0, max_runs=3)[0])
    out = {b: float(np.median(t)) for b, t in times.items()}
    native = out["tensorflow"]
    return {"seconds": out, "ratio": {b: t / native for b, t in out.items() if b != "tensorflow"}}


def _ranked_case(case: SpeedCase) -> dict[str, Any]:
    import xaikit as xk

    model = build_model(case.model)
    x = _images(case.n_images)
    params = _explain_params(case)
    k = int(case.params["k"])
    native = xk.get_explainer(model, "expected_gradients", backend="tensorflow", **params)
    shap_explainer = xk.get_explainer(model, "expected_gradients", backend="shap", **params)
    ranked = native.explain_ranked(x[:1], k)
    out = {}
    out["tensorflow"] = _median_time(lambda: native.explain_ranked(x, k))[0]
    targets = [r.targets for r in native.explain_ranked(x, k)] if case.n_images > 1 else [r.targets for r in ranked]

    def separate() -> None:
        for t in targets:
            native.explain(x, t)

    out["tensorflow-separate"] = _median_time(separate)[0]
    shap_explainer.explain_ranked(x[:1], k)
    out["shap"] = _median_time(lambda: shap_explainer.explain_ranked(x, k))[0]
    return {"seconds": out, "ratio": {b: t / out["tensorflow"] for b, t in out.items() if b != "tensorflow"}}


def _memory_case(case: SpeedCase, repeats: int = 3) -> dict[str, Any]:
    """Peak RSS added by one explain call, each time in a fresh interpreter; the median of ``repeats``."""
    payload = json.dumps({"model": case.model, "method": case.method, "n": case.n_images,
                          "params": case.params, "backend": case.backends[0]})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-m", "xaikit.bench.speed", "--memory-child", payload],
                              capture_output=True, text=True, env=env, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"memory measurement failed: {proc.stderr[-2000:]}")
        runs.append(json.loads(lines[-1]))
    middle = sorted(runs, key=lambda r: r["delta_mb"])[len(runs) // 2]
    return {**middle, "delta_mb_runs": [r["delta_mb"] for r in runs]}


def _memory_child(payload: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import xaikit as xk

    from .memory import PeakRSS

    spec = json.loads(payload)
    if spec["model"] in TORCH_MODELS:
        import torch  # noqa: F401 - before TensorFlow, which xaikit's import of the registry may bring

        print(json.dumps(_torch_memory_child(spec)))
        return
    model = build_model(spec["model"])
    x = _images(spec["n"])
    explainer = xk.get_explainer(model, spec["method"], backend=spec["backend"], **spec["params"])
    # Warm up with a 1-sample explainer of the same batch size: traces and allocator pools
    # for that batch exist before the measured call, which then shows what the samples add.
    warm = {**spec["params"], "n_samples": 1}
    xk.get_explainer(model, spec["method"], backend=spec["backend"], **warm).explain(x, 0)
    with PeakRSS() as peak:
        explainer.explain(x, 0)
    print(json.dumps({"peak_mb": peak.peak_mb, "delta_mb": peak.delta_mb, "start_mb": peak.start_mb}))


# ----------------------------------------------------------------------------- PyTorch
#: The PyTorch models of the suite: the zoo's twins (the Keras weights, at the zoo's sizes) and torchvision's
#: ResNet-18 with random weights (``weights=None``, 1000 classes) at 224 x 224.
TORCH_MODELS = {"shapes_cnn4@torch": (3, 64, 64), "digits_bn@torch": (1, 32, 32), "resnet18@torch": (3, 224, 224)}
CAM_LAYERS.update({"shapes_cnn4@torch": "conv2d_3", "digits_bn@torch": "leaky_re_lu_1", "resnet18@torch": "layer4.1"})


def build_torch_model(name: str) -> Any:
    """A PyTorch model of the suite (cached per process), in eval mode."""
    if name in _MODEL_CACHE:
        return _MODEL_CACHE[name]
    import torch

    if name == "resnet18@torch":
        import torchvision

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = torchvision.models.resnet18(weights=None).eval()
    elif name in TORCH_MODELS:
        from .. import zoo

        model = zoo.load_model(name.split("@")[0], "torch")
    else:
        raise ValueError(f"unknown speed-suite model {name!r}; PyTorch models: {', '.join(TORCH_MODELS)}")
    _MODEL_CACHE[name] = model
    return model


def _torch_images(name: str, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *TORCH_MODELS[name])).astype(np.float32)


def _torch_params(model: str, method: str) -> dict[str, Any]:
    big = model == "resnet18@torch"
    params = _method_params(model, method, big)
    if method == "occlusion":
        params = {"patch_size": 32 if big else TORCH_MODELS[model][1] // 8}
    return params


def torch_cases(quick: bool = False, full: bool = False) -> list[SpeedCase]:
    """The PyTorch cases (``torch_*`` kinds): floors of every native method, single-image Grad-CAM against
    pytorch-grad-cam and Captum, SmoothGrad and integrated gradients against Captum, memory, intra-op threads."""
    from ..registry import available_backends

    installed = set(available_backends())
    if "torch" not in installed:
        return []
    cases: list[SpeedCase] = []
    models = ["shapes_cnn4@torch"] if quick else ["shapes_cnn4@torch", "digits_bn@torch", "resnet18@torch"]
    for model in models:
        big = model == "resnet18@torch"
        sizes = (1, 8) if quick else ((1, 64) if not big or full else (1, 8))
        for method in _core_methods():
            for n in sizes:
                cases.append(SpeedCase("torch_floor", model, method, n, _torch_params(model, method), ("torch",)))
    cam_model = "shapes_cnn4@torch" if quick else "resnet18@torch"
    for threads in (1, 2):
        cases.append(SpeedCase("torch_threads", cam_model, "smoothgrad", 2 if cam_model == "resnet18@torch" else 16,
                               {"n_samples": 16, "seed": 0, "threads": threads}, ("torch",)))
    if not {"captum", "pytorch-grad-cam"} <= installed:  # the comparisons need both libraries
        return cases
    cases.append(SpeedCase("torch_overhead", cam_model, "gradcam", 1, {"layer": CAM_LAYERS[cam_model], "calls": 20},
                           ("torch", "pytorch-grad-cam-api", "captum-api")))
    n_lib = 4 if quick else 16
    for method in ("smoothgrad", "integrated_gradients"):
        params = {"smoothgrad": {"n_samples": 50, "noise": 0.15, "seed": 0},
                  "integrated_gradients": {"steps": 50}}[method]
        cases.append(SpeedCase("torch_library", "shapes_cnn4@torch", method, n_lib, params,
                               ("torch", "captum", "captum-api", "captum-api-batched")))
    for backend in ("torch", "captum-api", "captum-api-batched"):
        for n_samples in (20, 200):
            cases.append(SpeedCase("torch_memory", "shapes_cnn4@torch", "smoothgrad", 1,
                                   {"n_samples": n_samples, "seed": 0, "batch_size": 16}, (backend,)))
    return cases


def _torch_floor_case(case: SpeedCase) -> dict[str, Any]:
    model = build_torch_model(case.model)
    x = _torch_images(case.model, case.n_images)
    background = _torch_images(case.model, 16, seed=1) if "background_size" in case.params else None
    return _floor_measure(case, model, x, "torch", TORCH_MODELS[case.model][1:], background)


def _torch_overhead_case(case: SpeedCase) -> dict[str, Any]:
    """One image's Grad-CAM, again and again: xaikit, pytorch-grad-cam's ``GradCAM(...)(x, targets)`` and Captum's
    ``LayerGradCam(...).attribute(x, target)``, as their users call them, and the floor (one forward and backward
    pass to the layer)."""
    import torch
    from captum.attr import LayerGradCam
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    import xaikit as xk

    from ..catalogue.schema import FloorPlan
    from .floor import measure_pass_rate

    model = build_torch_model(case.model)
    x = _torch_images(case.model, 1)
    xt = torch.from_numpy(x)
    layer, calls = case.params["layer"], int(case.params["calls"])
    module = dict(model.named_modules())[layer]
    explainer = xk.get_explainer(model, "gradcam", layer=layer)
    cam = GradCAM(model=model, target_layers=[module])
    captum = LayerGradCam(model, module)
    target = [ClassifierOutputTarget(0)]
    runs = {"torch": lambda: explainer.explain(x, 0),
            "pytorch-grad-cam-api": lambda: cam(input_tensor=xt, targets=target),
            "captum-api": lambda: captum.attribute(xt, target=0)}
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {b: [] for b in runs}
    plan = FloorPlan("forward_backward_layer", 1, layer=layer, score="logit")
    floors = []
    for _ in range(3):  # rounds: this machine's speed drifts
        for backend, fn in runs.items():
            times[backend].append(_per_call(fn, calls))
        floors.append(measure_pass_rate(_engine(model), x, np.zeros(1, np.int64), plan, batch_sizes=[1],
                                        min_seconds=0.3)["seconds_per_pass"])
    cam.activations_and_grads.release()
    out = {b: float(np.median(t)) for b, t in times.items()}
    floor = float(np.median(floors))
    return {"seconds": out, "floor_seconds": floor, "ratio": {b: t / out["torch"] for b, t in out.items()
                                                              if b != "torch"},
            "x_floor": {b: t / floor for b, t in out.items()}}


def _captum_api(model: Any, method: str, x: np.ndarray, targets: np.ndarray, params: dict[str, Any],
                batched: bool) -> Callable[[], Any]:
    """The same work through Captum's API as its users call it: one call for the batch (``batched``: at most about
    ``batch_size`` rows per pass, like xaikit's; else Captum's defaults, every sample in one pass)."""
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    xt, t = torch.from_numpy(x), [int(v) for v in targets]
    batch = int(params.get("batch_size", 32))
    if method == "smoothgrad":
        n = int(params["n_samples"])
        noise = float(params.get("noise", 0.15)) * float(x.max() - x.min())
        nt = NoiseTunnel(Saliency(model))
        per = max(1, batch // len(x)) if batched else None
        return lambda: nt.attribute(xt, nt_samples=n, nt_samples_batch_size=per, stdevs=noise, target=t, abs=False)
    ig = IntegratedGradients(model)
    internal = batch if batched else None
    return lambda: ig.attribute(xt, target=t, n_steps=int(params["steps"]), method="riemann_trapezoid",
                                internal_batch_size=internal)


def _torch_library_case(case: SpeedCase) -> dict[str, Any]:
    """The same work (method, images, samples or steps, targets) natively, through the Captum adapter, and
    through Captum's API with and without a batch size."""
    import xaikit as xk

    model = build_torch_model(case.model)
    x = _torch_images(case.model, case.n_images)
    targets = xk.explain(model, x[:1], method="vanilla_gradients").targets.repeat(case.n_images)
    runs: dict[str, Callable[[], Any]] = {}
    for backend in case.backends:
        if backend.startswith("captum-api"):
            runs[backend] = _captum_api(model, case.method, x, targets, case.params, backend.endswith("batched"))
            continue
        params = dict(case.params)
        if backend == "captum" and case.method == "smoothgrad":  # Captum's noise is absolute; the same std
            params = {"n_samples": params["n_samples"], "seed": 0, "abs": False,
                      "noise_std": float(params["noise"]) * float(x.max() - x.min())}
        if backend == "captum" and case.method == "integrated_gradients":
            params = {**params, "integration": "riemann_trapezoid"}
        explainer = xk.get_explainer(model, case.method, backend=backend, **params)
        runs[backend] = lambda e=explainer: e.explain(x, targets)
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {b: [] for b in runs}
    for _ in range(3):
        for backend, fn in runs.items():
            times[backend].append(_median_time(fn, budget=6.0, max_runs=3)[0])
    out = {b: float(np.median(t)) for b, t in times.items()}
    return {"seconds": out, "ratio": {b: t / out["torch"] for b, t in out.items() if b != "torch"}}


def _torch_memory_child(spec: dict[str, Any]) -> dict[str, Any]:
    import xaikit as xk

    from .memory import PeakRSS

    model = build_torch_model(spec["model"])
    x = _torch_images(spec["model"], spec["n"])
    params, backend = spec["params"], spec["backend"]
    if backend.startswith("captum-api"):
        def run(p: dict[str, Any]) -> Callable[[], Any]:
            return _captum_api(model, spec["method"], x, np.zeros(len(x), np.int64), p, backend.endswith("batched"))
    else:
        def run(p: dict[str, Any]) -> Callable[[], Any]:
            explainer = xk.get_explainer(model, spec["method"], backend=backend, **p)
            return lambda: explainer.explain(x, 0)
    run({**params, "n_samples": 1})()  # warm-up: allocator pools for the batch exist before the measured call
    with PeakRSS() as peak:
        run(params)()
    return {"peak_mb": peak.peak_mb, "delta_mb": peak.delta_mb, "start_mb": peak.start_mb}


def _torch_threads_case(case: SpeedCase) -> dict[str, Any]:
    """SmoothGrad with torch's intra-op threads set to ``threads`` (xaikit streams two chunks at once in threads:
    with 2 intra-op threads each, 4 threads share this machine's cores)."""
    import torch

    import xaikit as xk

    model = build_torch_model(case.model)
    x = _torch_images(case.model, case.n_images)
    params = {k: v for k, v in case.params.items() if k != "threads"}
    explainer = xk.get_explainer(model, "smoothgrad", **params)
    before = torch.get_num_threads()
    torch.set_num_threads(int(case.params["threads"]))
    try:
        explainer.explain(x, 0)
        seconds = float(np.median([_median_time(lambda: explainer.explain(x, 0), budget=6.0, max_runs=3)[0]
                                   for _ in range(3)]))
    finally:
        torch.set_num_threads(before)
    return {"seconds": {"torch": seconds}, "ratio": {}, "threads": int(case.params["threads"]),
            "default_threads": before}


RUNNERS = {"floor": _floor_case, "overhead": _overhead_case, "library": _library_case, "memory": _memory_case,
           "ranked": _ranked_case}
RUNNERS.update({"torch_floor": _torch_floor_case, "torch_overhead": _torch_overhead_case,
                "torch_library": _torch_library_case, "torch_memory": _memory_case,
                "torch_threads": _torch_threads_case})


# ------------------------------------------------------------------------------ suite
def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


def summarize(records: Iterable[dict[str, Any]]) -> str:
    """Markdown tables of a speed run."""
    records = list(records)
    lines = ["## Native methods against their floor", "",
             "Floor: the method's passes in a compiled loop at the best batch size (the faster of passes "
             "back to back and passes TensorFlow may overlap). One call: the same passes in one bare "
             "compiled call, for methods whose passes fit in one call: the fixed cost of a call is in it.", "",
             "| model | method | N | xaikit | floor | x floor | one call | x one call | floor = |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        if r["case"]["kind"] in ("floor", "torch_floor"):
            c, v = r["case"], r["result"]
            single_pass = v["passes"] == c["n"]  # one pass per image: the whole method is one call
            one = (f"{_fmt(v['one_call_seconds'])} | {v['ratio_one_call']:.2f}"
                   if "one_call_seconds" in v and single_pass else "- | -")
            lines.append(f"| {c['model']} | {c['method']} | {c['n']} | {_fmt(v['seconds'])} "
                         f"| {_fmt(v['floor_seconds'])} | {v['ratio']:.2f} | {one} | {v['floor']} "
                         f"(best batch {v['floor_batch_size']}) |")
    lines += ["", "## The same work through the libraries xaikit wraps", "",
              "| case | N | xaikit (native) | other | other / native |", "|---|---:|---:|---|---|"]
    for r in records:
        c, v = r["case"], r["result"]
        if c["kind"] in ("library", "ranked", "overhead", "torch_library", "torch_overhead"):
            native_name = "torch" if c["kind"].startswith("torch") else "tensorflow"
            native = v["seconds"][native_name]
            others = "; ".join(f"{b} {_fmt(t)}" for b, t in v["seconds"].items() if b != native_name)
            if "floor_seconds" in v:
                others += f"; floor {_fmt(v['floor_seconds'])}"
            ratios = v["ratio"] if isinstance(v["ratio"], dict) else {"tf-explain": v["ratio"]}
            ratio = "; ".join(f"{b} {x:.2f}x" for b, x in ratios.items())
            what = (f"{c['kind']}: {c['model']} {c['method']}"
                    + (f" k={c['params'].get('k')}" if c["kind"] == "ranked" else ""))
            lines.append(f"| {what} | {c['n']} | {_fmt(native)} | {others} | {ratio} |")
    lines += ["", "## Peak memory added by one SmoothGrad call (1 image, batch_size 16)", "",
              "| backend | n_samples | peak RSS added (MB) |", "|---|---:|---:|"]
    for r in records:
        c, v = r["case"], r["result"]
        if c["kind"] in ("memory", "torch_memory"):
            where = f"{c['backends'][0]}" + (f" ({c['model']})" if c["kind"] == "torch_memory" else "")
            lines.append(f"| {where} | {c['params']['n_samples']} | {v['delta_mb']:.1f} |")
    threads = [r for r in records if r["case"]["kind"] == "torch_threads"]
    if threads:
        lines += ["", "## PyTorch intra-op threads (SmoothGrad, two chunks in flight)", "",
                  "| model | N | torch threads | time |", "|---|---:|---:|---:|"]
        for r in threads:
            c, v = r["case"], r["result"]
            lines.append(f"| {c['model']} | {c['n']} | {v['threads']} | {_fmt(v['seconds']['torch'])} |")
    if any(r["case"]["kind"] in ("engine", "bulk", "bulk_memory") for r in records):
        from .speed_distributed import distributed_summary

        lines += distributed_summary(records)
    return "\n".join(lines) + "\n"


def run_speed_suite(out_dir: str | os.PathLike[str], *, quick: bool = False, full: bool = False,
                    fresh: bool = False, only: str | None = None, log: Callable[[str], None] = print,
                    report_only: bool = False) -> list[dict]:
    """Run the suite (resuming from ``out_dir``), write ``speed.md``, return the records.

    With ``report_only`` nothing is measured: ``speed.md`` is assembled from the latest
    record of each case in the store, whatever code measured it (for runs made case by
    case with ``only``); cases never measured are left out.
    """
    from .._io import atomic_write_text
    from .store import ResultStore, cell_key, code_digest

    out = Path(out_dir)
    store = ResultStore(out)  # with fresh, matching cases are measured again and appended (the last record wins)
    import platform

    from ..registry import _discover

    packages = sorted({t.split(":", 1)[0].split(".", 1)[0] for s in _discover().values()
                       for t in (*s.methods.values(), s.engine, s.services) if t})
    digest = code_digest("xaikit", *packages)
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    records = []
    latest: dict[str, dict[str, Any]] = {}
    if report_only:
        for r in sorted(store, key=lambda r: r.get("time", "")):
            latest[json.dumps(r.get("case"), sort_keys=True)] = r
    for case in default_cases(quick=quick, full=full):
        if only and only not in case.kind and only not in case.method and only not in case.model:
            continue
        if report_only:
            found = latest.get(json.dumps(case.spec(), sort_keys=True))
            if found is not None:
                records.append(found)
                log(f"{case.label:<90} {_describe(found['result'])}  [{found.get('time', '?')}]")
            continue
        key = cell_key({"speed": case.spec(), "code": digest, "machine": machine})
        record = None if fresh else store.get(key)
        if record is None:
            start = time.perf_counter()
            result = RUNNERS[case.kind](case)
            record = store.put(key, {"case": case.spec(), "result": result, "machine": machine,
                                     "wall": time.perf_counter() - start})
            status = f"{time.perf_counter() - start:.0f} s"
        else:
            status = "reused"
        records.append(record)
        log(f"{case.label:<90} {_describe(record['result'])}  [{status}]")
    text = f"# xaikit speed suite\n\nMachine: {machine}. Medians after a warm-up.\n\n"
    if report_only and records:
        times = sorted(r.get("time", "?") for r in records)
        text += (f"Assembled from the latest record of each case ({len(records)} cases, measured "
                 f"{times[0]} to {times[-1]}).\n\n")
    text += summarize(records)
    atomic_write_text(out / "speed.md", text)
    log(f"wrote {out / 'speed.md'}")
    return records


def _describe(result: dict[str, Any]) -> str:
    if "x_floor" in result:  # torch_overhead
        return "; ".join(f"{b} {_fmt(t)} ({result['x_floor'][b]:.2f}x floor)" for b, t in result["seconds"].items())
    if "floor_seconds" in result:
        one = f", one call {result['ratio_one_call']:.2f}x" if "ratio_one_call" in result else ""
        return f"{_fmt(result['seconds'])} vs floor {_fmt(result['floor_seconds'])} = {result['ratio']:.2f}x{one}"
    if "delta_mb" in result:
        return f"+{result['delta_mb']:.1f} MB"
    ratio = result["ratio"]
    ratios = ratio if isinstance(ratio, dict) else {"tf-explain": ratio}
    if "threads" in result:
        return f"{result['threads']} torch thread(s): {_fmt(result['seconds']['torch'])}"
    return "; ".join(f"{b} {_fmt(t)}" for b, t in result["seconds"].items()) + " | " + \
        ", ".join(f"{b}/native {x:.2f}" for b, x in ratios.items() if not math.isnan(x))


if __name__ == "__main__":  # the memory child process
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2])
    else:
        sys.exit("usage: python -m xaikit.bench.speed --memory-child JSON  (use `xaikit speed` to run the suite)")
