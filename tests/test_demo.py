"""The README's first command, ``python3 tasks.py demo`` (= ``xaikit demo``), writes every picture it promises."""

from __future__ import annotations

import pytest

pytest.importorskip("keras")


def test_the_demo_writes_every_picture(tmp_path):
    """It failed after the zoo moved into the core (``ZooEntry`` has no accuracy) and no test ran it."""
    from matplotlib.image import imread

    from xaikit.demo import run_demo
    from xaikit.registry import available_backends

    lines: list[str] = []
    written = run_demo(tmp_path, n_images=2, log=lines.append)
    names = {p.name for p in written}
    expected = {"demo.png", "demo_binary.png", "demo_digits.png", "demo_activations.png"}
    if {"torch", "captum", "pytorch-grad-cam"} <= set(available_backends()):
        expected.add("demo_frameworks.png")
    assert names == expected, names
    for path in written:
        picture = imread(path)
        assert picture.shape[0] > 100 and picture.shape[1] > 100 and picture.std() > 0.01, path.name
    assert any("test accuracy" in line for line in lines), lines[:3]
