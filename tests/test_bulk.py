"""Bulk explanation into Zarr: resumes after ``kill -9``, streams with bounded read-ahead, refuses another
run's store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3")

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from xaikit.bulk import explain_to_zarr

    explain_to_zarr("zoo:shapes_cnn4", sys.argv[1], sys.argv[2], method="smoothgrad", chunk_size=2, n_samples=24,
                    seed=5)
""")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    import cv2

    from xaikit import zoo

    folder = tmp_path_factory.mktemp("images")
    for i, image in enumerate(zoo.load_data("shapes_cnn4", "test", n=24).images):
        cv2.imwrite(str(folder / f"img{i:02d}.png"), np.round(image[..., ::-1] * 255).astype(np.uint8))
    return folder


def test_bulk_resumes_after_kill_9_and_equals_an_uninterrupted_run(image_folder, tmp_path):
    from xaikit.bulk import explain_to_zarr, open_zarr

    out = tmp_path / "killed.zarr"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    (tmp_path / "child.py").write_text(CHILD)
    with open(tmp_path / "stderr.txt", "wb") as log:
        proc = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(image_folder), str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            # zarr writes each chunk through a temporary file beside it: count only the chunks' own names
            if (out / "done" / "c").is_dir() and sum(p.name.isdigit() for p in (out / "done" / "c").iterdir()) >= 2:
                break
            time.sleep(0.01)
        still_running = proc.poll() is None
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    assert still_running, (tmp_path / "stderr.txt").read_text()[-2000:]
    finished = int(open_zarr(out)["done"][:].sum())
    assert 2 <= finished < 12

    resumed = explain_to_zarr("zoo:shapes_cnn4", image_folder, out, method="smoothgrad", chunk_size=2, n_samples=24,
                              seed=5)
    assert resumed.reused == finished and resumed.computed == 12 - finished
    whole = explain_to_zarr("zoo:shapes_cnn4", image_folder, tmp_path / "whole.zarr", method="smoothgrad",
                            chunk_size=2, n_samples=24, seed=5)
    assert whole.computed == 12
    a, b = open_zarr(out), open_zarr(tmp_path / "whole.zarr")
    for name in ("maps", "targets", "predictions", "outputs", "done"):
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    assert not np.isnan(a["maps"][:]).any()
    info = a.attrs["xaikit_bulk"]
    assert info["images"] == [str(p) for p in sorted(image_folder.iterdir())]
    assert info["model"]["fingerprint"] and info["versions"]["xaikit"] and info["run"]["params"]["seed"] == 5


def test_the_seed_drawn_on_the_first_run_is_the_one_resumed_with(tmp_path):
    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr, open_zarr

    pixels = np.asarray(zoo.load_data("shapes_cnn4", "test", n=6).images, np.float32) * np.float32(255)
    out = tmp_path / "m.zarr"
    explain_to_zarr("zoo:shapes_cnn4", pixels[:6], out, method="smoothgrad", chunk_size=3, n_samples=4)
    store = open_zarr(out)
    seed = store.attrs["xaikit_bulk"]["seed"]
    first = store["maps"][:]
    import zarr

    zarr.open_group(str(out), mode="a")["done"][1] = 0  # as if killed before the second chunk was recorded
    again = explain_to_zarr("zoo:shapes_cnn4", pixels[:6], out, method="smoothgrad", chunk_size=3, n_samples=4)
    assert again.computed == 1 and open_zarr(out).attrs["xaikit_bulk"]["seed"] == seed
    np.testing.assert_array_equal(open_zarr(out)["maps"][:], first)


def test_a_store_of_another_run_is_refused_unless_overwritten(image_folder, tmp_path):
    from click.testing import CliRunner

    from xaikit.cli import main

    out = tmp_path / "maps.zarr"
    args = ["explain", "--zoo", "shapes_cnn4", "--images", str(image_folder / "img0*.png"), "--out", str(out),
            "--chunk-size", "4", "-q"]
    res = CliRunner().invoke(main, [*args, "--method", "gradcam"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, [*args, "--method", "vanilla_gradients"], catch_exceptions=False)
    assert res.exit_code == 5 and "differs in method" in res.output and "--overwrite" in res.output
    res = CliRunner().invoke(main, [*args, "--method", "vanilla_gradients", "--overwrite"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    from xaikit.bulk import open_zarr

    store = open_zarr(out)
    assert store["maps"].shape == (10, 64, 64) and store.attrs["xaikit_bulk"]["method"] == "vanilla_gradients"
    res = CliRunner().invoke(main, [*args, "-o", "x.png"], catch_exceptions=False)
    assert res.exit_code == 3 and "drop them, or drop --out" in res.output
    res = CliRunner().invoke(main, ["explain", "--zoo", "shapes_cnn4", "--engine", "ray"], catch_exceptions=False)
    assert res.exit_code == 3 and "add --out" in res.output


def test_the_reader_reads_at_most_prefetch_chunks_ahead():
    from xaikit.bulk.threads import ChunkReader as _Reader

    loaded, consumed = [], []
    lock = threading.Lock()

    def load(s: slice) -> np.ndarray:
        with lock:
            loaded.append(s.start)
            ahead = len(loaded) - len(consumed)
        assert ahead <= 2 + 2  # the queue (prefetch), the chunk being loaded, the one being handed over
        return np.zeros((1,))

    chunks = [(i, slice(i, i + 1)) for i in range(30)]
    reader = _Reader(load, chunks, prefetch=2)
    for i, _, _ in reader:
        time.sleep(0.002)
        with lock:
            consumed.append(i)
    assert consumed == list(range(30))


def test_the_writer_writes_in_order_boundedly_and_raises_a_write_error():
    from xaikit.bulk.threads import ChunkWriter as _Writer

    written: list[int] = []
    gate = threading.Event()

    def write(i, s, arrays, result):
        gate.wait(5)
        written.append(i)

    writer = _Writer(write, depth=2)
    handed = []

    def hand():
        for i in range(6):
            writer.put(i, slice(i, i + 1), {}, {})
            handed.append(i)

    t = threading.Thread(target=hand)
    t.start()
    time.sleep(0.3)
    assert len(handed) <= 2 + 1  # the queue and the chunk being written: the driver waits, memory stays bounded
    gate.set()
    t.join(5)
    writer.close()
    assert written == list(range(6))

    def broken(i, s, arrays, result):
        if i == 1:
            raise OSError("disk full")
        written.append(i)

    written.clear()
    writer = _Writer(broken)
    writer.put(0, slice(0, 1), {}, {})
    writer.put(1, slice(1, 2), {}, {})
    writer.put(2, slice(2, 3), {}, {})
    with pytest.raises(RuntimeError, match="writing the store failed: disk full"):
        writer.close()
    assert written == [0]  # nothing after the failed chunk is recorded as done


def test_chunks_explained_before_a_failing_chunk_are_written_and_kept(tmp_path, monkeypatch):
    from xaikit import bulk, zoo
    from xaikit.bulk import explain_to_zarr, open_zarr

    pixels = np.asarray(zoo.load_data("shapes_cnn4", "test", n=6).images, np.float32) * np.float32(255)
    real = bulk.explain_chunk

    def failing(model, **kw):
        if kw["images"].shape[0] and np.allclose(kw["images"][0], 0):
            raise ValueError("bad chunk")
        return real(model, **kw)

    bad = pixels.copy()
    bad[4:] = 0
    monkeypatch.setattr(bulk.schedule, "explain_chunk", failing)  # where the schedule finds it
    with pytest.raises(RuntimeError, match="chunk 2 .*bad chunk"):
        explain_to_zarr("zoo:shapes_cnn4", bad, tmp_path / "m.zarr", method="gradcam", chunk_size=2)
    store = open_zarr(tmp_path / "m.zarr")
    assert store["done"][:].tolist() == [1, 1, 0]
    assert np.isfinite(store["maps"][:4]).all() and np.isnan(store["maps"][4:]).all()


def test_the_result_separates_start_up_from_the_streaming_rate(tmp_path):
    from xaikit import zoo
    from xaikit.bulk import explain_to_zarr

    pixels = np.asarray(zoo.load_data("shapes_cnn4", "test", n=8).images, np.float32) * np.float32(255)
    res = explain_to_zarr("zoo:shapes_cnn4", pixels, tmp_path / "m.zarr", method="gradcam", chunk_size=2)
    assert res.computed == 4 and res.reused == 0
    assert 0 < res.startup_seconds < res.seconds
    assert res.steady_images_per_second == pytest.approx(6 / (res.seconds - res.startup_seconds), rel=1e-6)
    again = explain_to_zarr("zoo:shapes_cnn4", pixels, tmp_path / "m.zarr", method="gradcam", chunk_size=2)
    assert again.computed == 0 and again.images_per_second == 0 and again.steady_images_per_second == 0


def test_arrays_written_together_hold_every_value_and_other_arrays_are_written_one_by_one(tmp_path):
    zarr = pytest.importorskip("zarr", minversion="3")
    from xaikit.bulk import write_together

    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    maps = root.create_array("maps", shape=(6, 4, 5), chunks=(3, 4, 5), dtype="float32", fill_value=np.nan)
    labels = root.create_array("labels", shape=(6,), chunks=(3,), dtype="int64", fill_value=-1, compressors=None)
    values = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    write_together([(maps, slice(3, 6), values), (labels, slice(3, 6), np.array([7, 8, 9]))])
    again = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")  # read back from the files
    np.testing.assert_array_equal(again["maps"][3:], values)
    assert np.isnan(again["maps"][:3]).all()
    np.testing.assert_array_equal(again["labels"][:], [-1, -1, -1, 7, 8, 9])

    class Plain:  # no asynchronous interface: written with []
        def __init__(self) -> None:
            self.writes: list[tuple[slice, np.ndarray]] = []

        def __setitem__(self, s: slice, values: np.ndarray) -> None:
            self.writes.append((s, values))

    plain = Plain()
    write_together([(plain, slice(0, 2), np.ones(2))])
    assert [s for s, _ in plain.writes] == [slice(0, 2)]


def test_images_replaced_under_the_same_names_are_explained_again(image_folder, tmp_path):
    import shutil

    from xaikit.bulk import explain_to_zarr, open_zarr

    folder = tmp_path / "images"
    folder.mkdir()
    names = sorted(p.name for p in image_folder.iterdir())[:10]
    for name in names:
        shutil.copy2(image_folder / name, folder / name)
    out = tmp_path / "m.zarr"
    first = explain_to_zarr("zoo:shapes_cnn4", folder, out, method="gradcam", chunk_size=4)
    assert first.computed == 3 and first.changed == []
    old_maps = open_zarr(out)["maps"][:]
    for name, source in (("img01.png", "img11.png"), ("img09.png", "img12.png")):  # chunks 0 and 2
        stat = (folder / name).stat()
        shutil.copyfile(image_folder / source, folder / name)
        os.utime(folder / name, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same name and time, other pixels
    said = []
    again = explain_to_zarr("zoo:shapes_cnn4", folder, out, method="gradcam", chunk_size=4, log=said.append)
    assert again.computed == 2 and again.reused == 1
    assert again.changed == [str(folder / "img01.png"), str(folder / "img09.png")]
    assert any("2 image(s) changed" in line and "img01.png" in line for line in said)
    fresh = explain_to_zarr("zoo:shapes_cnn4", folder, tmp_path / "fresh.zarr", method="gradcam", chunk_size=4)
    a, b = open_zarr(out), open_zarr(tmp_path / "fresh.zarr")
    for name in ("maps", "targets", "predictions", "outputs", "image_hashes", "done"):
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    assert np.abs(a["maps"][:] - old_maps).max() > 0.1 and fresh.computed == 3
    untouched = explain_to_zarr("zoo:shapes_cnn4", folder, out, method="gradcam", chunk_size=4)
    assert untouched.computed == 0 and untouched.reused == 3 and untouched.changed == []


def test_the_image_hash_is_of_the_pixels_and_cheap():
    from xaikit.bulk import image_hashes

    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 64, 3), np.uint8)
    hashes = image_hashes(pixels)
    assert hashes.dtype == np.uint64 and len(set(hashes.tolist())) == 64
    other = pixels.copy()
    other[5, 10, 20, 1] ^= 1  # one bit of one image
    changed = image_hashes(other) != hashes
    assert changed.tolist() == [i == 5 for i in range(64)]
    np.testing.assert_array_equal(image_hashes(pixels[::-1].copy()), hashes[::-1])  # per image, not per batch


CONCURRENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    from xaikit.bulk import explain_to_zarr
    from xaikit_callable import BlackBox

    weights = np.linspace(-1, 1, 8 * 8 * 3 * 2).reshape(8, 8, 3, 2)
    model = BlackBox(lambda x: np.einsum("nhwc,hwck->nk", x, weights), layout="NHWC", output="logit",
                     version="test-1")
    pixels = np.random.default_rng(0).uniform(0, 255, (12, 8, 8, 3)).astype(np.float32)
    go = Path(sys.argv[2])
    Path(sys.argv[3]).touch()  # ready
    while not go.exists():
        time.sleep(0.001)
    res = explain_to_zarr(model, pixels, sys.argv[1], method="occlusion", chunk_size=2, patch_size=4,
                          baseline=0.0, log=print)
    print("computed", res.computed, "reused", res.reused, flush=True)
""")


def test_two_runs_on_one_new_store_at_once_both_finish_and_compute_each_chunk_once(tmp_path):
    """Two processes start together on a store that does not exist yet: one waits for the other, then keeps its
    chunks (without the lock: FileNotFoundError, ContainsArrayError, "Directory not empty"...)."""
    from xaikit.bulk import open_zarr

    (tmp_path / "child.py").write_text(CONCURRENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for round_ in range(1):  # one round failed before the lock (both runs computed every chunk, or a raw error)
        out, go = tmp_path / f"m{round_}.zarr", tmp_path / f"go{round_}"
        ready = [tmp_path / f"ready{round_}-{i}" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(out), str(go), str(flag)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for flag in ready]
        deadline = time.time() + 60
        while not all(flag.exists() for flag in ready) and time.time() < deadline:
            time.sleep(0.005)
        go.touch()  # both imported everything and wait at the line: they start together
        results = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, stderr) in zip(procs, results):
            assert proc.returncode == 0, stderr[-3000:]
        counts = sorted(stdout.strip().splitlines()[-1] for stdout, _ in results)
        assert counts == ["computed 0 reused 6", "computed 6 reused 0"], counts
        store = open_zarr(out)
        assert store["done"][:].tolist() == [1] * 6 and np.isfinite(store["maps"][:]).all()


def test_ctrl_c_says_the_finished_chunks_are_kept_and_how_to_resume(image_folder, tmp_path, monkeypatch):
    """Ctrl-C printed "Aborted!" and nothing about the store: now the message says how to resume, exit code 130."""
    from click.testing import CliRunner

    import xaikit.bulk
    from xaikit.cli import main

    def interrupted(*args, progress=None, **kwargs):
        progress(2, 10)  # two chunks done, then the user presses Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(xaikit.bulk, "explain_to_zarr", interrupted)
    res = CliRunner().invoke(main, ["explain", "--zoo", "shapes_cnn4", "--images", str(image_folder / "img0*.png"),
                                    "--out", str(tmp_path / "maps.zarr"), "--method", "gradcam", "-q"])
    assert res.exit_code == 130, res.output
    assert "run the same command again to resume" in res.output and "maps.zarr" in res.output


def test_float16_maps_are_within_the_stated_bound_of_float32_ones(image_folder, tmp_path):
    from click.testing import CliRunner

    from xaikit.bulk import FLOAT16_ABSOLUTE_ERROR, FLOAT16_RELATIVE_ERROR, explain_to_zarr, maps_as, open_zarr
    from xaikit.cli import main
    from xaikit.errors import InputError

    images = str(image_folder / "img0[0-3].png")
    explain_to_zarr("zoo:shapes_cnn4", images, tmp_path / "f32.zarr", method="gradcam", chunk_size=4)
    res = CliRunner().invoke(main, ["explain", "--zoo", "shapes_cnn4", "--images", images, "--out",
                                    str(tmp_path / "f16.zarr"), "--method", "gradcam", "--chunk-size", "4",
                                    "--dtype", "float16", "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    f32, f16 = open_zarr(tmp_path / "f32.zarr")["maps"][:], open_zarr(tmp_path / "f16.zarr")["maps"][:]
    assert f32.dtype == np.float32 and f16.dtype == np.float16 and np.abs(f32).max() > 0
    bound = np.maximum(FLOAT16_RELATIVE_ERROR * np.abs(f32), FLOAT16_ABSOLUTE_ERROR)
    assert np.all(np.abs(f16.astype(np.float64) - f32) <= bound)
    with pytest.raises(InputError, match="beyond float16's range"):
        maps_as(np.array([[[7e4]]], np.float32), "float16")
    res = CliRunner().invoke(main, ["explain", "--zoo", "shapes_cnn4", "--dtype", "float16"], catch_exceptions=False)
    assert res.exit_code == 3 and "add --out" in res.output
