"""Speed-suite cases of the engines: the Ray engine's overhead on the bench, bulk explanation's streaming.

Cases (ratios measured in one run; ``xaikit speed --only engine`` / ``--only bulk``):

``engine``
    ``bench --quick`` (fresh store) on the local engine and on Ray with 1 and 2 workers.
    Each engine runs the suite once untimed (Ray's start-up, the workers' framework import,
    model loading, tracing) and then timed into a fresh store: the steady cost. The
    start-up (first run minus second) is reported apart.
``bulk``
    2,000 zoo images (PNG files) explained into a Zarr store with Grad-CAM and SmoothGrad:
    local engine, Ray with 1 and 2 workers (the workers decode the files; and again with
    the driver decoding and sending the pixels), against one ``explain`` call on the same
    images in memory (pixels already decoded, explainer traced). The bytes per image that
    travelled to and from the workers are in each Ray run's detail. Two ratios: the whole
    run's (with its start-up: engine, explainer build and tracing, first chunk) and the
    steady streaming rate after the first chunk, which a long run approaches.
``bulk_memory``
    Peak RSS of a whole bulk run (local engine) on 200 and on 2,000 images, each in a
    fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DISTRIBUTED_RUNNERS", "distributed_cases", "distributed_summary"]

BULK_MODEL = "shapes_cnn4"
BULK_METHODS = {"gradcam": {"layer": "conv2d_3"}, "smoothgrad": {"n_samples": 16, "seed": 0}}


def distributed_cases(case: Any, quick: bool = False) -> list[Any]:
    """The engine cases as ``case`` objects (:class:`.speed.SpeedCase`; ``quick``: fewer images)."""
    n = 400 if quick else 2000
    cases = [case("engine", BULK_MODEL, "bench-quick", 4, {"workers": [1, 2]}, ("local", "ray"))]
    cases += [case("bulk", BULK_MODEL, method, n, {**params, "workers": [1, 2], "chunk_size": 64},
                        ("local", "ray", "memory")) for method, params in BULK_METHODS.items()]
    # the small-model options: maps stored as float16 (half the bytes to compress and write)
    cases.append(case("bulk", BULK_MODEL, "gradcam", n, {**BULK_METHODS["gradcam"], "workers": [1, 2],
                                                         "chunk_size": 64, "dtype": "float16"},
                      ("local", "ray", "memory")))
    cases.append(case("bulk_memory", BULK_MODEL, "gradcam", n, {"sizes": [n // 10, n], "chunk_size": 64},
                           ("local",)))
    return cases


def _ray_engine(workers: int) -> Any:
    import ray

    from ..execution.ray_executor import RayExecutor

    if ray.is_initialized():
        ray.shutdown()
    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return RayExecutor(workers=workers), time.perf_counter() - start


def _engine_case(case: Any) -> dict[str, Any]:
    """bench --quick: first (start-up) and second (steady) run per engine."""
    import ray

    from .config import builtin_suite
    from .runner import run_suite

    cfg = builtin_suite("quick")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["local", *[f"ray-{w}" for w in case.params["workers"]]]:
            init = 0.0
            engine: Any = "local"
            if name != "local":
                engine, init = _ray_engine(int(name.split("-")[1]))
            times = []
            for attempt in range(2):
                start = time.perf_counter()
                res = run_suite(cfg, Path(tmp) / f"{name}-{attempt}", engine=engine)
                times.append(time.perf_counter() - start)
                if res.errors:
                    raise RuntimeError(f"{name}: {res.errors[0]['error']}")
            if name != "local":
                engine.close()
                ray.shutdown()
            out[name] = {"first": times[0], "steady": times[1], "ray_init": init, "cells": res.computed,
                         "startup": init + times[0] - times[1]}
    local = out["local"]["steady"]
    return {"seconds": {k: v["steady"] for k, v in out.items()}, "runs": out,
            "ratio": {k: v["steady"] / local for k, v in out.items() if k != "local"},
            "per_cell": {k: v["steady"] / max(v["cells"], 1) for k, v in out.items()}}


def _png_folder(n: int, folder: Path) -> Path:
    import cv2

    from .. import zoo

    images = zoo.load_data(BULK_MODEL, "test", n=n).images
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"img{i:05d}.png"), np.round(image[..., ::-1] * 255).astype(np.uint8))
    return folder


def _bulk_case(case: Any) -> dict[str, Any]:
    """Images per second: bulk (files -> Zarr) on each engine, and one in-memory explain call."""
    import ray

    import xaikit as xk

    from .. import zoo
    from ..bulk import explain_to_zarr

    params = {k: v for k, v in case.params.items() if k not in ("workers", "chunk_size", "dtype")}
    chunk = int(case.params["chunk_size"])
    stored = {"dtype": case.params["dtype"]} if "dtype" in case.params else {}  # the maps' dtype in the store
    out: dict[str, float] = {}
    detail: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "img"
        folder.mkdir()
        _png_folder(case.n_images, folder)
        model = zoo.load_model(BULK_MODEL)
        pixels = np.asarray(zoo.load_data(BULK_MODEL, "test", n=case.n_images).images, np.float32)
        explainer = xk.get_explainer(model, case.method, **params)
        explainer.explain(pixels[:chunk])  # traced
        start = time.perf_counter()
        explainer.explain(pixels)
        out["memory"] = case.n_images / (time.perf_counter() - start)
        explain_to_zarr(f"zoo:{BULK_MODEL}", folder, Path(tmp) / "warm.zarr", case.method, chunk_size=chunk,
                        **stored, **params)
        res = explain_to_zarr(f"zoo:{BULK_MODEL}", folder, Path(tmp) / "local.zarr", case.method, chunk_size=chunk,
                              **stored, **params)
        out["local"] = res.images_per_second
        steady: dict[str, float] = {"local": res.steady_images_per_second}
        detail["local"] = {"startup_seconds": res.startup_seconds, "seconds": res.seconds}
        for workers in case.params["workers"]:
            engine, init = _ray_engine(int(workers))
            try:
                warm = explain_to_zarr(f"zoo:{BULK_MODEL}", folder, Path(tmp) / f"rw{workers}.zarr", case.method,
                                       chunk_size=chunk, engine=engine, **stored, **params)
                runs = {f"ray-{workers}": explain_to_zarr(f"zoo:{BULK_MODEL}", folder, Path(tmp) / f"r{workers}.zarr",
                                                          case.method, chunk_size=chunk, engine=engine, **stored,
                                                          **params)}
                # the same with the pixels decoded by the driver and sent (what a cluster without a shared disk does)
                runs[f"ray-{workers}-driver-decodes"] = explain_to_zarr(
                    f"zoo:{BULK_MODEL}", folder, Path(tmp) / f"rd{workers}.zarr", case.method, chunk_size=chunk,
                    engine=engine, decode="driver", **stored, **params)
            finally:
                engine.close()
                ray.shutdown()
            for name, res in runs.items():
                out[name] = res.images_per_second
                steady[name] = res.steady_images_per_second
                detail[name] = {"ray_init": init, "first_run_seconds": warm.seconds, "seconds": res.seconds,
                                "startup_seconds": res.startup_seconds, "traffic": res.traffic}
        maps_mb = sum(f.stat().st_size for f in (Path(tmp) / "local.zarr" / "maps").rglob("*") if f.is_file()) / 2**20
        shutil.rmtree(folder, ignore_errors=True)
    seconds = {k: 1.0 / v for k, v in out.items()}  # seconds per image
    return {"seconds": seconds, "images_per_second": out, "detail": detail, "zarr_maps_mb": maps_mb,
            "ratio": {k: v / out["memory"] for k, v in out.items() if k != "memory"},
            "steady_images_per_second": steady, "steady_ratio": {k: v / out["memory"] for k, v in steady.items()}}


def _bulk_memory_case(case: Any) -> dict[str, Any]:
    """Peak RSS of a whole bulk run per image count, each in a fresh interpreter."""
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "img"
        folder.mkdir()
        _png_folder(max(case.params["sizes"]), folder)
        files = sorted(folder.iterdir())
        for n in case.params["sizes"]:
            payload = json.dumps({"images": [str(f) for f in files[:n]], "out": str(Path(tmp) / f"m{n}.zarr"),
                                  "method": case.method, "chunk_size": case.params["chunk_size"]})
            proc = subprocess.run([sys.executable, "-m", "xaikit.bench.speed_distributed", "--bulk-child", payload],
                                  capture_output=True, text=True, check=False,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"bulk memory child failed: {proc.stderr[-2000:]}")
            peaks[str(n)] = json.loads(lines[-1])
    small, big = (str(n) for n in case.params["sizes"])
    return {"seconds": {k: v["seconds"] for k, v in peaks.items()}, "peaks": peaks,
            "ratio": {"peak": peaks[big]["peak_mb"] / peaks[small]["peak_mb"]}}


def _bulk_child(payload: str) -> None:
    from ..bulk import explain_to_zarr
    from .memory import PeakRSS

    spec = json.loads(payload)
    with PeakRSS() as peak:
        res = explain_to_zarr(f"zoo:{BULK_MODEL}", spec["images"], spec["out"], spec["method"],
                              chunk_size=spec["chunk_size"], **BULK_METHODS[spec["method"]])
    print(json.dumps({"peak_mb": peak.peak_mb, "start_mb": peak.start_mb, "seconds": res.seconds}))


DISTRIBUTED_RUNNERS = {"engine": _engine_case, "bulk": _bulk_case, "bulk_memory": _bulk_memory_case}


def distributed_summary(records: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of the engine cases."""
    lines = ["", "## Engines: the bench on Ray, bulk explanation into Zarr", "",
             "| case | N | local | Ray 1 worker | Ray 2 workers | ratio to local (or in-memory) |",
             "|---|---:|---:|---:|---:|---|"]
    for r in records:
        c, v = r["case"], r["result"]
        if c["kind"] == "engine":
            s = v["seconds"]
            start = "; ".join(f"{k} start-up {v['runs'][k]['startup']:.1f} s" for k in v["runs"] if k != "local")
            lines.append(f"| bench --quick ({v['runs']['local']['cells']} cells), s | {c['n']} | {s['local']:.1f} | "
                         f"{s['ray-1']:.1f} | {s['ray-2']:.1f} | "
                         + ", ".join(f"{k} {x:.2f}x" for k, x in v["ratio"].items()) + f" ({start}) |")
        elif c["kind"] == "bulk":
            ips = v["images_per_second"]
            as_f16 = ", maps float16" if c.get("params", {}).get("dtype") == "float16" else ""
            lines.append(f"| bulk {c['method']}{as_f16}, images/s (in memory {ips['memory']:.0f}) | {c['n']} | "
                         f"{ips['local']:.0f} | {ips['ray-1']:.0f} | {ips['ray-2']:.0f} | "
                         + ", ".join(f"{k} {x:.2f}x" for k, x in v["ratio"].items()) + " |")
            if "steady_ratio" in v:
                sp, startup = v["steady_images_per_second"], v["detail"]["local"]["startup_seconds"]
                lines.append(f"| bulk {c['method']}{as_f16} streaming after the first chunk, images/s (local start-up "
                             f"{startup:.2f} s) | {c['n']} | {sp['local']:.0f} | {sp['ray-1']:.0f} | "
                             f"{sp['ray-2']:.0f} | "
                             + ", ".join(f"{k} {x:.2f}x" for k, x in v["steady_ratio"].items()) + " |")
            moved = {k: d["traffic"] for k, d in v["detail"].items() if d.get("traffic")}
            if moved:
                lines.append(f"| bulk {c['method']}{as_f16} bytes per image to / from the Ray workers | {c['n']} | - | "
                             + " | ".join(f"{moved[k]['to_workers']:.0f} / {moved[k]['from_workers']:.0f}"
                                          if k in moved else "-" for k in ("ray-1", "ray-2"))
                             + " | " + ", ".join(f"{k}: {t['to_workers']:.0f} / {t['from_workers']:.0f} (decoded on "
                                                 f"the {t['decode']})" for k, t in moved.items()) + " |")
        elif c["kind"] == "bulk_memory":
            p = v["peaks"]
            peaks = " / ".join(f"{x['peak_mb']:.0f}" for x in p.values())
            lines.append(f"| bulk peak RSS, MB ({', '.join(p)} images) | {c['n']} | {peaks} | - | - | "
                         f"{v['ratio']['peak']:.2f}x |")
    return lines


if __name__ == "__main__":  # the memory child process
    if len(sys.argv) == 3 and sys.argv[1] == "--bulk-child":
        _bulk_child(sys.argv[2])
    else:
        sys.exit("usage: python -m xaikit.bench.speed_distributed --bulk-child JSON  (use `xaikit speed`)")
