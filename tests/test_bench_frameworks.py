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
    from xaikit.bench.speed_measure import core_methods

    cases = default_cases()
    floors = {(c.model, c.method, c.n_images) for c in cases if c.kind == "torch_floor"}
    for method in core_methods():  # every native method, one image and 64, on the twins; ResNet-18 at 224
        assert {("shapes_cnn4@torch", method, 1), ("shapes_cnn4@torch", method, 64),
                ("resnet18@torch", method, 1), ("shapes_cnn4@torch", method, 8)} <= floors, method
    keras_floors = {(c.model, c.method, c.n_images) for c in cases if c.kind == "floor"}
    assert {("shapes_cnn4", m, n) for m in core_methods() for n in (1, 8)} <= keras_floors  # the Keras twin
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


def test_speed_suite_on_a_gpu_runs_every_case_but_the_cpu_only_ones_and_keeps_cpu_keys():
    from xaikit.bench.speed import default_cases, summarize

    cpu, gpu = default_cases(quick=True), default_cases(quick=True, device="cuda")
    assert {c.device for c in cpu} == {"cpu"} and {c.device for c in gpu} == {"cuda"}
    assert "device" not in cpu[0].spec()  # CPU records written before devices existed keep their keys
    assert {c.kind for c in gpu} == {c.kind for c in cpu} - {"torch_threads", "engine", "bulk", "bulk_memory"}
    assert [c.spec() | {"device": "cuda"} for c in cpu if c.kind == "torch_floor"] == \
        [c.spec() for c in gpu if c.kind == "torch_floor"]
    assert "[cuda]" in next(c for c in gpu if c.kind == "floor").label
    records = [
        {"case": next(c for c in gpu if c.kind == "torch_floor").spec(),
         "result": {"seconds": 0.002, "floor_seconds": 0.002, "ratio": 1.0, "floor": "1 x forward",
                    "floor_batch_size": 1, "passes": 1}},
        {"case": next(c for c in gpu if c.kind == "torch_memory").spec(),
         "result": {"delta_mb": 3.0, "gpu_mb": 41.5}},
        {"case": next(c for c in cpu if c.kind == "torch_memory").spec(), "result": {"delta_mb": 5.0}}]
    text = summarize(records)
    assert "| shapes_cnn4@torch [cuda] |" in text and "| 3.0 | 41.5 |" in text and "| 5.0 | - |" in text


def test_speed_on_cuda_without_a_gpu_says_what_is_missing(monkeypatch):
    from click.testing import CliRunner

    from xaikit.bench import devices
    from xaikit.cli import main

    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        devices.check_device("tpu")
    monkeypatch.setattr(devices, "_torch_gpu", lambda: None)
    monkeypatch.setattr(devices, "_tensorflow_gpu", lambda: None)
    with pytest.raises(ValueError, match=r"torch.cuda.is_available\(\) is False.*tensorflow\[and-cuda\]"):
        devices.check_device("cuda")
    result = CliRunner().invoke(main, ["speed", "--device", "cuda", "-o", "unused"])
    assert result.exit_code == 2 and "no GPU is visible" in result.output, result.output


def test_gpu_tests_ask_for_a_cuda_device():
    """`pytest --device cuda` without a GPU stops at once with the reason (it does not skip every GPU test)."""
    from types import SimpleNamespace

    import conftest

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config = SimpleNamespace(getoption=lambda name: "cuda", addinivalue_line=lambda *a: None)
    with pytest.raises(pytest.UsageError, match="PyTorch sees no CUDA device"):
        conftest.pytest_configure(config)
