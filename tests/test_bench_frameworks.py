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
    from xaikit.bench import run_suite, write_reports
    from xaikit.registry import available_backends

    from xaikit.bench import load_config

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
