"""The Ray engine: the bench and bulk explanation give the local engine's results, and a killed worker loses nothing.

One local Ray session for the module (``ray.init(num_cpus=2)``, nothing outside this
machine) and one engine of two workers shared by the tests, so Ray and the workers'
TensorFlow start once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("zarr", minversion="3")

from test_bench import _records, _tiny

#: Fields of an explain record that are measurements of time or memory (they differ between runs).
TIMING = {"seconds_per_image", "runs", "repeats_done", "peak_rss_mb", "rss_start_mb", "rss_delta_mb", "rss_samples",
          "rss_before_warmup_mb", "rss_cell_delta_mb", "warmup_seconds", "warmup_peak_rss_mb"}


@pytest.fixture(scope="module")
def engine():
    from xaikit.execution.ray_executor import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    workers = RayExecutor(workers=2)
    try:
        yield workers
    finally:
        workers.close()
        ray.shutdown()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The tiny suite and its results on the local engine."""
    from xaikit.bench import load_config, run_suite

    folder = tmp_path_factory.mktemp("suite")
    cfg = load_config(_tiny(folder, n_images=2, n_samples=4))
    results = run_suite(cfg, folder / "local", engine="local")
    assert not results.errors, results.errors
    return cfg, folder / "local"


def _cells(out: Path) -> dict[str, dict]:
    """Every record but the floors (keyed by when their timing was measured), without timings."""
    cells = {}
    for record in _records(out / "results.jsonl"):
        if record["kind"] == "floor":
            continue
        result = record["result"]
        if record["kind"] == "explain":
            result = {k: v for k, v in result.items() if k not in TIMING}
        cells[record["key"]] = {"context": {k: v for k, v in record.items() if k not in ("time", "seconds", "result")},
                                "result": result}
    return cells


def _same_as_local(out: Path, local: Path) -> None:
    from xaikit.bench import ResultStore

    ours, theirs = _cells(out), _cells(local)
    assert sorted(ours) == sorted(theirs), "the same cells"
    for key, cell in theirs.items():
        assert ours[key] == cell, f"cell {cell['context']['kind']} {key} differs"
    a, b = ResultStore(out), ResultStore(local)
    for key, cell in theirs.items():
        if cell["context"].get("arrays"):
            for name, array in b.arrays(key).items():
                np.testing.assert_array_equal(a.arrays(key)[name], array, err_msg=f"{key} {name}")
    floors = [sorted(r["pass"] for r in _records(o / "results.jsonl") if r["kind"] == "floor") for o in (out, local)]
    assert floors[0] == floors[1] and floors[0]


def test_bench_on_ray_gives_the_local_results_cell_for_cell(engine, suite, tmp_path):
    from xaikit.bench import run_suite

    cfg, local = suite
    results = run_suite(cfg, tmp_path / "ray", engine=engine)
    assert not results.errors, results.errors
    assert results.environment["engine"]["engine"] == "ray" and results.environment["engine"]["workers"] == 2
    _same_as_local(tmp_path / "ray", local)
    again = run_suite(cfg, tmp_path / "ray", engine=engine)  # resumable as ever: everything is reused
    assert again.computed == 0 and again.reused == results.computed


def test_a_killed_worker_loses_nothing_and_writes_nothing_twice(engine, suite, tmp_path):
    from xaikit.bench import run_suite

    cfg, local = suite
    out = tmp_path / "ray"
    before = engine.worker_pids()
    killed: list[int] = []

    def kill_when_running() -> None:  # the first cell is stored: the workers are busy with the next ones
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if (out / "results.jsonl").exists() and len(_records(out / "results.jsonl")) >= 2:
                os.kill(before[0], signal.SIGKILL)
                killed.append(before[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    results = run_suite(cfg, out, engine=engine)
    killer.join()
    assert killed, "the worker was not killed during the run"
    assert not results.errors, results.errors
    after = engine.worker_pids()
    assert after[0] != before[0] and after[1] == before[1], "Ray restarted the killed worker"
    keys = [r["key"] for r in _records(out / "results.jsonl")]
    assert len(keys) == len(set(keys)) == results.computed, "every cell written once"
    _same_as_local(out, local)


def test_bulk_explanation_on_ray_equals_the_local_one(engine, tmp_path):
    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr, open_zarr

    pixels = np.asarray(zoo.load_data("shapes_cnn4", "test", n=20).images, np.float32) * np.float32(255)
    kwargs = {"method": "smoothgrad", "chunk_size": 4, "n_samples": 4, "seed": 3}
    local = explain_to_zarr("zoo:shapes_cnn4", pixels, tmp_path / "local.zarr", **kwargs)
    remote = explain_to_zarr("zoo:shapes_cnn4", pixels, tmp_path / "ray.zarr", engine=engine, **kwargs)
    assert (local.computed, remote.computed, remote.n_chunks) == (5, 5, 5) and remote.engine["engine"] == "ray"
    a, b = open_zarr(tmp_path / "local.zarr"), open_zarr(tmp_path / "ray.zarr")
    for name in ("maps", "targets", "predictions", "outputs", "done"):
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    assert a.attrs["xaikit_bulk"]["spec"] == b.attrs["xaikit_bulk"]["spec"]
    assert json.dumps(b.attrs["xaikit_bulk"]["run"]["params"]) == json.dumps(a.attrs["xaikit_bulk"]["run"]["params"])


def test_ray_workers_decode_the_files_themselves_and_equal_the_driver_decoding(engine, tmp_path):
    """Only file names travel to the workers (decode='auto' on one machine) and every array equals a local run's."""
    import cv2

    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr, open_zarr
    from xaikit.errors import InputError

    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(zoo.load_data("shapes_cnn4", "test", n=6).images):
        cv2.imwrite(str(folder / f"img{i:02d}.png"), np.round(image[..., ::-1] * 255).astype(np.uint8))
    kwargs = {"method": "gradcam", "chunk_size": 6}  # one chunk: one worker opens the model
    local = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "local.zarr", **kwargs)
    names = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "names.zarr", engine=engine, **kwargs)
    pixels = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "pixels.zarr", engine=engine, decode="driver",
                             **kwargs)
    assert local.traffic == {} and names.traffic["decode"] == "workers" and pixels.traffic["decode"] == "driver"
    image_bytes = 64 * 64 * 3 * 4  # a float32 model input
    assert pixels.traffic["to_workers"] >= image_bytes > 100 * names.traffic["to_workers"] > 0
    back = 64 * 64 * 4 + 4 * 4 + 8 + 8  # a float32 map, 4 float32 outputs, the target and the prediction (int64)
    assert pixels.traffic["from_workers"] == back
    assert names.traffic["from_workers"] == back + 8, "and the image's hash (uint64), computed where it was read"
    half = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "half.zarr", engine=engine, dtype="float16", **kwargs)
    assert half.traffic["from_workers"] == back + 8 - 64 * 64 * 2, "float16 maps are converted on the workers"
    np.testing.assert_array_equal(open_zarr(tmp_path / "half.zarr")["maps"][:],
                                  open_zarr(tmp_path / "local.zarr")["maps"][:].astype(np.float16))
    a = open_zarr(tmp_path / "local.zarr")
    for other in ("names.zarr", "pixels.zarr"):
        b = open_zarr(tmp_path / other)
        for name in ("maps", "targets", "predictions", "outputs", "done", "image_hashes"):
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=f"{other} {name}")
    again = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "names.zarr", engine=engine, **kwargs)
    assert (again.computed, again.reused) == (0, 1), "a resumed store checks the hashes the workers computed"
    with pytest.raises(InputError, match="decode='workers' is for a remote executor"):
        explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "x.zarr", decode="workers", **kwargs)
    with pytest.raises(InputError, match="the images are an array"):
        explain_to_zarr("zoo:shapes_cnn4", np.zeros((2, 64, 64, 3), np.float32), tmp_path / "y.zarr", engine=engine,
                        decode="workers", **kwargs)
    with pytest.raises(InputError, match="decode must be one of"):
        explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "z.zarr", decode="gpu", **kwargs)


def test_roar_cells_on_ray_give_the_local_accuracies(engine, tmp_path):
    from test_roar_torch import tiny_roar_inputs
    from xaikit_torch.zoo.roar import make_fit

    from xaikit.bench.roar import run_remove_and_retrain

    fit_kwargs, data, maps = tiny_roar_inputs(n_train=16, n_test=8)
    runs = {name: run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path / name, fractions=(0.5,),
                                         seeds=(0,), engine=how) for name, how in (("local", "local"), ("ray", engine))}
    assert runs["ray"].params["engine"]["engine"] == "ray" and runs["ray"].params["computed"] == 3
    np.testing.assert_array_equal(runs["ray"].accuracy, runs["local"].accuracy)
    np.testing.assert_array_equal(runs["ray"].baseline, runs["local"].baseline)
    assert runs["ray"].params["cell_keys"] == runs["local"].params["cell_keys"]
