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
