"""xaikit.compare: several explainers on the same inputs, one agreement table."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk

pytestmark = pytest.mark.tensorflow


def test_compare_native_pairs(functional_cnn, images, background):
    cmp = xk.compare(functional_cnn, images,
                     pairs=[("gradcam", "tensorflow"), ("gradcam++", "tensorflow"), ("smoothgrad", "tensorflow"),
                            ("expected_gradients", "tensorflow")],
                     params={"gradcam": {"layer": "conv_b"}}, seed=0, n_samples=8, background=background,
                     batch_size=16)
    assert cmp.labels == ["gradcam (tensorflow)", "gradcam++ (tensorflow)", "smoothgrad (tensorflow)",
                          "expected_gradients (tensorflow)"]
    grad = cmp.explanations["gradcam (tensorflow)"]
    assert grad.layer == "conv_b" and grad.params["batch_size"] == 16
    assert cmp.explanations["smoothgrad (tensorflow)"].params["n_samples"] == 8  # common params reach who takes them
    assert "n_samples" not in grad.params
    for exp in cmp.explanations.values():  # every pair explains the same classes
        np.testing.assert_array_equal(exp.targets, cmp.targets)
    m = cmp.agreement.matrices["spearman"]
    assert m.shape == (4, 4) and np.allclose(np.diag(m), 1.0) and np.allclose(m, m.T)
    assert np.all((m >= -1 - 1e-9) & (m <= 1 + 1e-9))
    md = cmp.to_markdown()
    assert "gradcam (tensorflow)" in md and "seconds / image" in md
    assert set(cmp.timings) == set(cmp.labels)


def test_compare_errors(functional_cnn, images):
    with pytest.raises(xk.InputError, match="pairs is empty"):
        xk.compare(functional_cnn, images, pairs=[])
    with pytest.raises(xk.InputError, match="given twice"):
        xk.compare(functional_cnn, images, pairs=[("gradcam", "tensorflow"), ("gradcam", "tensorflow")])
    with pytest.raises(xk.UnknownNameError, match="registered backends"):
        xk.compare(functional_cnn, images, pairs=[("gradcam", "captum")])


def test_compare_across_backends_configured_to_agree(functional_cnn, images, background):
    pytest.importorskip("tf_explain")
    pytest.importorskip("shap")
    cmp = xk.compare(
        functional_cnn, images,
        pairs=[("gradcam", "tensorflow"), ("gradcam", "tf-explain"), ("expected_gradients", "tensorflow"),
               ("expected_gradients", "shap")],
        params={"gradcam": {"layer": "conv_b"},
                ("gradcam", "tensorflow"): {"relu": False, "score": "probability"},
                ("gradcam", "tf-explain"): {"guided": False},
                "expected_gradients": {"score": "probability", "n_samples": 200}},
        background=background, seed=0)
    m = cmp.agreement.matrices["spearman"]
    # Same definition (unguided, no ReLU, gradient of p): identical maps up to float32 round-off.
    assert m[0, 1] > 0.9999
    np.testing.assert_allclose(cmp.explanations["gradcam (tf-explain)"].attributions,
                               cmp.explanations["gradcam (tensorflow)"].attributions, rtol=1e-4, atol=1e-7)
    # Same estimator, independent random draws: statistical agreement only (200 samples each).
    assert m[2, 3] > 0.6
