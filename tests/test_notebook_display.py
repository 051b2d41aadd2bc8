"""What a result shows at the end of a notebook cell: the maps over the images kept in the result, at a readable
size, with the class names; the ranks of ``explain_ranked`` side by side; short reprs. A NumPy black box explains
(no framework), so the pictures are cheap."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import xaikit as xk
from xaikit.viz.notebook import MAX_IMAGES, strip_figure

NAMES = ("left", "right", "top")


def score(images: np.ndarray) -> np.ndarray:
    """Three class scores: the mean of the left half, the right half, the top half of the image."""
    x = np.asarray(images, np.float32).mean(axis=3)
    w, h = x.shape[2] // 2, x.shape[1] // 2
    return np.stack([x[:, :, :w].mean((1, 2)), x[:, :, w:].mean((1, 2)), x[:, :h].mean((1, 2))], axis=1)


@pytest.fixture(scope="module")
def images():
    x = np.random.default_rng(0).uniform(0, 0.2, (6, 16, 16, 3)).astype(np.float32)
    x[::2, :, :8] += 0.7  # left bright on even images, right bright on odd ones
    x[1::2, :, 8:] += 0.7
    return x


@pytest.fixture(scope="module")
def exp(images):
    return xk.explain(score, images, method="occlusion", patch_size=4)


def test_results_keep_their_first_images_for_the_display(exp, images):
    np.testing.assert_array_equal(exp.preview_images, images[:MAX_IMAGES])
    np.testing.assert_array_equal(exp[1:3].preview_images, images[1:3])
    assert exp[5].preview_images is None  # not among the images kept
    assert "preview" not in repr(exp)


def test_the_display_draws_the_maps_over_the_images_large_enough_to_read(exp, images):
    fig = strip_figure([("occlusion (callable)", exp)], class_names=NAMES)
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == MAX_IMAGES and fig.get_figwidth() >= MAX_IMAGES * 1.9  # one column per image, ~150 px each
    assert [ax.get_title() for ax in axes] == [f"#{i}: {NAMES[t]}" for i, t in enumerate(exp.targets[:4])]
    assert all(ax.title.get_fontsize() >= 10 for ax in axes)
    cell = np.asarray(axes[0].images[0].get_array(), float)
    alone = strip_figure([("x", replace(exp[:1], preview_images=None))], max_images=1)  # the same map, no image
    assert cell.shape[:2] == (16, 16)
    assert not np.allclose(cell, np.asarray(next(ax for ax in alone.axes if ax.images).images[0].get_array(), float))
    html = exp._repr_html_()
    assert html.count("data:image/png;base64,") == 1 and "score explained" in html


def test_ranked_outputs_side_by_side_with_class_names(images):
    ranked = xk.get_explainer(score, "occlusion", patch_size=4).explain_ranked(images[:2], 2, class_names=NAMES)
    assert isinstance(ranked, list) and isinstance(ranked, xk.RankedExplanations) and len(ranked) == 2
    assert "\n" not in repr(ranked) and len(repr(ranked)) < 200
    fig = strip_figure([(f"rank {r}", e) for r, e in enumerate(ranked)], class_names=ranked.class_names)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 4 and titles[0] == f"#0: {NAMES[int(ranked[0].targets[0])]}"
    assert {t.get_text().split("\n")[0] for t in fig.texts} >= {"rank 0", "rank 1"}
    assert "xaikit.RankedExplanations" in ranked._repr_html_()
    plot = ranked.plot(images[:2])
    assert len([ax for ax in plot.axes if ax.images]) == 2 * 3  # the image column and one per rank
    assert any(NAMES[int(ranked[1].targets[1])] in ax.get_title() for ax in plot.axes)


def test_plot_undoes_the_preprocessing_the_result_records(images):
    """``explain(..., preprocess="tf")`` records it: ``plot(x)`` shows the images, it no longer asks for ``undo``."""
    x = images * 2 - 1  # "tf": pixels / 127.5 - 1, values in [-1, 1]
    exp = xk.explain(lambda v: score((v + 1) / 2), x, method="occlusion", patch_size=4, preprocess="tf")
    assert exp.info["preprocess"] == "tf"
    fig = exp.plot(x)
    shown = next(ax for ax in fig.axes if ax.images).images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown, float)[..., :3], images[0], atol=1 / 255 + 1e-6)


def test_progress_in_python_names_what_runs_and_stays_off_when_not_interactive(images, monkeypatch, capsys):
    """A tqdm bar around explain/compare naming the method and backend (the pair of a comparison), drawn when the
    session is interactive or asked for; nothing in a captured stream (tests, logs) or with XAIKIT_PROGRESS=0."""
    from xaikit import progress

    monkeypatch.setattr(progress, "BAR_DELAY", 0.0)
    xk.explain(score, images[:1], method="occlusion", patch_size=8)
    assert capsys.readouterr().err == ""  # not interactive: silent
    xk.explain(score, images[:1], method="occlusion", patch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "occlusion (callable)" in err and "rows" in err
    from xaikit_callable import BlackBox

    xk.compare(BlackBox(score, layout="NHWC"), images[:1], [("occlusion", "callable"), ("rise", "callable")],
               patch_size=8, n_samples=64, seed=0, warmup=False, progress=True)
    err = capsys.readouterr().err
    assert "occlusion (callable) [1/2]" in err and "rise (callable) [2/2]" in err
    monkeypatch.setattr(progress, "_interactive", lambda: True)  # a notebook
    xk.explain(score, images[:1], method="occlusion", patch_size=8)
    assert "occlusion (callable)" in capsys.readouterr().err
    monkeypatch.setenv("XAIKIT_PROGRESS", "0")
    xk.explain(score, images[:1], method="occlusion", patch_size=8)
    assert capsys.readouterr().err == ""  # turned off by the environment
