"""``xaikit doctor`` / :func:`xaikit.doctor.check_model` on a fast subset: a tiny CNN and a tiny ViT (the full
table of architectures is docs/architectures.py's)."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.catalogue import ATTENTION_METHODS
from xaikit.doctor import check_model, small_params


def test_every_method_runs_on_a_small_cnn_and_attention_is_refused_with_the_reason(torch, torch_cnn, torch_images):
    report = check_model(torch_cnn, torch_images[:1])
    rows = {r.method: r for r in report.rows}
    assert report.backend == "torch" and report.default_layer == "relu_b" and report.image_shape == (3, 20, 28)
    for method in ATTENTION_METHODS:
        assert rows[method].status == "refused" and "no attention weights" in rows[method].detail
    failed = {m: r.detail for m, r in rows.items() if r.status != "ok" and m not in ATTENTION_METHODS}
    assert not failed
    assert rows["gradcam"].detail == "layer relu_b"
    assert "20 ok" not in report.to_text() and f"{len(rows) - 2} ok, 2 refused, 0 failed" in report.to_text()


def test_a_vit_refuses_guided_backprop_and_reads_its_attention(torch):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                              mlp_dim=64, num_classes=5).eval()
    torch.nn.init.normal_(vit.heads.head.weight)
    report = check_model(vit, methods=["guided_backprop", "attention_rollout", "generic_attention",
                                       "vanilla_gradients"], image_size=(32, 32))
    rows = {r.method: r for r in report.rows}
    assert rows["guided_backprop"].status == "refused" and "has no nn.ReLU module" in \
        rows["guided_backprop"].detail
    assert [rows[m].status for m in ("attention_rollout", "generic_attention", "vanilla_gradients")] == ["ok"] * 3
    assert report.default_layer == "encoder.layers.encoder_layer_1.ln_1"  # tokens before the last attention: a 4x4 map


def test_small_settings_avoid_constant_maps_by_construction():
    x = np.zeros((1, 16, 16, 3), np.float32)
    assert small_params("occlusion", x, (16, 16), ["patch_size", "stride"]) == {"patch_size": [8, 8]}
    assert small_params("sobol", x, (16, 16), ["grid_size", "n_designs"]) == {"grid_size": 2, "n_designs": 8}
    background = small_params("expected_gradients", x, (16, 16), ["background", "n_samples"])["background"]
    assert background.shape == x.shape and not np.array_equal(background, x)


def test_doctor_command_prints_the_report(torch):
    from click.testing import CliRunner

    from xaikit.cli import main

    result = CliRunner().invoke(main, ["doctor", "--zoo", "shapes_cnn4", "--framework", "torch", "--method", "gradcam",
                                       "--method", "attention_rollout", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "default CAM layer:" in result.output
    assert [line.split()[:2] for line in result.output.splitlines() if line.startswith("  ")] == [
        ["gradcam", "ok"], ["attention_rollout", "refused"]]
