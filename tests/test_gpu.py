"""The GPU path (marker ``gpu``): every native method on a CUDA model against the same model on the CPU, the
adapters and the conformance suite on the GPU, the model left where it was.

Run on a machine with a CUDA GPU::

    python3 tasks.py test -m gpu --device cuda

Skipped otherwise (no CUDA machine here). Tolerances allow TF32, which cuDNN uses for convolutions by default
on Ampere and newer GPUs (a 10-bit mantissa: unit roundoff 2^-11 ~ 4.9e-4 per product) and a ReLU unit near 0
switching between the two devices: a map must correlate with the CPU's at r >= 0.995 and its 99th percentile
of |GPU - CPU| stay within 2 % of the CPU map's largest magnitude. These bounds are derived, not measured
(no GPU was at hand): each run writes the measured spread per method to
``.xaikit-cache/gpu-spread.json`` and prints its path, so that the first GPU run measures them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from method_params import method_params

import xaikit as xk
from xaikit.catalogue import ATTRIBUTION_METHODS, METHODS

pytestmark = pytest.mark.gpu

NATIVE = [m for m in ATTRIBUTION_METHODS if METHODS[m].core]
MIN_R, P99_FRACTION = 0.995, 0.02
SPREAD: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def _write_spread(request):
    yield
    if not SPREAD:
        return
    path = Path(__file__).resolve().parents[1] / ".xaikit-cache" / "gpu-spread.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(SPREAD, indent=1, sort_keys=True))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"GPU against CPU, measured spread per method: {path}")


def assert_close_to_cpu(gpu: np.ndarray, cpu: np.ndarray, what: str) -> None:
    """The TF32-aware comparison of the module docstring; records the measured spread under ``what``."""
    diff = np.abs(gpu - cpu)
    scale = float(np.abs(cpu).max())
    r = float(np.corrcoef(gpu.ravel(), cpu.ravel())[0, 1]) if np.ptp(cpu) > 0 else 1.0
    p99 = float(np.percentile(diff, 99)) / max(scale, 1e-30)
    SPREAD[what] = {"r": r, "p99_fraction": p99, "max_fraction": float(diff.max()) / max(scale, 1e-30)}
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    assert r >= MIN_R and p99 <= P99_FRACTION, f"{what}: r={r:.5f}, p99 |diff| = {p99:.2%} of max |cpu|"


@pytest.fixture(scope="module")
def cuda_cnn(torch, torch_cnn):
    return copy.deepcopy(torch_cnn).cuda()


@pytest.mark.parametrize("method", NATIVE)
def test_native_methods_on_the_gpu_match_the_cpu(torch, torch_cnn, cuda_cnn, torch_images, torch_background,
                                                  method):
    params = method_params(method, torch_background)
    cpu = xk.explain(torch_cnn, torch_images, method=method, **params)
    gpu = xk.explain(cuda_cnn, torch_images, method=method, targets=cpu.targets, **params)
    assert_close_to_cpu(gpu.attributions, cpu.attributions, f"torch:{method}")
    np.testing.assert_array_equal(gpu.targets, cpu.targets)


def test_gpu_tensors_in_the_model_left_where_it_was(torch, cuda_cnn, torch_images):
    before = {k: v.detach().clone() for k, v in cuda_cnn.state_dict().items()}
    images = torch.from_numpy(torch_images).cuda()
    for method in ("gradcam", "smoothgrad", "integrated_gradients", "occlusion"):
        exp = xk.explain(cuda_cnn, images, method=method, **({"seed": 0} if method == "smoothgrad" else {}))
        assert isinstance(exp.attributions, np.ndarray) and exp.attributions.dtype == np.float32
    assert all(p.is_cuda for p in cuda_cnn.parameters()) and images.is_cuda
    for key, value in cuda_cnn.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("backend", ["captum", "pytorch-grad-cam"])
def test_adapters_on_the_gpu_match_the_cpu(torch, torch_cnn, cuda_cnn, torch_images, backend):
    if backend not in xk.list_backends():
        pytest.skip(f"{backend} is not installed")
    cpu = xk.explain(torch_cnn, torch_images, method="gradcam", backend=backend, layer="bn_relu")
    gpu = xk.explain(cuda_cnn, torch_images, method="gradcam", backend=backend, layer="bn_relu",
                     targets=cpu.targets)
    assert_close_to_cpu(gpu.attributions, cpu.attributions, f"{backend}:gradcam")


def test_keras_on_the_gpu_matches_the_cpu(functional_cnn, images, background):
    tf = pytest.importorskip("tensorflow")
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees no GPU (pip install 'tensorflow[and-cuda]')")
    for method in ("gradcam", "vanilla_gradients", "smoothgrad", "integrated_gradients", "occlusion"):
        params = method_params(method, background)
        with tf.device("/CPU:0"):
            cpu = xk.explain(functional_cnn, images, method=method, **params)
        with tf.device("/GPU:0"):
            gpu = xk.explain(functional_cnn, images, method=method, targets=cpu.targets, **params)
        assert_close_to_cpu(gpu.attributions, cpu.attributions, f"tensorflow:{method}")


def _gpu_conformance_checks():
    from xaikit.registry import available_backends
    from xaikit.testing import conformance_checks

    if "torch" not in available_backends():
        return []
    from xaikit_torch.testing import TorchFactory

    return conformance_checks("torch", TorchFactory(device="cuda"))


@pytest.mark.parametrize("check", _gpu_conformance_checks(), ids=str)
def test_conformance_on_the_gpu(check):
    check()
