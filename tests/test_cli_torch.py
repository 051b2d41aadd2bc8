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


def test_state_dict_as_model_with_arch_and_the_model_line(files, tmp_path):
    """``--model weights.pth --arch NAME`` is the same as ``--arch NAME --weights weights.pth``; a model that takes
    any size is described at the images' size: the line gives its outputs, not "?x?x3, 0 output(s)"."""
    res = run("explain", "--model", files / "weights.pth", "--arch", "squeezenet1_1", "--classes", "3", "-i",
              files / "imgs" / "img0.png", "-o", tmp_path / "m.png", "--method", "vanilla_gradients")
    assert "model: squeezenet1_1 (weights.pth) — input any size (run at 40x48: the images' size), 3 output(s)" \
        in res.output, res.output
    assert "loading PyTorch" in res.output or "torch" in sys.modules


def test_random_weights_are_seeded_and_said(tmp_path):
    npz = [tmp_path / f"r{i}.npz" for i in range(2)]
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), np.random.default_rng(0).uniform(0, 255, (48, 48, 3)).astype(np.uint8))
    for path in npz:
        res = run("explain", "--arch", "cnn4", "--framework", "torch", "--weights", "none", "--input-size", 48, 48,
                  "-i", img, "-o", tmp_path / "r.png", "--overwrite", "--method", "vanilla_gradients",
                  "--save-npz", path)
    assert "random weights drawn with seed 0" in res.output and "(random weights, seed 0)" in res.output
    np.testing.assert_array_equal(*(xk.Explanation.load(p).attributions for p in npz))


def test_images_of_mixed_sizes_are_refused_before_the_model_loads(tmp_path, monkeypatch):
    from xaikit.cli import _setup

    for i, size in enumerate([(32, 32), (24, 32)]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((*size, 3), np.uint8))

    def no_model(**kwargs):
        raise AssertionError("the model was loaded before the images were checked")

    monkeypatch.setattr(_setup, "load_model", no_model)
    res = run("explain", "--arch", "resnet18", "--weights", "none", "-i", tmp_path, "-o", tmp_path / "x.png", ok=False)
    assert res.exit_code == 3 and "2 different sizes (0.png: 32x32, 1.png: 24x32)" in res.output
    assert "--input-size H W" in res.output


def test_list_shows_the_zoo_and_bench_dry_run_only_what_runs():
    from xaikit.zoo import ZOO

    out = run("list").output
    assert "Zoo models" in out and all(f"  {name} " in out for name in ZOO)
    out = run("bench", "--zoo", "shapes_cnn4", "--framework", "torch", "--dry-run", "--method", "gradcam").output
    pairs = [line.split()[1].strip("()") for line in out.splitlines() if line.startswith("  gradcam (")]
    assert pairs and set(pairs) <= {"torch", "captum", "pytorch-grad-cam"}, out
    assert "tf-explain" in out.split("note:", 1)[1]  # said, not listed as a pair


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
