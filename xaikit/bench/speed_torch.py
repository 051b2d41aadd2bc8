"""The speed suite's PyTorch cases (``torch_*`` kinds; ``xaikit speed --only torch``).

Cases
-----
``torch_floor``
    Each native method on the PyTorch models against its floor, as ``floor`` in
    :mod:`.speed` (one image and 64 on the twins; ResNet-18 at 224 x 224).
``torch_overhead``
    One image's Grad-CAM, again and again: xaikit against pytorch-grad-cam's and Captum's
    APIs as their users call them, and the floor (one forward and backward pass).
``torch_library``
    SmoothGrad and integrated gradients natively, through the Captum adapter, and through
    Captum's API with and without a batch size.
``torch_memory``
    Peak RSS added by SmoothGrad with 20 and with 200 samples, natively and through Captum's
    API, each in a fresh interpreter (``python -m xaikit.bench.speed_torch --memory-child``).
``torch_threads``
    SmoothGrad with torch's intra-op threads set to 1 and to 2.

The models: the zoo's twins (the Keras weights, at the zoo's sizes) and torchvision's
ResNet-18 with random weights. Importing this module does not import torch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .devices import GPUPeak, torch_device
from .speed_measure import (
    SpeedCase,
    core_methods,
    engine_of,
    floor_measure,
    fmt_duration,
    median_time,
    memory_case,
    per_call_seconds,
    suite_method_params,
)

__all__ = ["TORCH_MODELS", "TORCH_RUNNERS", "build_torch_model", "torch_cases", "torch_summary"]

_MODEL_CACHE: dict[str, Any] = {}

#: The PyTorch models of the suite: the zoo's twins (the Keras weights, at the zoo's sizes) and torchvision's
#: ResNet-18 with random weights (``weights=None``, 1000 classes) at 224 x 224.
TORCH_MODELS = {"shapes_cnn4@torch": (3, 64, 64), "digits_bn@torch": (1, 32, 32), "resnet18@torch": (3, 224, 224)}
#: Grad-CAM layers of the PyTorch models (the last convolution block).
TORCH_CAM_LAYERS = {"shapes_cnn4@torch": "conv2d_3", "digits_bn@torch": "leaky_re_lu_1", "resnet18@torch": "layer4.1"}


def build_torch_model(name: str, device: str = "cpu") -> Any:
    """A PyTorch model of the suite (cached per process), in eval mode, on ``device`` (``"cpu"`` or ``"cuda"``)."""
    if (name, device) in _MODEL_CACHE:
        return _MODEL_CACHE[name, device]
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
    model = model.to(torch_device(device))
    _MODEL_CACHE[name, device] = model
    return model


def _torch_images(name: str, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *TORCH_MODELS[name])).astype(np.float32)


def _torch_params(model: str, method: str) -> dict[str, Any]:
    big = model == "resnet18@torch"
    params = suite_method_params(TORCH_CAM_LAYERS[model], method, big)
    if method == "occlusion":
        params = {"patch_size": 32 if big else TORCH_MODELS[model][1] // 8}
    return params


def torch_cases(quick: bool = False, full: bool = False) -> list[SpeedCase]:
    """The PyTorch cases (``torch_*`` kinds): floors of every native method, single-image Grad-CAM against
    pytorch-grad-cam and Captum, SmoothGrad and integrated gradients against Captum, Score-CAM and Ablation-CAM
    against pytorch-grad-cam (same layer, same batch of masked images or channels per pass), memory, intra-op
    threads."""
    from ..registry import available_backends

    installed = set(available_backends())
    if "torch" not in installed:
        return []
    cases: list[SpeedCase] = []
    models = ["shapes_cnn4@torch"] if quick else ["shapes_cnn4@torch", "digits_bn@torch", "resnet18@torch"]
    for model in models:
        big = model == "resnet18@torch"
        sizes = (1, 8) if quick else ((1, 64) if not big or full else (1, 8))
        if model == "shapes_cnn4@torch" and not quick:  # N = 8 as on the Keras twin (speed.py)
            sizes = (1, 8, 64)
        for method in core_methods():
            for n in sizes:
                cases.append(SpeedCase("torch_floor", model, method, n, _torch_params(model, method), ("torch",)))
    cam_model = "shapes_cnn4@torch" if quick else "resnet18@torch"
    for threads in (1, 2):
        cases.append(SpeedCase("torch_threads", cam_model, "smoothgrad", 2 if cam_model == "resnet18@torch" else 16,
                               {"n_samples": 16, "seed": 0, "threads": threads}, ("torch",)))
    if not {"captum", "pytorch-grad-cam"} <= installed:  # the comparisons need both libraries
        return cases
    cases.append(SpeedCase("torch_overhead", cam_model, "gradcam", 1,
                           {"layer": TORCH_CAM_LAYERS[cam_model], "calls": 20},
                           ("torch", "pytorch-grad-cam-api", "captum-api")))
    n_lib = 4 if quick else 16
    for method in ("smoothgrad", "integrated_gradients"):
        params = {"smoothgrad": {"n_samples": 50, "noise": 0.15, "seed": 0},
                  "integrated_gradients": {"steps": 50}}[method]
        cases.append(SpeedCase("torch_library", "shapes_cnn4@torch", method, n_lib, params,
                               ("torch", "captum", "captum-api", "captum-api-batched")))
    for method in ("scorecam", "ablationcam"):  # the CAMs users call slow: one pass per channel (512 here)
        cases.append(SpeedCase("torch_library", cam_model, method, 1,
                               {"layer": TORCH_CAM_LAYERS[cam_model], "batch_size": 32}, ("torch", "pytorch-grad-cam")))
    for backend in ("torch", "captum-api", "captum-api-batched"):
        for n_samples in (20, 200):
            cases.append(SpeedCase("torch_memory", "shapes_cnn4@torch", "smoothgrad", 1,
                                   {"n_samples": n_samples, "seed": 0, "batch_size": 16}, (backend,)))
    return cases


def _torch_floor_case(case: SpeedCase) -> dict[str, Any]:
    model = build_torch_model(case.model, case.device)
    x = _torch_images(case.model, case.n_images)
    background = _torch_images(case.model, 16, seed=1) if "background_size" in case.params else None
    return floor_measure(case, model, x, "torch", TORCH_MODELS[case.model][1:], background)


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

    model = build_torch_model(case.model, case.device)
    x = _torch_images(case.model, 1)
    xt = torch.from_numpy(x).to(torch_device(case.device))
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
            times[backend].append(per_call_seconds(fn, calls))
        floors.append(measure_pass_rate(engine_of(model), x, np.zeros(1, np.int64), plan, batch_sizes=[1],
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

    xt, t = torch.from_numpy(x).to(next(model.parameters()).device), [int(v) for v in targets]
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

    model = build_torch_model(case.model, case.device)
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
            times[backend].append(median_time(fn, budget=6.0, max_runs=3)[0])
    out = {b: float(np.median(t)) for b, t in times.items()}
    return {"seconds": out, "ratio": {b: t / out["torch"] for b, t in out.items() if b != "torch"}}


def _torch_memory_child(spec: dict[str, Any]) -> dict[str, Any]:
    import xaikit as xk

    from .memory import PeakRSS

    device = spec.get("device", "cpu")
    model = build_torch_model(spec["model"], device)
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
    with PeakRSS() as peak, GPUPeak(device, "torch") as gpu:
        run(params)()
    return {"peak_mb": peak.peak_mb, "delta_mb": peak.delta_mb, "start_mb": peak.start_mb, "gpu_mb": gpu.mb}


def _torch_threads_case(case: SpeedCase) -> dict[str, Any]:
    """SmoothGrad with torch's intra-op threads set to ``threads`` (xaikit streams two chunks at once in threads:
    with 2 intra-op threads each, 4 threads share this machine's cores)."""
    import torch

    import xaikit as xk

    model = build_torch_model(case.model, case.device)
    x = _torch_images(case.model, case.n_images)
    params = {k: v for k, v in case.params.items() if k != "threads"}
    explainer = xk.get_explainer(model, "smoothgrad", **params)
    before = torch.get_num_threads()
    torch.set_num_threads(int(case.params["threads"]))
    try:
        explainer.explain(x, 0)
        seconds = float(np.median([median_time(lambda: explainer.explain(x, 0), budget=6.0, max_runs=3)[0]
                                   for _ in range(3)]))
    finally:
        torch.set_num_threads(before)
    return {"seconds": {"torch": seconds}, "ratio": {}, "threads": int(case.params["threads"]),
            "default_threads": before}


def _torch_memory_case(case: SpeedCase) -> dict[str, Any]:
    """Peak RSS added by one call on a PyTorch model, in fresh interpreters (this module's memory child)."""
    return memory_case(case, "xaikit.bench.speed_torch")


TORCH_RUNNERS = {"torch_floor": _torch_floor_case, "torch_overhead": _torch_overhead_case,
                 "torch_library": _torch_library_case, "torch_memory": _torch_memory_case,
                 "torch_threads": _torch_threads_case}


def torch_summary(records: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of the ``torch_threads`` cases (the other PyTorch cases share the suite's tables)."""
    threads = [r for r in records if r["case"]["kind"] == "torch_threads"]
    if not threads:
        return []
    lines = ["", "## PyTorch intra-op threads (SmoothGrad, two chunks in flight)", "",
             "| model | N | torch threads | time |", "|---|---:|---:|---:|"]
    for r in threads:
        c, v = r["case"], r["result"]
        lines.append(f"| {c['model']} | {c['n']} | {v['threads']} | {fmt_duration(v['seconds']['torch'])} |")
    return lines


def _memory_child(payload: str) -> None:
    import warnings

    warnings.simplefilter("ignore")
    import torch  # noqa: F401 - before TensorFlow, which xaikit's import of the registry may bring

    print(json.dumps(_torch_memory_child(json.loads(payload))))


if __name__ == "__main__":  # the memory child process
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2])
    else:
        sys.exit("usage: python -m xaikit.bench.speed_torch --memory-child JSON  (use `xaikit speed` to run the suite)")
