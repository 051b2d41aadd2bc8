"""The bench's metric families: naming them in a suite, and the metric agreement of the report."""

from __future__ import annotations

import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from xaikit.bench import ConfigError, load_config
from xaikit.bench.config import DEFAULT_METRICS, FAITHFULNESS_METRICS, METRICS, builtin_suite
from xaikit.bench.metric_agreement import metric_agreement, rank_correlation

SUITE = """
[metrics]
enabled = {enabled}
{extra}

[[models]]
zoo = "shapes_cnn4"

[[methods]]
method = "gradcam"
"""


def _load(tmp_path, enabled, extra=""):
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(SUITE.format(enabled=enabled, extra=extra)), encoding="utf-8")
    return load_config(path)


def test_default_and_named_metrics(tmp_path):
    zoo = builtin_suite("zoo")
    assert zoo.metrics.enabled == DEFAULT_METRICS
    for name in ("faithfulness_correlation", "road", "infidelity", "max_sensitivity", "relevance_mass_accuracy"):
        assert name in zoo.metrics.enabled
    assert zoo.metrics.get("road")["fractions"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    every = list(METRICS)
    cfg = _load(tmp_path, every, "[metrics.region_perturbation]\npatch_size = 8\norder = 'lerf'\n")
    assert cfg.metrics.enabled == tuple(METRICS)
    assert cfg.metrics.get("region_perturbation") == {"patch_size": 8, "regions": 32, "order": "lerf",
                                                      "baseline": 0.0}


@pytest.mark.parametrize("extra, message", [
    ("[metrics.road]\nfractions = [10, 20]\n", "fractions must be a non-empty array of numbers in (0, 1)"),
    ("[metrics.road]\norder = 'random'\n", "order must be one of 'morf', 'lerf'"),
    ("[metrics.infidelity]\nnoise_std = 0\n", "noise_std must be > 0"),
    ("[metrics.max_sensitivity]\nn_samples = 0\n", "n_samples must be an integer >= 1"),
    ("[metrics.faithfulness_correlation]\nbaseline = 'grey'\n", "baseline must be one of zero, blur, mean"),
    ("[metrics.effective_complexity]\neps = 2\n", "eps must be in [0, 1)"),
    ("[metrics.top_k_intersection]\nk = 'ten'\n", "k must be an integer"),
])
def test_family_metric_errors_name_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, ["deletion"], extra)
    assert message in str(info.value), str(info.value)


def _model(scores: dict[str, np.ndarray], controls: int = 1):
    """A ModelResult-like object: one row per method, ``scores[metric]`` is ``(methods, images)``."""
    n_methods = next(iter(scores.values())).shape[0]
    rows = [SimpleNamespace(row=f"m{i} (tf)", control=False,
                            metrics={k: {"values": v[i].tolist(), "params": {}} for k, v in scores.items()})
            for i in range(n_methods)]
    rows += [SimpleNamespace(row=f"c{i} (control)", control=True, metrics={k: {"values": [0.0] * v.shape[1]}
                                                                         for k, v in scores.items()})
             for i in range(controls)]
    return SimpleNamespace(rows=rows)


def test_metric_agreement_of_agreeing_and_opposed_metrics():
    rng = np.random.default_rng(0)
    base = rng.random((5, 6))                                  # 5 methods, 6 images
    found = metric_agreement(_model({
        "insertion": base,                                      # higher is better
        "deletion": -base * 2 + 1,                              # lower is better: the same ordering
        "mu_fidelity": -base,                                   # the opposite ordering
    }), seed=0)
    assert found["methods"] == [f"m{i} (tf)" for i in range(5)]  # controls left out
    pairs = {(p["a"], p["b"]): p for p in found["pairs"]}
    same = pairs[("deletion", "insertion")]
    assert same["per_image"][0] == pytest.approx(1.0) and same["overall"][0] == pytest.approx(1.0)
    opposed = pairs[("insertion", "mu_fidelity")]
    assert opposed["overall"][:3] == pytest.approx((-1.0, -1.0, -1.0))
    assert np.allclose(opposed["per_image_values"], -1.0)
    least = found["sentence"].split("least between")[1]
    assert "MuFidelity" in least and "ρ = -1.00" in least
    assert "depends on the metric" in found["sentence"]
    # a failed cell (no values for one row) leaves that method out of that metric's orderings
    model = _model({"insertion": base, "road": -base})
    del model.rows[0].metrics["road"]
    again = metric_agreement(model, seed=0)
    assert again["pairs"][0]["overall"][0] == pytest.approx(1.0)


def test_metric_agreement_needs_three_methods_and_two_metrics():
    assert metric_agreement(_model({"insertion": np.ones((2, 3)), "deletion": np.ones((2, 3))})) is None
    assert metric_agreement(_model({"insertion": np.ones((4, 3))})) is None
    assert set(FAITHFULNESS_METRICS) <= set(METRICS)


def test_rank_correlation_ties_and_missing_values():
    from scipy.stats import spearmanr

    a = np.array([1.0, 2.0, 2.0, 5.0, 3.0])
    b = np.array([0.1, 0.5, 0.2, 0.9, 0.9])
    assert rank_correlation(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert np.isnan(rank_correlation(np.array([1.0, np.nan, 2.0, np.nan]), np.arange(4.0)))  # < 3 methods left
    assert np.isnan(rank_correlation(np.ones(4), np.arange(4.0)))                            # constant
