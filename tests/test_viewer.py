"""``xaikit view`` without a browser: tiles drawn by xaikit.viz's rules, chunked reads, the server's closed
doors, the bench folder, the static export, Ctrl-C, and ``import xaikit`` leaving the viewer alone.

The stores are written by :func:`xaikit.bulk.explain_to_zarr` from a NumPy linear model (black-box
backend, occlusion and RISE need no framework), so these tests import no deep-learning framework;
the real-browser test is in ``test_viewer_browser.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr", minversion="3")

N, H, W = 5, 12, 10
RNG = np.random.default_rng(3)
WEIGHTS = RNG.normal(size=(H * W * 3, 4)).astype(np.float32)


def _linear(x):
    return x.reshape(len(x), -1) @ WEIGHTS


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two stores of the same five image files (occlusion, RISE), chunks of 2 images."""
    import cv2
    from xaikit_callable import BlackBox

    from xaikit.bulk import explain_to_zarr

    root = tmp_path_factory.mktemp("viewer")
    (root / "images").mkdir()
    for i in range(N):
        cv2.imwrite(str(root / "images" / f"im{i}.png"), RNG.integers(0, 256, (H, W, 3), dtype=np.uint8))
    model = BlackBox(_linear, layout="NHWC")
    explain_to_zarr(model, root / "images", root / "occ.zarr", method="occlusion", chunk_size=2, patch_size=4)
    explain_to_zarr(model, root / "images", root / "rise.zarr", method="rise", chunk_size=2, n_samples=16, seed=1)
    return root


def _png(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def _pixels(root: Path, i: int) -> np.ndarray:
    from xaikit.io import load_images

    return load_images([root / "images" / f"im{i}.png"], size=(H, W))[0][0]


@pytest.mark.parametrize(("view", "cmap"), [("positive", "jet"), ("abs", "inferno"), ("signed", "RdBu_r"),
                                            ("auto", "jet")])
def test_a_tile_is_xaikit_viz_of_the_map_read_from_its_chunk(stores, view, cmap):
    from xaikit.bulk import open_zarr
    from xaikit.viewer import ViewerApp, open_source
    from xaikit.viz import overlay, signed_rgb

    source = open_source([stores / "occ.zarr", stores / "rise.zarr"])
    app = ViewerApp(source)
    tile = _png(app.tile(0, 3, view, cmap, 0.55))
    amap = np.asarray(open_zarr(stores / "occ.zarr")["maps"][3])
    image = _pixels(stores, 3)
    if view in ("signed", "auto"):  # occlusion is a signed method: auto draws it red/blue (shap colours)
        expected = signed_rgb(image[None], amap[None], cmap=cmap if view == "signed" else "shap")[0]
    else:
        expected = overlay(image[None], amap[None], colormap=cmap, alpha=0.55, normalize=view)[0]
    np.testing.assert_array_equal(tile, expected)
    assert source.chunk_cache.keys() == [(0, 1)]  # only the chunk of images 2-3 was read
    raw = np.frombuffer(app.raw(0, 3), "<f4").reshape(H, W)
    np.testing.assert_array_equal(raw, amap)


def test_the_index_has_one_column_per_store_and_the_per_image_arrays(stores):
    import zarr

    from xaikit.bulk import open_zarr
    from xaikit.viewer import ViewerApp, open_source

    with_metrics = stores / "rise_metrics.zarr"
    if not with_metrics.exists():  # a copy of a store with a per-image metrics array, which the index reads
        import shutil

        shutil.copytree(stores / "rise.zarr", with_metrics)
        group = zarr.open_group(str(with_metrics), mode="a")
        group.create_group("metrics").create_array("deletion", shape=(N,), dtype="float64")[:] = np.arange(N) / 10
    index = json.loads(ViewerApp(open_source([stores / "occ.zarr", with_metrics])).index_json())
    store = open_zarr(stores / "occ.zarr")
    assert [c["label"] for c in index["columns"]] == ["occlusion (callable)", "rise (callable)"]
    assert [c["view"] for c in index["columns"]] == ["signed", "signed"]  # the catalogue: both signed methods
    assert index["images"]["name"] == [str(stores / "images" / f"im{i}.png") for i in range(N)]
    assert index["images"]["prediction"] == store["predictions"][:].tolist()
    outputs = store["outputs"][:].astype(np.float64)  # logits of the linear model: confidence is their softmax
    soft = np.exp(outputs - outputs.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_allclose(index["images"]["confidence"], soft.max(1), atol=1e-4)
    assert index["metrics"] == {"rise (callable): deletion": [0.0, 0.1, 0.2, 0.3, 0.4]}
    assert "targets" not in index["columns"][1]  # the same classes as the first store: nothing to say


def test_a_store_that_explained_other_classes_says_so_in_its_column(stores, tmp_path):
    from xaikit_callable import BlackBox

    from xaikit.bulk import explain_to_zarr
    from xaikit.viewer import ViewerApp, open_source

    explain_to_zarr(BlackBox(_linear, layout="NHWC"), stores / "images", tmp_path / "class0.zarr",
                    method="occlusion", chunk_size=2, patch_size=4, targets=0)
    index = json.loads(ViewerApp(open_source([stores / "occ.zarr", tmp_path / "class0.zarr"])).index_json())
    assert index["columns"][1]["targets"] == [0] * N and "targets" not in index["columns"][0]


def test_a_chunk_not_yet_written_shows_the_darkened_image_and_no_confidence(stores, tmp_path):
    """A store a bulk run is still writing (or was killed in): its last chunk is NaN until computed."""
    import shutil

    import zarr

    from xaikit.viewer import ViewerApp, open_source

    shutil.copytree(stores / "occ.zarr", tmp_path / "running.zarr")
    group = zarr.open_group(str(tmp_path / "running.zarr"), mode="a")
    group["maps"][4:] = np.nan
    group["outputs"][4:] = np.nan
    group["done"][2] = 0
    app = ViewerApp(open_source([tmp_path / "running.zarr"]))
    np.testing.assert_array_equal(_png(app.tile(0, 4)), _pixels(stores, 4) // 2 + 64)
    assert np.isnan(np.frombuffer(app.raw(0, 4), "<f4")).all()
    confidence = json.loads(app.index_json())["images"]["confidence"]
    assert confidence[4] is None and all(c is not None for c in confidence[:4])


def test_stores_of_other_images_are_refused_with_the_fix(stores, tmp_path):
    import shutil

    import zarr

    from xaikit.errors import InputError
    from xaikit.viewer import open_source

    shutil.copytree(stores / "occ.zarr", tmp_path / "other.zarr")
    group = zarr.open_group(str(tmp_path / "other.zarr"), mode="a")
    info = dict(group.attrs["xaikit_bulk"])
    info["images"] = info["images"][::-1]
    group.attrs["xaikit_bulk"] = info
    with pytest.raises(InputError, match="view them separately"):
        open_source([stores / "occ.zarr", tmp_path / "other.zarr"])
    with pytest.raises(InputError, match="bench results folder"):
        open_source([tmp_path])


def test_the_cache_stays_within_its_bytes_and_makes_a_value_once_for_concurrent_requests():
    import threading
    import time

    from xaikit.viewer.cache import ByteLRU

    cache = ByteLRU(100)
    made = []

    def make(key):
        def run():
            made.append(key)
            time.sleep(0.05)
            return b"x" * 40
        return run

    threads = [threading.Thread(target=cache.get, args=("a", make("a"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["a"] and cache.hits == 5
    cache.get("b", make("b"))
    cache.get("a", make("a"))  # a is now the most recent
    cache.get("c", make("c"))  # 120 bytes: the least recently used (b) goes
    assert cache.keys() == ["a", "c"] and cache.bytes == 80
    assert len(cache.get("big", lambda: b"x" * 101)) == 101 and cache.keys() == ["a", "c"]


def _get(port: int, path: str, *, host: str | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    conn.endheaders()
    response = conn.getresponse()
    out = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return out


def test_the_server_answers_its_fixed_addresses_only(stores):
    from xaikit.viewer import ViewerApp, ViewerServer, open_source

    with ViewerServer(ViewerApp(open_source([stores / "occ.zarr"]))) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        status, headers, body = _get(server.port, "/")
        assert status == 200 and b"static/viewer.js" in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert _get(server.port, "/api/tile/0/4.png?view=abs&cmap=magma&alpha=0.2")[0] == 200
        for path in ("/../README.md", "/static/../app.py", "/static/%2e%2e/app.py", "/api/tile/0/5.png",
                     "/api/tile/1/0.png", "/api/raw/0/-1.f32", "/etc/passwd", "/static/viewer.js/..",
                     "/api/image/0/0.png/../../x", "//etc/passwd"):
            assert _get(server.port, path)[0] == 404, path
        assert _get(server.port, "/api/tile/0/1.png?view=<script>")[0] == 400
        assert _get(server.port, "/api/tile/0/1.png?alpha=2")[0] == 400
        assert _get(server.port, "/", host="evil.example:80")[0] == 403  # DNS rebinding
        assert _get(server.port, "/", method="POST")[0] == 501
        assert _get(server.port, "/", host=f"localhost:{server.port}")[0] == 200


def test_a_bench_folder_shows_its_table_and_the_maps_of_its_cells(tmp_path):
    """A folder as the bench leaves it (results store with a cell's maps, summary.json): rows point at their maps."""
    from xaikit.bench import ResultStore
    from xaikit.viewer import ViewerApp, open_source
    from xaikit.viz import overlay

    maps = RNG.normal(size=(3, 8, 8)).astype(np.float32)
    ResultStore(tmp_path).put("a" * 24, {"result": {"seconds_per_image": 0.01}},
                              {"attributions": maps, "targets": np.asarray([2, 0, 1]), "outputs": np.zeros((3, 3))})
    table = [{"model": "m", "label": "gradcam", "method": "gradcam", "backend": "torch", "control": False,
              "time": 0.01, "deletion": 0.2, "insertion": 0.7},
             {"model": "m", "label": "random", "method": "random", "backend": "control", "control": True,
              "time": None, "deletion": 0.4, "insertion": 0.5}]
    rows = [{"label": "gradcam", "method": "gradcam", "backend": "torch", "explain_key": "a" * 24},
            {"label": "random", "method": "random", "backend": "control", "explain_key": None}]
    (tmp_path / "summary.json").write_text(json.dumps({"suite": "<b>tiny</b>", "models": [{"id": "m", "rows": rows}],
                                                      "table": table}))
    app = ViewerApp(open_source([tmp_path]))
    index = json.loads(app.index_json())
    assert index["kind"] == "bench" and index["title"] == "<b>tiny</b>"
    assert [r["maps"] for r in index["table"]] == [0, None]
    assert index["table"][0]["cells"]["deletion"] == "0.200"
    assert index["columns"][0]["targets"] == [2, 0, 1] and index["columns"][0]["n"] == 3
    grey = np.full((1, 8, 8, 3), 128, np.uint8)  # the bench keeps no pixels: maps over flat grey
    np.testing.assert_array_equal(_png(app.tile(0, 1, "positive")), overlay(grey, maps[1:2], normalize="positive")[0])
    assert app.reply("/api/tile/0/3.png", {}).status == 404


def test_export_writes_bounded_static_pages_equal_to_the_served_tiles(stores, tmp_path):
    from xaikit.viewer import ViewerApp, export_site, open_source

    source = open_source([stores / "occ.zarr", stores / "rise.zarr"])
    done = export_site(source, tmp_path / "site", limit=3, detail_limit=1)
    site = tmp_path / "site"
    assert (done.images, done.detail_images, done.total_images) == (3, 1, N)
    assert sorted(p.name for p in (site / "api" / "tile" / "1").iterdir()) == ["0.png", "1.png", "2.png"]
    assert sorted(p.name for p in (site / "api" / "raw" / "0").iterdir()) == ["0.js"]
    assert (site / "api" / "tile" / "0" / "2.png").read_bytes() == ViewerApp(source).tile(0, 2)
    index = (site / "api" / "index.js").read_text()
    assert '"static":{"limit":3,"detail_limit":1,"total":5}' in index
    assert (site / "index.html").is_file() and (site / "static" / "viewer.js").is_file()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_site(source, site)


def test_cli_view_serves_until_ctrl_c_and_exports(stores, tmp_path):
    from click.testing import CliRunner

    from xaikit.cli import main

    result = CliRunner().invoke(main, ["view", str(stores / "occ.zarr"), "--export", str(tmp_path / "s"),
                                       "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "2 of 5 images per column" in result.output and (tmp_path / "s" / "api" / "tile" / "0" / "1.png").is_file()
    result = CliRunner().invoke(main, ["view", str(stores / "occ.zarr"), "--export", str(tmp_path / "s")])
    assert result.exit_code == 5 and "--overwrite" in result.output  # an existing export is kept
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["view", str(tmp_path / "empty")])
    assert result.exit_code == 3 and "bench results folder (with summary.json)" in result.output
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # a suite started in the background (`cmd &`, nohup) inherits SIGINT ignored, and so would the server, whose
    # Python then never raises KeyboardInterrupt: give the child the default disposition, as a terminal would
    proc = subprocess.Popen([sys.executable, "-m", "xaikit", "view", str(stores / "occ.zarr"), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = proc.stdout.readline()
        assert line.startswith("xaikit view: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        # generous bounds: they return as soon as the server answers (10 s timed out twice at load average 12-18)
        with urllib.request.urlopen(url + "api/index.json", timeout=60) as response:
            assert json.loads(response.read())["n"] == N
        proc.send_signal(signal.SIGINT)
        try:   # communicate drains both pipes while waiting: a full stderr pipe cannot block the server's exit
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"xaikit view did not stop within 60 s of Ctrl-C; its stderr ends: {err[-2000:]}")
        assert proc.returncode == 0 and "stopped" in out, err[-2000:]
    finally:
        proc.kill()
        proc.wait()


def test_import_xaikit_does_not_import_the_viewer():
    code = ("import sys, xaikit, xaikit.viz, xaikit.bulk, xaikit.bench, xaikit.cli; "
            "print(' '.join(m for m in sys.modules if m.startswith('xaikit.viewer') or m == 'http.server'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing xaikit pulled in: {out.stdout}"
