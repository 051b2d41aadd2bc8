"""The bench compares libraries across frameworks: a zoo network in Keras and as its PyTorch twin, a method run by
every library of both frameworks, reported in one table."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")

SUITE = """
[suite]
name = "frameworks"
n_images = 2
batch_size = 16
controls = []

[speed]
repeats = 1
floor = false

[metrics]
enabled = ["deletion"]
[metrics.deletion]
steps = 4

[[models]]
zoo = "shapes_cnn4"

[[models]]
zoo = "shapes_cnn4"
framework = "torch"

[[methods]]
method = "gradcam"
"""


def test_one_table_for_the_libraries_of_both_frameworks(tmp_path):
    from xaikit.bench import load_config, run_suite, write_reports
    from xaikit.registry import available_backends

    path = tmp_path / "frameworks.toml"
    path.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    config = load_config(path)
    results = run_suite(config, tmp_path / "out")
    assert not results.errors, results.errors
    report = write_reports(results, tmp_path / "out", figures=False)
    text = (tmp_path / "out" / "report.md").read_text()
    section = text.split("## Libraries across frameworks", 1)[1].split("\\n## ", 1)[0]
    expected = [("keras", b) for b in ("tensorflow", "tf-explain") if b in available_backends()]
    expected += [("torch", b) for b in ("torch", "captum", "pytorch-grad-cam") if b in available_backends()]
    for framework, backend in expected:
        assert f"| shapes_cnn4 ({framework}) | gradcam | {backend} |" in section, (framework, backend, section)
    assert report is not None


def test_speed_suite_has_the_torch_cases_and_reports_them():
    from xaikit.bench.speed import default_cases, summarize
    from xaikit.bench.speed_measure import _core_methods

    cases = default_cases()
    floors = {(c.model, c.method, c.n_images) for c in cases if c.kind == "torch_floor"}
    for method in _core_methods():  # every native method, one image and 64, on the twins; ResNet-18 at 224
        assert {("shapes_cnn4@torch", method, 1), ("shapes_cnn4@torch", method, 64),
                ("resnet18@torch", method, 1)} <= floors, method
    assert "partition_shap" not in {c.method for c in cases}  # no native floor for a library-only method
    kinds = {c.kind for c in cases}
    assert {"torch_overhead", "torch_library", "torch_memory", "torch_threads"} <= kinds
    records = [
        {"case": {"kind": "torch_floor", "model": "resnet18@torch", "method": "gradcam", "n": 1, "params": {},
                  "backends": ["torch"]},
         "result": {"seconds": 0.032, "floor_seconds": 0.030, "ratio": 1.07, "floor": "1 x (forward + backward)",
                    "floor_batch_size": 1, "passes": 1}},
        {"case": {"kind": "torch_overhead", "model": "resnet18@torch", "method": "gradcam", "n": 1, "params": {},
                  "backends": ["torch", "pytorch-grad-cam-api", "captum-api"]},
         "result": {"seconds": {"torch": 0.032, "pytorch-grad-cam-api": 0.1, "captum-api": 0.03},
                    "floor_seconds": 0.03, "ratio": {"pytorch-grad-cam-api": 3.1, "captum-api": 0.94}}},
        {"case": {"kind": "torch_memory", "model": "shapes_cnn4@torch", "method": "smoothgrad", "n": 1,
                  "params": {"n_samples": 200}, "backends": ["captum-api"]}, "result": {"delta_mb": 385.5}},
        {"case": {"kind": "torch_threads", "model": "resnet18@torch", "method": "smoothgrad", "n": 2,
                  "params": {}, "backends": ["torch"]}, "result": {"seconds": {"torch": 1.6}, "threads": 1}},
    ]
    text = summarize(records)
    assert "| resnet18@torch | gradcam | 1 | 32.0 ms | 30.0 ms | 1.07 |" in text
    assert "pytorch-grad-cam-api 100.0 ms; captum-api 30.0 ms; floor 30.0 ms" in text
    assert "| captum-api (shapes_cnn4@torch) | 200 | 385.5 |" in text and "| resnet18@torch | 2 | 1 | 1.60 s |" in text
