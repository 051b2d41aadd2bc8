"""Metrics on one explanation and its model (``xk.metrics.deletion(exp, model)``): the bench's value, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit import metrics as M
from xaikit.errors import InputError


@pytest.fixture(scope="module")
def logit_net(torch):
    """A tiny PyTorch classifier returning logits (its probability is the softmax the bench computes)."""
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()
    x = np.random.default_rng(5).uniform(0, 1, (2, 3, 8, 8)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("metric, params", [("deletion", {"steps": 6}), ("insertion", {"steps": 6}),
                                            ("mu_fidelity", {"n_samples": 8, "grid_size": (4, 4), "seed": 4})])
def test_explanation_form_equals_the_bench_cell(logit_net, metric, params):
    from xaikit.bench.cells import Sample, metric_cell
    from xaikit.execution import OpenModel
    from xaikit.metrics.model_scores import PROBABILITY_FROM_LOGITS
    from xaikit.registry import services_for

    model, x = logit_net
    exp = xk.explain(model, x, "vanilla_gradients", progress=False)
    res = getattr(M, metric)(exp, model, x, **params)
    sample = Sample(images=x, targets=exp.targets, layout="NCHW", masks=None, has_mask=None, key="s")
    cell_params = {k: v for k, v in params.items() if k != "seed"}
    cell, _ = metric_cell(OpenModel(model, services_for(model), "NCHW"), sample=sample, maps=exp.attributions,
                          metric=metric, params=cell_params, transform="abs", score=PROBABILITY_FROM_LOGITS,
                          batch_size=32, seed=params.get("seed", 0))
    np.testing.assert_array_equal(res.values, cell["values"])  # same predict, same maps: exactly the bench's value
    assert res.values.shape == (2,) and res.values.dtype == np.float64
    assert res.params["scored"] == PROBABILITY_FROM_LOGITS and res.params["score"] == "probability"
    assert res.params["map_transform"] == "abs"  # vanilla gradients: |map|, as the bench's "auto"
    np.testing.assert_array_equal(res.targets, exp.targets)


def test_explanation_form_on_a_black_box_keeps_its_images_and_names_the_fixes():
    w = np.random.default_rng(0).normal(size=(6 * 6 * 3, 3)).astype(np.float32)

    def f(images):  # logits of a linear black box; its last activation is unknown: scored on its output
        return np.asarray(images, np.float32).reshape(len(images), -1) @ w

    x = np.random.default_rng(1).uniform(0, 1, (2, 6, 6, 3)).astype(np.float32)
    exp = xk.explain(f, x, "occlusion", patch_size=3, stride=3, progress=False)
    res = M.deletion(exp, f, steps=4)  # two images: the explanation keeps them (preview_images)
    ref = M.deletion(f, x, exp.attributions, exp.targets, steps=4, score="output")
    np.testing.assert_array_equal(res.values, ref.values)
    assert res.params["scored"] == "output"
    with pytest.raises(InputError, match=r"images has 2 image\(s\) but the explanation has 1 map"):
        M.deletion(exp[:1], f, x)
    with pytest.raises(InputError, match="model must be the model the explanation was computed on"):
        M.insertion(exp, 3, x)
    big = xk.explain(f, np.concatenate([x] * 3), "occlusion", patch_size=3, stride=3, progress=False)
    with pytest.raises(InputError, match="keeps only the first 4 of its 6 image.*pass images="):
        M.deletion(big, f)
    with pytest.raises(InputError, match="targets and attributions come from the explanation"):
        M.deletion(exp, f, targets=[0, 1])
