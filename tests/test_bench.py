"""The benchmark suite: configuration errors, the results store (resume after kill -9,
reuse, invalidation), the floor, the reports (self-contained HTML) and ``xaikit bench``.

Runs in well under 90 s on 2 cores: one small zoo model, 2-4 images, short curves.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from xaikit.bench import ConfigError, ResultStore, cell_key, load_config, parse_config
from xaikit.bench.config import builtin_suite, builtin_suites


# --------------------------------------------------------------------------- helpers
def _write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


TINY = """
[suite]
name = "tiny"
n_images = {n_images}
batch_size = 16
background = 4
controls = ["random", "edge"]

[speed]
repeats = 1
floor_batch_sizes = [1, 4]
floor_min_seconds = 0.02

[metrics.deletion]
steps = 6
[metrics.insertion]
steps = 6
[metrics.mu_fidelity]
grid_size = 4
n_samples = 8
[metrics.faithfulness_correlation]
n_samples = 6
[metrics.road]
fractions = [0.5]
[metrics.infidelity]
n_samples = 3
[metrics.max_sensitivity]
n_samples = 1
[metrics.randomisation]
n_images = 2

[[models]]
zoo = "shapes_cnn4"
[models.params.gradcam]
layer = "conv2d_3"

[[methods]]
method = "gradcam"
backends = ["tensorflow"]

[[methods]]
method = "smoothgrad"
backends = ["tensorflow"]
params = {{ n_samples = {n_samples} }}
"""


def _tiny(tmp_path: Path, n_images: int = 3, n_samples: int = 8, extra: str = "") -> Path:
    return _write(tmp_path, TINY.format(n_images=n_images, n_samples=n_samples) + extra)


def _records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a torn last line
            out.append(json.loads(line))
    return out


# --------------------------------------------------------------------------- configuration
def test_import_is_light():
    code = ("import sys, xaikit.bench, xaikit.bench.config, xaikit.execution; "
            "bad = [m for m in ('tensorflow', 'keras', 'matplotlib', 'shap', 'tf_explain') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_builtin_suites_parse():
    assert {"zoo", "quick"} <= set(builtin_suites())
    for name in ("zoo", "quick"):
        cfg = builtin_suite(name)
        assert cfg.models and cfg.methods
    zoo = builtin_suite("zoo")
    assert [(m.zoo, m.framework) for m in zoo.models] == [(n, f) for f in (None, "torch")
                                                          for n in ("shapes_cnn4", "shapes_binary", "digits_bn")]
    from xaikit.catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS

    assert {m.method for m in zoo.methods} == set(ATTRIBUTION_METHODS) - set(ATTENTION_METHODS)  # every CNN method
    seed = load_config(ROOT / "benchmarks" / "seed004.toml")
    labels = {m.label for m in seed.methods}
    assert {"gradcam@shallow", "gradcam@middle", "gradcam@deep"} <= labels
    xception = next(m for m in seed.models if m.id == "xception")
    assert not xception.quality and xception.weights == "none"
    eg = [m for m in seed.methods if m.method == "expected_gradients"]
    assert {m.ranked_outputs for m in eg} == {2}
    assert {repr(m.params.get("layer")) for m in eg} == {"{'input_of': 7}", "{'input_of': 14}"}


def test_every_other_method_entry():
    """``method = "*"``: at its place, every CNN attribution method the other entries do not name (a method added
    to the catalogue joins such a suite with no edit)."""
    from xaikit.catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS

    models = [{"zoo": "shapes_cnn4"}]
    cfg = parse_config({"models": models, "methods": [{"method": "rise", "params": {"n_samples": 8}},
                                                      {"method": "*"}, {"method": "gradcam"}]})
    others = [m for m in ATTRIBUTION_METHODS if m not in ATTENTION_METHODS and m not in ("rise", "gradcam")]
    assert [m.method for m in cfg.methods] == ["rise", *others, "gradcam"]
    assert cfg.methods[0].params == {"n_samples": 8}
    assert cfg.methods[1].params == {} and cfg.methods[1].label == others[0]
    with pytest.raises(ConfigError, match="may be given once"):
        parse_config({"models": models, "methods": [{"method": "*"}, {"method": "*"}]})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"models": models, "methods": [{"method": "*", "params": {"seed": 1}}]})


@pytest.mark.parametrize("text, message", [
    ("[suite]\nname = 1\n", "name must be a string"),
    ("[suite]\nn_images = \"ten\"\n", "n_images must be an integer"),
    ("[suite]\nn_images = 0\n", "n_images must be an integer >= 1"),
    ("[speed]\nrepeat = 3\n", "Did you mean 'repeats'"),
    ("[sweet]\nname = 'x'\n", "unknown key(s) 'sweet'"),
    ("[metrics]\nenabled = ['deletion', 'accuracy']\n", "unknown metric(s) ['accuracy']"),
    ("[metrics.deletion]\nsubstrate = 'noise'\n", "substrate must be"),
    ("[metrics.mu_fidelity]\nsubset_percent = 20\n", "subset_percent must be in (0, 1)"),
    ("[suite]\nn_images = 2\n", "no models"),
    ("[[models]]\nzoo = 'shapes_cnn4'\npath = 'm.keras'\n", "exactly one of"),
    ("[[models]]\nzoo = 'cats'\n", "unknown zoo model 'cats'; zoo models: shapes_cnn4"),
    ("[[models]]\npath = 'm.keras'\n", "needs images"),
    ("[[models]]\narch = 'VGG16'\n", "needs weights"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n", "no methods"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'no_such_method'\n",
     "unknown method 'no_such_method'; methods: occlusion"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'activations'\n", "feature maps, not attributions"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam'\nbackends = ['pytorch']\n",
     "unknown backend 'pytorch'; registered backends:"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam++'\nbackends = ['shap']\n",
     "does not implement 'gradcam++'"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam'\n[[methods]]\nmethod = 'gradcam'\n",
     "label(s) ['gradcam'] are used twice"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam'\nmodels = ['vgg']\n",
     "models ['vgg'] are not model ids"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[models.params.smoothgrad]\nn_samples = 3\n[[methods]]\nmethod = 'gradcam'\n",
     "params for ['smoothgrad']"),
    ("[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam'\nparams = { layer = { depth = 3 } }\n",
     "a table value is a layer reference"),
    ("[[models]\nzoo = 'x'\n", "is not valid TOML"),
])
def test_config_errors_name_the_key_and_the_fix(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value), str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_lists_builtin_suites(tmp_path):
    with pytest.raises(ConfigError, match="built-in suites: quick, zoo"):
        load_config(tmp_path / "nope.toml")


def test_config_relative_paths_and_defaults(tmp_path):
    cfg = parse_config({"models": [{"path": "m.keras", "images": "imgs", "masks": "masks", "id": "mine"}],
                        "methods": [{"method": "occlusion", "params": {"patch_size": [4, 6]}}]},
                       origin="x.toml", base=tmp_path)
    model = cfg.models[0]
    assert model.path == str(tmp_path / "m.keras") and model.images == str(tmp_path / "imgs")
    assert model.masks == str(tmp_path / "masks")
    assert cfg.methods[0].params["patch_size"] == (4, 6)  # arrays become tuples
    assert cfg.methods[0].backends is None  # "all" installed backends
    assert cfg.metrics.get("deletion") == {"steps": 51, "substrate": "zero"}


# --------------------------------------------------------------------------- store
def test_cell_key_is_canonical():
    a = cell_key({"m": "gradcam", "params": {"x": 1, "y": (1, 2)}, "bg": np.arange(20.0)})
    b = cell_key({"params": {"y": [1, 2], "x": 1}, "bg": np.arange(20.0), "m": "gradcam"})
    assert a == b
    assert a != cell_key({"m": "gradcam", "params": {"x": 2, "y": (1, 2)}, "bg": np.arange(20.0)})
    assert a != cell_key({"m": "gradcam", "params": {"x": 1, "y": (1, 2)}, "bg": np.arange(20.0) + 1})


def test_store_survives_a_cut_line_and_missing_side_files(tmp_path):
    store = ResultStore(tmp_path)
    store.put("a", {"result": {"v": 1.0, "nan": float("nan")}})
    store.put("b", {"result": {"v": 2}}, arrays={"maps": np.ones((2, 3, 3), np.float32)})
    with open(store.path, "ab") as fh:  # what kill -9 in the middle of a write leaves
        fh.write(b'{"key": "c", "result": {"v": 3')
    again = ResultStore(tmp_path)
    assert set(again.records) == {"a", "b"} and again.skipped_lines == 1
    assert again.get("a")["result"] == {"v": 1.0, "nan": None}
    np.testing.assert_array_equal(again.arrays("b")["maps"], np.ones((2, 3, 3), np.float32))
    again.put("d", {"result": {"v": 4}})
    lines = store.path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "d"]  # the cut line is gone
    (tmp_path / "cells" / "b.npz").unlink()  # a record whose maps are missing is not finished
    assert ResultStore(tmp_path).get("b") is None and "b" not in ResultStore(tmp_path)


def test_code_digest_changes_with_the_code(tmp_path, monkeypatch):
    from xaikit.execution import store

    pkg = tmp_path / "fake_backend_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(store, "_CODE_DIGESTS", {})
    before = store.code_digest("fake_backend_pkg")
    (pkg / "method.py").write_text("def explain(): return 2\n")
    monkeypatch.setattr(store, "_CODE_DIGESTS", {})
    assert store.code_digest("fake_backend_pkg") != before  # cells computed by the old code are not reused
    assert store.code_digest("no_such_module_xyz") == store.code_digest("no_such_module_xyz")


def test_peak_rss_sees_numpy_allocations():
    from xaikit.bench.memory import PeakRSS

    with PeakRSS(0.001) as mem:
        block = np.ones(80 * 2**20 // 8)
        time.sleep(0.02)
        del block
    assert mem.delta_mb > 50, (mem.start_mb, mem.peak_mb)


# --------------------------------------------------------------------------- TensorFlow parts
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def test_floor_on_a_tiny_model():
    import xaikit
    from xaikit.bench.floor import floor_plan, measure_pass_rate
    from xaikit.registry import services_for

    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flat")(h)
    out = keras.layers.Dense(3, activation="softmax", name="dense")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).uniform(0, 1, (3, 12, 12, 3)).astype(np.float32)
    t = np.array([0, 1, 2])
    engine = services_for(model).engine(model)
    score = "logit"
    cases = [("vanilla_gradients", {}, {}), ("smoothgrad", {"n_samples": 5, "seed": 0}, {}),
             ("gradcam", {"layer": "conv"}, {}), ("occlusion", {"patch_size": 4}, {}),
             ("expected_gradients", {"n_samples": 4, "seed": 0, "layer": "pool", "background": x}, {"k": 2})]
    for method, params, extra in cases:
        exp = xaikit.explain(model, x, method=method, targets=t, **params)
        plan = floor_plan(method, exp.params, layer=exp.layer, score=exp.score, default_score=score,
                          image_size=(12, 12), ranked_outputs=extra.get("k"))
        targets = np.stack([t, (t + 1) % 3], axis=1) if plan.k > 1 else t
        rate = measure_pass_rate(engine, x, targets, plan, batch_sizes=[1, 4], min_seconds=0.01)
        floor = plan.passes * rate["seconds_per_pass"]
        assert floor > 0 and np.isfinite(floor), (method, rate)
        ratio = (exp.elapsed / len(x)) / floor
        assert np.isfinite(ratio) and ratio > 0, (method, ratio)
        assert set(rate["tried"]) <= {1, 4} and rate["batch_size"] in rate["tried"]
    assert floor_plan("occlusion", {"n_windows": 9}, layer=None, score="logit", default_score="logit",
                      image_size=(12, 12)).passes == 10
    assert floor_plan("smoothgrad", {"n_samples": 7}, layer=None, score="cross_entropy_loss",
                      default_score="logit", image_size=(12, 12)).score == "logit"


def test_plan_merges_parameters_and_rejects_unknown_ones():
    from xaikit.bench.runner import plan_pairs

    data = {"suite": {"seed": 5, "batch_size": 8},
            "models": [{"zoo": "shapes_cnn4", "params": {"gradcam": {"layer": "conv2d_3"}}}],
            "methods": [{"method": "gradcam", "backends": ["tensorflow"], "params": {"layer": "conv2d"}},
                        {"method": "smoothgrad", "backends": ["tensorflow"], "params": {"n_samples": 3}}]}
    cfg = parse_config(data)
    pairs = {p.row: p for p in plan_pairs(cfg, cfg.models[0])}
    assert pairs["gradcam (tensorflow)"].params == {"batch_size": 8, "layer": "conv2d_3"}  # the model's wins
    assert pairs["smoothgrad (tensorflow)"].params == {"batch_size": 8, "seed": 5, "n_samples": 3}
    data["methods"][1]["params"] = {"n_sample": 3}
    cfg = parse_config(data)
    with pytest.raises(ConfigError, match=r"\['n_sample'\] are not taken by any of its backends"):
        plan_pairs(cfg, cfg.models[0])


def test_resume_after_kill_9_and_reuse(tmp_path):
    """A run killed with SIGKILL mid-way keeps every finished cell; the next run reuses them."""
    from xaikit.bench import run_suite

    config = _tiny(tmp_path, n_images=3, n_samples=96)
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    store_file = out / "results.jsonl"
    with open(tmp_path / "stderr.txt", "wb") as log:  # a file, not a pipe: a full pipe would stall the child
        proc = subprocess.Popen([sys.executable, "-m", "xaikit", "bench", str(config), "-o", str(out), "-q",
                                 "--no-figures"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log)
        # The kill waits for 3 finished cells however slow the machine is (a loaded machine took over a minute to
        # import the frameworks and trace): a deadline only bounds a run that hangs.
        deadline, finished = time.time() + 600, 0
        while time.time() < deadline and proc.poll() is None:
            finished = len(_records(store_file)) if store_file.exists() else 0
            if finished >= 3:
                break
            time.sleep(0.02)
        still_running = proc.poll() is None
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    assert still_running, f"the run ended before it could be killed: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
    assert finished >= 3, f"no 3 cells finished in 600 s: {(tmp_path / 'stderr.txt').read_text()[-2000:]}"
    assert proc.returncode == -9
    before = {r["key"]: r for r in _records(store_file)}
    assert len(before) >= 3

    cfg = load_config(config)
    first = run_suite(cfg, out)
    assert not first.errors, first.errors
    assert first.reused >= len(before), "every cell finished before the kill must be reused"
    assert first.computed >= 1, "the run was killed before the end, so something was left to compute"
    after = {r["key"]: r for r in _records(store_file)}
    for key, record in before.items():  # finished measurements are kept as they were
        assert after[key]["time"] == record["time"] and after[key].get("result") == record.get("result")

    second = run_suite(cfg, out)
    assert second.computed == 0 and second.reused == first.reused + first.computed

    # A damaged side file (truncated maps) does not break later runs: that cell is computed again, and said so.
    side = min((out / "cells").glob("*.npz"))
    side.write_bytes(side.read_bytes()[:100])
    repaired = run_suite(cfg, out)
    assert not repaired.errors, repaired.errors
    assert repaired.computed >= 1 and any("damaged" in note for note in repaired.notes)
    assert f"cell {side.stem}: damaged side file" in (out / "store.log").read_text()

    # A changed configuration invalidates only what it changes: the smoothgrad pair and the agreement.
    changed = run_suite(load_config(_tiny(tmp_path, n_images=3, n_samples=12)), out)
    per_pair = 1 + 12 + 1 + 1  # explain, 12 metrics, randomisation, floor (measured with the new timing)
    assert changed.computed == per_pair + 1, changed.computed  # + the agreement of all maps
    assert changed.reused == second.reused - per_pair - 1


def test_end_to_end_reports_are_complete_and_self_contained(tmp_path):
    from xaikit.bench import run_suite, write_reports

    cfg = load_config(_tiny(tmp_path, n_images=2, n_samples=4))
    results = run_suite(cfg, tmp_path / "out")
    assert not results.errors, results.errors
    (model,) = results.models
    rows = {r.row: r for r in model.rows}
    assert set(rows) == {"random (control)", "edge (control)", "gradcam (tensorflow)", "smoothgrad (tensorflow)"}
    for name in ("gradcam (tensorflow)", "smoothgrad (tensorflow)"):
        r = rows[name]
        assert set(r.metrics) == {"deletion", "insertion", "mu_fidelity", "faithfulness_correlation", "road",
                                  "infidelity", "max_sensitivity", "pointing_game", "energy_pointing_game",
                                  "relevance_mass_accuracy", "sparseness", "complexity"}
        assert len(r.metrics["road"]["accuracy"]) == 1 and r.metrics["max_sensitivity"]["mean"] >= 0
        assert r.explain["result"]["seconds_per_image"] > 0 and r.explain["result"]["peak_rss_mb"] > 0
        assert r.floor["floor_per_image"] > 0 and np.isfinite(r.floor["ratio"])
        assert r.randomisation["weights_restored"]
    assert "max_sensitivity" not in rows["random (control)"].metrics  # nothing to re-run for a control
    assert "road" in rows["random (control)"].metrics
    assert rows["edge (control)"].randomisation["final_spearman_abs"] == pytest.approx(1.0)
    assert model.agreement["names"] == [r.row for r in model.rows]

    written = write_reports(results)
    out = tmp_path / "out"
    for name in ("report.md", "report.html", "summary.json"):
        assert (out / name).is_file()
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"time_quality.png", "metrics_shapes_cnn4.png", "curves_shapes_cnn4.png", "compare_shapes_cnn4.png",
            "sanity_shapes_cnn4.png", "agreement_shapes_cnn4.png", "speed_shapes_cnn4.png"} <= set(pngs)
    assert set(pngs) <= set(written)

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| shapes_cnn4 | gradcam | tensorflow |" in md and "deletion AUC ↓" in md and "×floor" in md

    page = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)
    assert len(images) == len(pngs), "every figure is embedded once"
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"(src|href)\s*=\s*['\"](?!#|data:image/png;base64,)", page), "only inline images, anchors"
    stripped = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"https?:", stripped), "no external reference"
    assert not re.search(r"<(link|iframe|object|embed)\b", stripped)
    assert not re.search(r"<script[^>]+src=", stripped) and "@import" not in stripped and "url(" not in stripped
    for heading in ("How to read this", "Summary", "Sanity check", "Speed details", "lower is better",
                    "higher is better"):
        assert heading in page
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["models"][0]["id"] == "shapes_cnn4" and summary["table"]


def test_cli_bench_quick(tmp_path):
    from click.testing import CliRunner

    from xaikit.cli import main

    out = tmp_path / "quick"
    result = CliRunner().invoke(main, ["bench", "--quick", "-o", str(out), "--n-images", "2", "--no-figures", "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| shapes_cnn4 | gradcam |" in result.stdout
    assert (out / "report.html").is_file() and (out / "results.jsonl").is_file()
    # the suites' default align = true: every library ran the method's definition, and says what it set
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    aligned = {(r["method"], r["backend"]): r["result"]["aligned"] for r in records if r["kind"] == "explain"}
    assert {"layer", "relu", "score"} <= set(aligned["gradcam", "tf-explain"]["params"])
    assert not aligned["gradcam", "tf-explain"]["limits"]
    assert "score" in aligned["vanilla_gradients", "tf-explain"]["params"]
    agreement = next(r["result"] for r in records if r["kind"] == "agreement")
    names, rho = agreement["names"], np.array(agreement["matrices"]["spearman"])
    for method in ("gradcam", "vanilla_gradients"):  # the same definition computed by two libraries
        assert rho[names.index(f"{method} (tensorflow)"), names.index(f"{method} (tf-explain)")] >= 0.95, method

    bad = _write(tmp_path, "[[models]]\nzoo = 'shapes_cnn4'\n[[methods]]\nmethod = 'gradcam'\nbackends = ['nosuch']\n")
    result = CliRunner().invoke(main, ["bench", str(bad), "-o", str(tmp_path / "bad")])
    assert result.exit_code == 3 and "unknown backend 'nosuch'" in result.output

    result = CliRunner().invoke(main, ["bench", "--quick", "--method", "no_such_method", "-o", str(tmp_path / "x")])
    assert result.exit_code == 3 and "not in suite 'quick'" in result.output

    result = CliRunner().invoke(main, ["bench", "--quick", "--images", "dir/"])
    assert result.exit_code == 3 and "give --model FILE too" in result.output


def test_cli_bench_on_a_user_model_with_images_and_masks(tmp_path):
    """`xaikit bench --model m.keras --images dir --masks dir --preprocess scale255`: the user's own files."""
    import cv2
    from click.testing import CliRunner
    from xaikit_tensorflow import zoo

    from xaikit.cli import main

    model_file = tmp_path / "mine.keras"
    zoo.load_model("shapes_cnn4").save(model_file)
    data = zoo.load_data("shapes_cnn4", "test", n=5)
    (tmp_path / "img").mkdir()
    (tmp_path / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(data.images, data.masks)):
        cv2.imwrite(str(tmp_path / "img" / f"im{i}.png"), np.rint(image[..., ::-1] * 255).astype(np.uint8))
        if i != 2:  # one image without a mask: the pointing games skip it
            cv2.imwrite(str(tmp_path / "masks" / f"im{i}.png"), mask.astype(np.uint8) * 255)
    out = tmp_path / "out"
    args = ["bench", "--quick", "--model", str(model_file), "--images", str(tmp_path / "img"), "--masks",
            str(tmp_path / "masks"), "--preprocess", "scale255", "--n-images", "4", "--backend", "tensorflow",
            "--method", "gradcam", "--param", "gradcam.layer=conv2d_3", "-o", str(out), "--no-figures", "-q"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    (model,) = summary["models"]
    assert model["id"] == "mine" and model["info"]["masks"]
    row = next(r for r in model["rows"] if r["label"] == "gradcam")
    assert row["speed"]["layer"] == "conv2d_3"
    pointing = row["metrics"]["pointing_game"]
    assert 1 <= pointing["n_valid"] <= 4 and len(pointing["values"]) == 4


def test_a_suite_asks_for_unsafe_and_only_the_caller_grants_it(tmp_path):
    """A suite's ``unsafe = true`` runs no code by itself: the run stops, naming the model and why."""
    import cv2
    import keras
    from click.testing import CliRunner

    from xaikit.bench import run_suite
    from xaikit.cli import main
    from xaikit.errors import InputError

    marker = tmp_path / "ran"
    where = str(marker)
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Lambda(lambda t: __import__("pathlib").Path(where).touch() or t)(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(hidden)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled)).save(tmp_path / "model.keras")
    marker.unlink(missing_ok=True)  # building the model ran the Lambda once
    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), np.full((8, 8, 3), 128, np.uint8))
    suite = _write(tmp_path, """
        [suite]
        name = "shared"
        n_images = 1
        controls = []
        [speed]
        repeats = 1
        floor = false
        [metrics]
        enabled = []
        [[models]]
        path = "model.keras"
        images = "img"
        unsafe = true
        [[methods]]
        method = "occlusion"
        backends = ["tensorflow"]
        params = { patch_size = 4 }
        """)
    why = r"(?s)model 'model' \(file:model.keras\) asks for unsafe.*Lambda.*--unsafe.*unsafe=True"
    with pytest.raises(InputError, match=why):
        run_suite(load_config(suite), tmp_path / "api")
    result = CliRunner().invoke(main, ["bench", str(suite), "-o", str(tmp_path / "cli"), "--no-figures", "-q"])
    assert result.exit_code == 3 and re.search(why, result.output), result.output
    assert not marker.exists() and not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
    result = CliRunner().invoke(main, ["bench", str(suite), "-o", str(tmp_path / "cli"), "--no-figures", "-q",
                                       "--unsafe"], catch_exceptions=False)
    assert result.exit_code == 0 and marker.exists(), result.output  # the caller trusts it: the model runs


def test_speed_report_assembles_the_latest_record_of_each_case_without_measuring(tmp_path):
    from xaikit.bench.speed import default_cases, run_speed_suite
    from xaikit.execution import ResultStore

    case = next(c for c in default_cases(quick=True) if c.kind == "memory")
    store = ResultStore(tmp_path)
    for key, when, mb in [("old", "2026-01-01T00:00:00", 111.0), ("new", "2026-01-02T00:00:00", 222.0)]:
        store.put(key, {"case": case.spec(), "result": {"delta_mb": mb}, "time": when})
    records = run_speed_suite(tmp_path, quick=True, report_only=True, log=lambda s: None)
    assert [r["result"]["delta_mb"] for r in records] == [222.0]  # only the measured case, its latest record
    text = (tmp_path / "speed.md").read_text()
    assert "222.0" in text and "111.0" not in text and "Assembled from the latest record" in text


# --------------------------------------------------------------------------- input-range dependent parameters
def test_range_dependent_parameters_follow_the_preprocessing(tmp_path):
    """`bench --model --preprocess caffe` reused the zoo suite's occlusion baseline 0.5 and tf-explain
    noise 0.15, chosen for [0, 1] inputs; they are now a grey pixel and 15 % of the input range."""
    from types import SimpleNamespace

    from xaikit.bench.config import ModelEntry
    from xaikit.bench.runner import Pair, _Runner
    from xaikit.preprocessing import get_scheme

    suite = builtin_suite("zoo")
    occlusion = next(m for m in suite.methods if m.method == "occlusion")
    smoothgrad = next(m for m in suite.methods if m.method == "smoothgrad")
    assert occlusion.params["baseline"] == {"pixel": "grey"}
    assert smoothgrad.backend_params["tf-explain"]["noise_std"] == {"range_fraction": 0.15}
    assert smoothgrad.params["noise"] == 0.15  # native (and the Captum adapter's) noise is range-relative already
    suite = replace(suite, align=False)  # the values as configured (alignment needs a real model: tested apart)
    runner = _Runner(suite.with_models([ModelEntry(id="m", path="m.keras", images="d")]), tmp_path, reuse=False,
                     log=lambda s: None, progress=False)
    grey = np.full((1, 1, 1, 3), 127.5, np.float32)
    expected = {"scale255": (0.5, 0.15), "tf": (0.0, 0.3), "caffe": (get_scheme("caffe").forward(grey)[0, 0, 0], 38.25)}
    for scheme, (baseline, noise) in expected.items():
        pm = SimpleNamespace(scheme=scheme, images=np.zeros((1, 8, 8, 3), np.float32), channels=3)
        occ = runner.params_for_run(pm, Pair("m", "occlusion", "occlusion", "tensorflow", dict(occlusion.params)))
        np.testing.assert_allclose(occ["baseline"], baseline, rtol=1e-6)
        sg = runner.params_for_run(pm, Pair("m", "smoothgrad", "smoothgrad", "tf-explain",
                                             {**smoothgrad.params, **smoothgrad.backend_params["tf-explain"]}))
        assert sg["noise_std"] == pytest.approx(noise)
    # on the zoo's [0, 1] images the values are the ones the suite always used: finished cells stay valid
    pm = SimpleNamespace(scheme="scale255", images=np.zeros((1, 8, 8, 3), np.float32), channels=3)
    occ = runner.params_for_run(pm, Pair("m", "occlusion", "occlusion", "tensorflow", dict(occlusion.params)))
    assert type(occ["baseline"]) is float and occ["baseline"] == 0.5


@pytest.mark.parametrize("value,match", [({"pixel": "beige"}, "pixel must be"), ({"pixel": 300}, "pixel must be"),
                                         ({"range_fraction": -1}, "range_fraction must be"),
                                         ({"pixel": "grey", "x": 1}, "a table value is")])
def test_input_unit_references_are_checked(value, match):
    data = {"models": [{"zoo": "shapes_cnn4"}], "methods": [{"method": "occlusion", "params": {"baseline": value}}]}
    with pytest.raises(ConfigError, match=match):
        parse_config(data)


def test_bench_param_bools_and_twice(tmp_path):
    from click.testing import CliRunner

    from xaikit.cli import main

    base = ["bench", "--quick", "--dry-run", "--method", "gradcam"]
    res = CliRunner().invoke(main, [*base, "--param", "gradcam.relu=False"], catch_exceptions=False)
    assert res.exit_code == 0 and '"relu": false' in res.stdout
    res = CliRunner().invoke(main, [*base, "--param", "gradcam.relu=nah"], catch_exceptions=False)
    assert res.exit_code == 3 and "--param relu takes true or false" in res.stderr
    res = CliRunner().invoke(main, [*base, "--param", "gradcam.relu=1", "--param", "gradcam.relu=0"],
                             catch_exceptions=False)
    assert res.exit_code == 3 and "twice" in res.stderr
    res = CliRunner().invoke(main, ["bench", "--quick", "--dry-run", "--seed", str(2**32)], catch_exceptions=False)
    assert res.exit_code == 2 and "--seed" in res.stderr


# --------------------------------------------------------------------------- intervals, findings, figures
def _fake_results(rows: dict[str, tuple[list[float], list[float]]], seed: int = 0):
    """A model result with given per-image deletion / insertion values (label -> (deletion, insertion))."""
    from types import SimpleNamespace

    from xaikit.bench.config import ModelEntry
    from xaikit.bench.runner import ModelResult, RowResult

    out = []
    for label, (dele, ins) in rows.items():
        control = label in ("random", "edge")
        r = RowResult(label, label, "control" if control else "tensorflow", control=control)
        r.metrics = {"deletion": {"values": dele, "mean": float(np.mean(dele))},
                     "insertion": {"values": ins, "mean": float(np.mean(ins))}}
        out.append(r)
    mr = ModelResult(ModelEntry(id="mine", path="mine.keras"), {"n_images": len(dele)}, out)
    return SimpleNamespace(models=[mr], config=SimpleNamespace(seed=seed)), mr


def test_bootstrap_intervals_are_seeded_and_paired():
    from xaikit.bench.intervals import difference, interval, resamples, separated

    idx = resamples(4, seed=0)
    assert np.array_equal(idx, resamples(4, seed=0)) and not np.array_equal(idx, resamples(4, seed=1))
    mean, lo, hi = interval([0.1, 0.2, 0.3, 0.4], idx)
    assert mean == pytest.approx(0.25) and 0.1 <= lo < mean < hi <= 0.4
    assert interval([0.1, None, 0.3, np.nan], idx)[0] == pytest.approx(0.2)  # missing values skipped
    # the images vary a lot, a method is better on every one: the paired difference separates
    a, b = [0.9, 0.5, 0.2, 0.7], [0.8, 0.4, 0.1, 0.6]
    assert separated(difference(a, b, idx)) == 1 and separated(difference(b, a, idx)) == -1
    assert separated(difference([0.5, 0.1, 0.6, 0.2], [0.1, 0.5, 0.2, 0.6], idx)) == 0


def test_findings_claim_only_what_the_intervals_support():
    """The user's report called expected gradients "most faithful" although its deletion AUC was the worst and
    equal to the random map's, on 4 images: on its own it cannot be told from the random map there."""
    from xaikit.bench.report import findings, markdown_table, summary_rows

    rnd_del, rnd_ins = [0.30, 0.32, 0.29, 0.31], [0.84, 0.85, 0.83, 0.84]
    results, mr = _fake_results({
        "random": (rnd_del, rnd_ins),
        "expected_gradients": (rnd_del, [0.99, 0.60, 0.99, 0.98]),  # one image far worse: a wide interval
        "occlusion": ([0.10, 0.13, 0.11, 0.12], [0.97, 0.96, 0.97, 0.98]),
    })
    text = findings(results, mr)
    most = [f for f in text if f.startswith("Most faithful")]
    assert len(most) == 1 and "occlusion" in most[0] and "expected_gradients" not in most[0]
    assert any(f.startswith("Not distinguishable from the random map") and "expected_gradients" in f for f in text)
    assert any(f.startswith("Better than the random map") and "occlusion" in f for f in text)
    assert any(f.startswith("Deletion AUC alone not distinguishable") and "expected_gradients" in f for f in text)
    table = markdown_table(summary_rows(results))
    assert "| mine | occlusion | tensorflow | 0.115 [0.10" in table  # means with their intervals
    # two methods whose difference the 4 images cannot resolve: neither is called the most faithful
    results, mr = _fake_results({"random": (rnd_del, rnd_ins), "a": ([0.1, 0.2, 0.1, 0.2], [0.9, 0.9, 0.95, 0.9]),
                                 "b": ([0.2, 0.1, 0.2, 0.1], [0.9, 0.95, 0.9, 0.9])})
    text = findings(results, mr)
    assert not any(f.startswith("Most faithful") for f in text)
    assert any(f.startswith("No single most faithful method on these 4 images") and "not separated from it" in f
               for f in text)


def test_time_quality_labels_do_not_overlap():
    """Points close together (same time, similar quality) got labels drawn over each other."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from xaikit.bench.plots import time_quality_figure

    points = {  # (seconds per image, causal gap) of the user's report, where labels were drawn over each other
        "gradcam": (0.0015, 0.488), "gradcam++": (0.0018, 0.400), "vanilla_gradients": (0.0032, 0.740),
        "gradient_x_input": (0.0017, 0.695), "smoothgrad": (0.106, 0.681), "integrated_gradients": (0.089, 0.691),
        "occlusion": (0.058, 0.854), "expected_gradients": (0.341, 0.692)}
    names = list(points)
    _, mr = _fake_results({n: ([0.3], [0.3 + q]) for n, (_, q) in points.items()})
    for r in mr.rows:
        r.explain = {"result": {"seconds_per_image": points[r.label][0]}}
    fig = time_quality_figure([mr])
    renderer = FigureCanvasAgg(fig).get_renderer() if not isinstance(fig.canvas, FigureCanvasAgg) else \
        fig.canvas.get_renderer()
    ax = fig.axes[0]
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts  # the text, without a leader line
             if t.get_text() in {f"{n} (tensorflow)" for n in names}]
    assert len(boxes) == len(names)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two labels overlap"


def test_report_on_a_user_model_is_titled_for_it():
    from xaikit.bench.config import ModelEntry

    cfg = builtin_suite("zoo").with_models([ModelEntry(id="mine", path="mine.keras")])
    assert "Every zoo model" not in cfg.description
    assert cfg.description.startswith("mine (file:mine.keras) explained by the methods and libraries of the 'zoo'")


def test_randomisation_cell_on_a_channels_first_model():
    """The check takes channels-last images; a PyTorch model's sample (NCHW) goes back to its layout for the
    explainer (it used to reach the check as it was, and failed on the map size)."""
    pytest.importorskip("torch")
    from xaikit_torch.zoo import load_twin

    import xaikit as xk
    from xaikit import zoo
    from xaikit.bench.cells import Sample, randomisation_cell
    from xaikit.execution import OpenModel
    from xaikit.metrics import cascading_randomisation
    from xaikit.registry import services_for

    model = load_twin("shapes_cnn4")
    services = services_for(model)
    pixels = zoo.load_data("shapes_cnn4", split="test", n=2).images.astype(np.float32)
    sample = Sample(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)), np.array([0, 1]), "NCHW", None, None, "k")
    opened = OpenModel(model, services, layout="NCHW")
    check = {"mode": "cascading", "layers": ("dense_1.layer", "conv2d_3.layer")}
    sha = services.fingerprint(model)[:16]
    result, _ = randomisation_cell(opened, sample=sample, n=2, method="gradcam", backend="torch", params={},
                                   check=check, seed=0, weights_sha=sha, model_id="twin")
    direct = cascading_randomisation(
        lambda x, t: xk.explain(model, x.transpose(0, 3, 1, 2), method="gradcam", targets=t),
        services.randomizer(model), pixels, [0, 1], layers=check["layers"], seed=0)
    np.testing.assert_array_equal(result["spearman_abs"], direct.spearman_abs)
    edge, _ = randomisation_cell(opened, sample=sample, n=2, method=None, backend=None, params={}, check=check,
                                 seed=0, weights_sha=sha, model_id="twin")
    assert edge["final_spearman_abs"] == pytest.approx(1.0)


@pytest.mark.parametrize("figure", ["sanity", "curves"])
def test_a_long_legend_stays_in_the_figure_below_its_title(figure):
    """With 50 rows (every method and library of a PyTorch zoo model) the legend ran past the figure's height and
    the figure's title landed on the plots' titles."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from xaikit.bench.plots import curves_figure, sanity_figure

    _, mr = _fake_results({f"method_{i}": ([0.2, 0.3], [0.8, 0.9]) for i in range(50)})
    for r in mr.rows:
        r.metrics["deletion"].update(fractions=[0.0, 0.5, 1.0], curve_mean=[0.9, 0.4, 0.2])
        r.metrics["insertion"].update(fractions=[0.0, 0.5, 1.0], curve_mean=[0.2, 0.6, 0.9])
        r.randomisation = {"layers": ["dense", "conv"], "mean_spearman_abs": [0.5, 0.2], "mean_ssim": [0.4, 0.1]}
    fig = sanity_figure(mr) if figure == "sanity" else curves_figure(mr)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    page = fig.bbox
    legend = fig.axes[-1].get_legend().get_window_extent(renderer)
    assert page.y0 - 1 <= legend.y0 and legend.y1 <= page.y1 + 1, (legend, page)
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.title.get_window_extent(renderer)), "the figure's title covers a plot's title"


def test_causal_metrics_score_the_probability_of_a_logit_model_and_the_report_says_so():
    """A PyTorch classifier returns logits: asked for the probability, the deletion curve scores their softmax
    (it starts at p_c <= 1, not at the logit), and the report names what each model's metrics scored."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from xaikit.bench.cells import Sample, metric_cell
    from xaikit.bench.suite import PROBABILITY_FROM_LOGITS, causal_score
    from xaikit.bench.summary import causal_scores_text
    from xaikit.execution import OpenModel
    from xaikit.registry import services_for

    assert causal_score("probability", "softmax") == "probability"
    assert causal_score("probability", "linear") == PROBABILITY_FROM_LOGITS
    assert causal_score("probability", "unknown") == "output" and causal_score("logit", "linear") == "logit"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).eval()
        model[1].weight.data *= 20  # logits far from [0, 1]
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 4, 4)).astype(np.float32)
    services = services_for(model)
    logits = services.class_scores(model, x, "output", 2)
    t = np.argmax(logits, axis=1)
    sample = Sample(x, t, "NCHW", None, None, "k")
    score = causal_score("probability", services.describe(model, x).output_activation)
    rec, _ = metric_cell(OpenModel(model, services, "NCHW"), sample=sample, maps=np.ones((2, 4, 4), np.float32),
                         metric="deletion", params={"steps": 3, "substrate": "zero"}, transform="signed",
                         score=score, batch_size=8, seed=0)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(rec["start"], p[np.arange(2), t], rtol=1e-5)
    assert rec["scored"] == PROBABILITY_FROM_LOGITS and rec["params"]["score"] == "probability"
    results = SimpleNamespace(config=SimpleNamespace(metrics=SimpleNamespace(score="probability")),
                              models=[SimpleNamespace(id="cnn.keras", info={"output_activation": "softmax"}),
                                      SimpleNamespace(id="resnet18.pt", info={"output_activation": "linear"})])
    text = causal_scores_text(results)
    assert "on cnn.keras, the probability (the model's own" in text
    assert "on resnet18.pt, the probability (the softmax of the model's logits" in text


def test_bench_output_has_no_tensorflow_start_up_lines():
    """A fresh `xaikit bench` said what it loads and printed none of TensorFlow's oneDNN/CUDA lines (its plan
    imported the Keras adapters before TensorFlow was imported quietly)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "xaikit", "bench", "--zoo", "shapes_cnn4", "--dry-run", "--method",
                           "gradcam"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "loading TensorFlow" in proc.stderr and "gradcam (tf-explain)" in proc.stdout
    for noise in ("oneDNN", "cuda", "I0000", "absl"):
        assert noise not in proc.stderr + proc.stdout, proc.stderr
