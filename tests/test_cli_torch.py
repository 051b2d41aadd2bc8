"""PyTorch models on the command line and in the bench: model files (TorchScript, a state dict with --arch, a
pickled module), the torch preprocessing, the adapters as --backend, and the pieces the bench runs on them (the
engine's floor loop, the randomisation check on channels-first images, metric scores of a logit model)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import xaikit as xk

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
from click.testing import CliRunner  # noqa: E402

from xaikit.cli import main  # noqa: E402


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def tiny_net():
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1),
                                         flat=nn.Flatten(), fc=nn.Linear(4, 3))).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import warnings

    import torchvision

    d = tmp_path_factory.mktemp("torch_cli")
    net = tiny_net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
        torch.jit.save(torch.jit.script(net), str(d / "scripted.pt"))
    torch.save(net, d / "whole.pt")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(torchvision.models.squeezenet1_1(weights=None, num_classes=3).state_dict(), d / "weights.pth")
    (d / "imgs").mkdir()
    for i in range(3):
        cv2.imwrite(str(d / "imgs" / f"img{i}.png"),
                    np.random.default_rng(i).uniform(0, 255, (40, 48, 3)).astype(np.uint8))
    return d


def test_torchscript_needs_unsafe_and_explains(files, tmp_path):
    out = tmp_path / "ts.png"
    refused = run("explain", "--model", files / "scripted.pt", "-i", files / "imgs", "-o", out, ok=False)
    assert refused.exit_code != 0 and "--unsafe" in refused.output
    res = run("explain", "--model", files / "scripted.pt", "--unsafe", "-i", files / "imgs", "-o", out,
              "--method", "vanilla_gradients", "--score", "output")
    assert out.exists() and "vanilla_gradients (torch)" in res.output


@pytest.mark.parametrize("backend", ["torch", "captum", "pytorch-grad-cam"])
def test_pickled_module_with_unsafe_on_every_torch_backend(files, tmp_path, backend):
    refused = run("explain", "--model", files / "whole.pt", "-i", files / "imgs", "-o", tmp_path / "a.png", ok=False)
    assert refused.exit_code != 0 and "--unsafe" in refused.output
    res = run("explain", "--model", files / "whole.pt", "--unsafe", "-i", files / "imgs", "-o", tmp_path / "b.png",
              "--method", "gradcam", "--backend", backend, "--layer", "conv", "--save-npz", tmp_path / "b.npz")
    assert f"gradcam ({backend})" in res.output
    assert xk.Explanation.load(tmp_path / "b.npz").attributions.shape == (3, 40, 48)


def test_state_dict_into_a_torchvision_architecture_with_torch_preprocessing(files, tmp_path):
    npz = tmp_path / "sd.npz"
    res = run("explain", "--arch", "squeezenet1_1", "--weights", files / "weights.pth", "--classes", "3", "-i",
              files / "imgs" / "img0.png", "--preprocess", "torch", "-o", tmp_path / "sd.png", "--method", "gradcam",
              "--save-npz", npz)
    assert "preprocessing: torch" in res.output
    exp = xk.Explanation.load(npz)
    assert exp.attributions.shape == (1, 40, 48) and exp.layout == "NCHW"


def test_arch_in_a_fresh_process_imports_torch_before_tensorflow(files, tmp_path):
    """TensorFlow imported first makes torchvision's Triton crash the process (a segmentation fault)."""
    pytest.importorskip("tensorflow")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "xaikit", "explain", "--arch", "squeezenet1_1", "--weights",
                           str(files / "weights.pth"), "--classes", "3", "-i", str(files / "imgs" / "img0.png"), "-o",
                           str(tmp_path / "fresh.png"), "--method", "vanilla_gradients"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "fresh.png").exists()


def test_bench_on_a_torch_model_file(files, tmp_path):
    """A logit model (no softmax) through the quick suite: every cell computes (metrics score the logit, the
    randomisation check takes channels-first images, the floor loop exists), adapters and native in one table."""
    out = tmp_path / "bench"
    res = run("bench", "--model", files / "whole.pt", "--unsafe", "--images", files / "imgs", "--quick",
              "--input-size", 40, 48, "--n-images", 2, "-o", out)
    assert "0 failed" in res.output, res.output[-3000:]
    report = (out / "report.md").read_text()
    for backend in ("| torch |", "| captum |", "| pytorch-grad-cam |"):
        assert backend in report


# ------------------------------------------------------------------------------------------ bench pieces
@pytest.mark.parametrize("kind", ["forward", "forward_backward_input", "forward_backward_layer"])
def test_torch_engine_has_a_floor_loop(kind):
    from xaikit_torch.engine import engine_for

    from xaikit.bench.floor import measure_pass_rate
    from xaikit.catalogue.schema import FloorPlan

    net = tiny_net()
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 12, 12)).astype(np.float32)
    plan = FloorPlan(kind, 1, layer="conv" if kind == "forward_backward_layer" else None, score="logit")
    rate = measure_pass_rate(engine_for(net), x, np.zeros(2, np.int64), plan, batch_sizes=[2], min_seconds=0.01)
    assert rate["seconds_per_pass"] > 0


def test_randomisation_check_on_channels_first_images():
    from xaikit_torch.randomize import TorchRandomizer

    from xaikit.metrics import cascading_randomisation

    net = tiny_net()
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 12, 14)).astype(np.float32)
    res = cascading_randomisation(lambda xs, ts: xk.explain(net, xs, "gradcam", targets=ts, layer="conv"),
                                  TorchRandomizer(net), x, [0, 1], seed=0, layout="NCHW")
    assert list(res.layers) and np.isfinite(res.spearman).all()
