"""Baselines made from images (xaikit.kernels.resolve_baseline): blur, a reference set's mean, one per image."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.errors import InputError
from xaikit.kernels import gaussian_blur, resolve_baseline

X = np.random.default_rng(0).uniform(0, 1, (3, 9, 7, 2)).astype(np.float32)


def test_blur_is_channel_wise_per_image_and_recorded_by_its_sigma():
    x = X.copy()
    x[..., 1] = 0.3  # a constant channel stays constant: no channel mixes into another
    base, record = resolve_baseline({"blur": 1.5}, x)
    assert base.shape == x.shape and record == {"blur": 1.5}
    np.testing.assert_allclose(base[..., 1], 0.3, rtol=1e-6)
    np.testing.assert_array_equal(resolve_baseline({"blur": 1.5}, x[1:2])[0][0], base[1])  # not batch-dependent
    assert abs(float(base[..., 0].mean()) - float(x[..., 0].mean())) < 0.05 < float(np.abs(base - x).max())
    first = np.moveaxis(resolve_baseline("blur", np.moveaxis(x, -1, 1), channel_axis=0)[0], 1, -1)
    np.testing.assert_allclose(first, gaussian_blur(x, 5.0), rtol=1e-6)  # channels first: the same blur


def test_a_reference_set_mean_and_per_image_arrays():
    refs = np.random.default_rng(1).uniform(0, 1, (5, 9, 7, 2)).astype(np.float32)
    base, record = resolve_baseline({"mean": refs}, X)
    np.testing.assert_allclose(base, refs.mean(axis=0), rtol=1e-6)
    assert record["mean"] is refs  # the explainer records it by shape and checksum
    per_image, _ = resolve_baseline(X[::-1].copy(), X)
    np.testing.assert_array_equal(per_image, X[::-1])
    with pytest.raises(InputError, match=r"one baseline per image: shape \(3, 9, 7, 2\)"):
        resolve_baseline(X[:2], X)
    with pytest.raises(InputError, match="needs the reference set"):
        resolve_baseline("mean", X)
    with pytest.raises(InputError, match="standard deviation in pixels"):
        resolve_baseline({"blur": -1}, X)
    with pytest.raises(InputError, match=r"reference set of shape \(M, 9, 7, 2\)"):
        resolve_baseline({"mean": refs[:, :4]}, X)


def test_methods_taking_one_baseline_refuse_one_per_image_by_name():
    from xaikit_callable import BlackBox

    import xaikit as xk

    w = np.random.default_rng(2).normal(size=(9 * 7 * 2, 3)).astype(np.float32)
    f = BlackBox(lambda images: np.asarray(images, np.float32).reshape(len(images), -1) @ w, layout="NHWC")

    with pytest.raises(InputError, match="occlusion .* takes one baseline for every image.*integrated_gradients"):
        xk.explain(f, X, "occlusion", patch_size=3, baseline="blur", progress=False)
    refs = np.random.default_rng(1).uniform(0, 1, (4, 9, 7, 2)).astype(np.float32)
    exp = xk.explain(f, X, "occlusion", patch_size=3, baseline={"mean": refs}, progress=False)
    ref = xk.explain(f, X, "occlusion", patch_size=3, baseline=refs.mean(axis=0, dtype=np.float64), progress=False)
    np.testing.assert_array_equal(exp.attributions, ref.attributions)
    assert exp.params["baseline"]["mean"]["array_shape"] == [4, 9, 7, 2]  # described, not dumped
