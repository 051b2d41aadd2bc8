"""The pytorch-grad-cam adapter: raw maps below the library's scaling, what the library itself returns from them,
and parity with the native PyTorch backend.

The library returns ``minmax(resize(minmax(relu(raw))))`` per image (``scale_cam_image`` after ``np.maximum``, with
``cv2.resize`` to the image; the second scaling after averaging one layer): checked bit for bit against its own
``__call__`` for every class. (cv2's bilinear resize is not exactly affine-equivariant, so ``minmax`` of the adapter's
bilinearly upsampled map is the library's output only to ~0.5 %.) The raw maps equal the native CAMs where the
definitions agree (same score, same layer); Grad-CAM++ differs by the library's ``1e-6`` in the denominator of
alpha, checked with the library's formula on the native engine's activations and gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk

grad_cam = pytest.importorskip("pytorch_grad_cam")
TARGETS = [1, 2, 3]
CLASSES = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM", "hirescam": "HiResCAM",
           "layercam": "LayerCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM", "eigencam": "EigenCAM",
           "eigengradcam": "EigenGradCAM"}


@pytest.fixture(scope="module")
def model(torch_cnn):
    return torch_cnn


def library(model, x, method, **params):
    return xk.explain(model, x, method=method, backend="pytorch-grad-cam", **params)


def minmax(maps):
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    return maps / (1e-7 + maps.max(axis=(1, 2), keepdims=True))


@pytest.mark.parametrize("method", list(CLASSES))
def test_library_output_is_the_scaled_raw_map(torch, model, torch_images, method):
    """What pytorch-grad-cam's __call__ returns = minmax of the adapter's rectified map, bilinearly upsampled."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    training = [m.training for m in model.modules()]
    exp = library(model, torch_images, method, layer="conv_b", targets=TARGETS, batch_size=2)
    assert exp.score == "probability" and exp.layer_attributions.shape == (3, 7, 11)
    assert [m.training for m in model.modules()] == training and all(p.grad is None for p in model.parameters())
    cam = getattr(grad_cam, CLASSES[method])(model=model, target_layers=[model.conv_b])
    try:
        theirs = cam(input_tensor=torch.from_numpy(torch_images.copy()),
                     targets=[ClassifierOutputTarget(t) for t in TARGETS])
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
        for module, flag in zip(model.modules(), training):
            module.training = flag
    from xaikit.kernels import resize_maps

    rectified = minmax(exp.layer_attributions)
    np.testing.assert_allclose(minmax(resize_maps(rectified, torch_images.shape[2:])), theirs, atol=2e-5)
    np.testing.assert_allclose(minmax(exp.attributions), theirs, atol=5e-3)


@pytest.mark.parametrize("method", ["gradcam", "xgradcam", "hirescam", "layercam"])
@pytest.mark.parametrize("score", ["probability", "logit"])
def test_gradient_cams_are_native(model, torch_images, method, score):
    exp = library(model, torch_images, method, layer="conv_b", targets=TARGETS, score=score)
    ref = xk.explain(model, torch_images, method=method, backend="torch", layer="conv_b", targets=TARGETS, score=score)
    np.testing.assert_allclose(exp.layer_attributions, ref.layer_attributions, rtol=1e-4,
                               atol=1e-6 * np.abs(ref.layer_attributions).max())
    signed = library(model, torch_images, method, layer="conv_b", targets=TARGETS, score=score, relu=False)
    assert (signed.layer_attributions < 0).any() or method == "layercam"  # the sign the library discards
    np.testing.assert_allclose(np.maximum(signed.layer_attributions, 0), exp.layer_attributions, rtol=1e-6)


@pytest.mark.parametrize("score", ["probability", "logit"])
def test_gradcam_plus_plus_is_the_library_formula_on_native_gradients(model, torch_images, score):
    from xaikit_torch.engine import engine_for

    acts, grads, _, _ = engine_for(model).layer_gradients(torch_images, np.array(TARGETS), score, "conv_b")
    g = grads.astype(np.float64)  # (N, h, w, C)
    sum_a = acts.sum(axis=(1, 2), keepdims=True, dtype=np.float64)
    alpha = np.where(g != 0, g ** 2 / (2 * g ** 2 + sum_a * g ** 3 + 1e-6), 0.0)
    weights = (np.maximum(g, 0) * alpha).sum(axis=(1, 2))
    expected = np.maximum((acts * weights[:, None, None, :]).sum(-1), 0)
    exp = library(model, torch_images, "gradcam++", layer="conv_b", targets=TARGETS, score=score)
    np.testing.assert_allclose(exp.layer_attributions, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_gradcam_weights_are_the_mean_gradients(model, torch_images):
    exp = library(model, torch_images, "gradcam", layer="conv_b", targets=TARGETS, batch_size=2)
    assert exp.extras["weights"].shape == (3, 6)


@pytest.mark.parametrize("method", ["eigencam", "eigengradcam"])
def test_eigen_cams_either_orientation_of_native(model, torch_images, method):
    exp = library(model, torch_images, method, layer="conv_b", relu=False, targets=TARGETS)
    ref = xk.explain(model, torch_images, method=method, backend="torch", layer="conv_b", relu=False, targets=TARGETS,
                     score=exp.score)
    for ours, theirs in zip(exp.layer_attributions, ref.layer_attributions):
        scale = np.abs(theirs).max()
        assert min(np.abs(ours - theirs).max(), np.abs(ours + theirs).max()) < 1e-4 * scale


def test_module_objects_and_default_layer(model, torch_images):
    exp = library(model, torch_images, "gradcam", layer=model.conv_b, targets=TARGETS)
    assert exp.layer == "conv_b"
    assert library(model, torch_images, "gradcam").layer == xk.explain(model, torch_images, method="gradcam",
                                                                       backend="torch").layer


def correlations(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.array([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)])


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "xgradcam", "layercam"])
def test_eigen_smooth_is_native_up_to_the_sign_of_the_libraries_svd(model, torch_images, method):
    """The projection on the first principal component, whose sign the library leaves to np.linalg.svd (the native
    one agrees with the channel sum): the unrectified maps agree up to that sign, the library's map is the native
    map's lobe on its side."""
    kw = {"layer": "conv_b", "targets": TARGETS, "eigen_smooth": True}
    theirs = library(model, torch_images, method, relu=False, **kw).layer_attributions
    ours = xk.explain(model, torch_images, method=method, backend="torch", relu=False, score="probability",
                      **kw).layer_attributions
    r = correlations(ours, theirs)
    assert np.all(np.abs(r) >= 0.999), r
    rectified = library(model, torch_images, method, **kw).layer_attributions
    lobes = np.maximum(np.sign(r)[:, None, None] * ours, 0)
    assert np.all(correlations(lobes, rectified) >= 0.999)


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
@pytest.mark.parametrize("option", [{"aug_smooth": True}, {"layer": ["bn_relu", "conv_b"]}])
def test_aug_smooth_and_several_layers_are_the_library_output(model, torch_images, method, option):
    kw = {"layer": "conv_b", "targets": TARGETS, **option}
    theirs = library(model, torch_images, method, **kw)
    ours = xk.explain(model, torch_images, method=method, backend="torch", score="probability", **kw)
    # each layer's (augmentation's) map min-max scaled as the library scales it: equal up to its final rescaling
    assert np.all(correlations(ours.attributions, theirs.attributions) >= 0.999)
    assert theirs.params["min_max_scaled"] is True and ours.layer_attributions is None
    assert ours.params["layer"] == kw["layer"] and ours.layer == theirs.layer
    if "aug_smooth" not in option:
        assert ours.layer == "bn_relu + conv_b"


def test_cam_options_do_not_depend_on_the_batch_and_name_their_limits(model, torch_images):
    from xaikit.errors import InputError

    kw = {"layer": ["bn_relu", "conv_b"], "targets": TARGETS, "eigen_smooth": True, "aug_smooth": True}
    one = xk.explain(model, torch_images, method="gradcam", backend="torch", batch_size=1, **kw)
    np.testing.assert_allclose(one.attributions, xk.explain(model, torch_images, method="gradcam", backend="torch",
                                                            **kw).attributions, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="relu=False needs one layer"):
        library(model, torch_images, "gradcam", layer=["bn_relu", "conv_b"], relu=False)
    with pytest.raises(InputError, match="distinct layers"):
        xk.explain(model, torch_images, method="gradcam", backend="torch", layer=["conv_b", "conv_b"])


def test_eigengradcam_is_the_library_eigengradcam(torch, model, torch_images):
    """pytorch-grad-cam's EigenGradCAM (``get_2d_projection(grads * activations)``, rectified, min-max scaled,
    resized, scaled again) is the native map's lobe on the side of the library's SVD sign, scaled as it scales."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from xaikit.kernels import resize_maps

    cam = grad_cam.EigenGradCAM(model=model, target_layers=[model.conv_b])
    try:
        theirs = cam(input_tensor=torch.from_numpy(torch_images.copy()),
                     targets=[ClassifierOutputTarget(t) for t in TARGETS])
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)
    kw = {"layer": "conv_b", "targets": TARGETS, "score": "probability", "backend": "torch"}
    signed = xk.explain(model, torch_images, method="eigengradcam", relu=False, **kw).layer_attributions
    rectified = xk.explain(model, torch_images, method="eigengradcam", **kw).layer_attributions
    np.testing.assert_array_equal(rectified, np.maximum(signed, 0))
    size = torch_images.shape[2:]
    lobes = [minmax(resize_maps(minmax(np.maximum(s * signed, 0)), size)) for s in (1.0, -1.0)]
    errors = np.stack([np.abs(lobe - theirs).max(axis=(1, 2)) for lobe in lobes])  # (sign, image)
    assert np.all(errors.min(axis=0) < 2e-5), errors
    best = np.where(errors[0] <= errors[1], lobes[0].T, lobes[1].T).T
    assert np.all(correlations(best, theirs) >= 0.999)
