"""CAMs on full-size vision transformers, torchvision ``vit_b_16`` and ``swin_t`` at 224 px, against pytorch-grad-cam.

The tests run the CAMs on a narrow ViT and Swin (tests/test_layer_layouts.py); this
script runs the full-size ones once, with random weights (no download; ViT's
zero-initialised head re-initialised with N(0, 0.02)), on one uniform random image, at
the default CAM layer (ViT: ``encoder.layers.encoder_layer_11.ln_1``, pytorch-grad-cam's
``blocks[-1].norm1``; Swin: the last ``norm``, a 7x7 grid of 768 channels), the library
given the equivalent ``reshape_transform`` by xaikit's adapter (``--model`` picks the
network):

- ``gradcam++``: the native map against pytorch-grad-cam's ``GradCAMPlusPlus``, and
  the native weights recomputed from the same activations and gradients with an
  ``eps`` added to the alpha denominator, as pytorch-grad-cam adds ``1e-6``: the
  agreement as a function of ``eps``, and how the gradients compare with ``1e-6``;
- ``--cams``: the layer's sum over channels at each location (Score-CAM's case), then
  Grad-CAM, LayerCAM and Eigen-CAM against pytorch-grad-cam (unrectified maps;
  Eigen-CAM's sign is arbitrary, so ``|r|``), and Grad-CAM against Captum's
  ``LayerGradCam`` (the one of these CAMs Captum has);
- ``scorecam`` (``--scorecam``; 768 masked passes per implementation, about 10-30 min
  each on two loaded cores): the native map and the library's, with their times;
- ``--scorecam-cause`` (seconds): the cause of Score-CAM's difference, on a narrow
  build with the same structure (ViT: 64 px, patches of 8, an 8x8 token grid
  upsampled 8x, 2 layers, width 96, the head re-initialised as above; Swin: 224 px,
  swin_t's patches, windows and four stages at width 16, a 7x7 grid of 128 channels
  upsampled 32x): the native map against the library's as they come, then with the
  native masks upsampled as the library does (``align_corners=True``), how the masked
  scores and softmax weights of the two upsamplings compare, the layer's sum over
  channels at each location (0 for a LayerNorm at initialisation), and the agreement
  once that LayerNorm's affine parameters are randomised.

Run::

    python benchmarks/vit_full_size.py [--model vit_b_16|swin_t] [--cams] [--scorecam] [--scorecam-cause]
                                       [--no-gradcam++] [--batch-size 64]

Prints one JSON record per measurement (the numbers quoted in docs/methods/gradcam-plus-plus.md,
docs/methods/scorecam.md and docs/backends/pytorch-grad-cam.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def build(name: str = "vit_b_16"):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    if name.startswith("vit"):
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision starts the head at zero
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    return model, x


def build_narrow(name: str):
    """A narrow build of ``name``'s architecture (see the module's docstring) and its image."""
    import torch
    import torchvision

    torch.manual_seed(0)
    if name.startswith("vit"):
        model = torchvision.models.VisionTransformer(image_size=64, patch_size=8, num_layers=2, num_heads=2,
                                                     hidden_dim=96, mlp_dim=192, num_classes=10).eval()
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        size = 64
    else:
        model = torchvision.models.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1, 1, 1],
                                                   num_heads=[1, 1, 2, 2], window_size=[7, 7],
                                                   num_classes=10).eval()
        size = 224
    return model, np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def gradcam_plus_plus(model, x) -> None:
    import xaikit as xk
    from xaikit.kernels import weighted_cam
    from xaikit.methods import cam as cam_module

    captured = {}
    native_weights = cam_module.GradCAMPlusPlus.channel_weights

    def spy(activations, grads):
        captured.update(a=activations.astype(np.float64), g=grads.astype(np.float64))
        return native_weights(activations, grads)

    cam_module.GradCAMPlusPlus.channel_weights = staticmethod(spy)
    try:
        start = time.perf_counter()
        native = xk.explain(model, x, "gradcam++", relu=False)  # unrectified: the maps compared as computed
        native_s = time.perf_counter() - start
    finally:
        cam_module.GradCAMPlusPlus.channel_weights = staticmethod(native_weights)
    start = time.perf_counter()
    library = xk.explain(model, x, "gradcam++", backend="pytorch-grad-cam", layer=native.layer,
                         targets=native.targets, score=native.score, relu=False)
    library_s = time.perf_counter() - start
    a, g = captured["a"], captured["g"]
    g2 = g * g
    sum_a = a.sum(axis=(1, 2), keepdims=True)
    denominator = 2 * g2 + sum_a * g2 * g

    def with_eps(eps: float) -> np.ndarray:
        d = denominator + eps
        alpha = np.where(g != 0, g2 / np.where(d == 0, 1.0, d), 0.0)
        return weighted_cam(a, (alpha * np.maximum(g, 0)).sum(axis=(1, 2)), relu=False)

    print(json.dumps({
        "measure": "gradcam++", "layer": native.layer, "target": int(native.targets[0]), "score": native.score,
        "seconds_native": round(native_s, 2), "seconds_library": round(library_s, 2),
        "r_native_vs_library": pearson(native.layer_attributions, library.layer_attributions),
        "r_rectified": pearson(np.maximum(native.layer_attributions, 0), np.maximum(library.layer_attributions, 0)),
        "positive_fraction_native": float(np.mean(native.layer_attributions > 0)),
        "abs_grad_median": float(np.median(np.abs(g))), "abs_grad_max": float(np.abs(g).max()),
        "fraction_2g2_below_1e-6": float(np.mean(2 * g2 < 1e-6)),
        "median_abs_denominator": float(np.median(np.abs(denominator[g != 0]))),
        "r_vs_library_by_eps": {f"{eps:g}": pearson(with_eps(eps), library.layer_attributions)
                                for eps in (0.0, 1e-12, 1e-10, 1e-8, 1e-7, 1e-6)},
        "r_eps0_vs_native": pearson(with_eps(0.0), native.layer_attributions),
    }), flush=True)


def other_cams(model, x) -> None:
    import torch

    import xaikit as xk

    layer = xk.explain(model, x, "eigencam").layer
    captured = {}
    hook = model.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.update(a=o.detach().numpy()))
    with torch.no_grad():
        model(torch.from_numpy(x))
    hook.remove()
    a = captured["a"]  # channels last (ViT's tokens, Swin's (h, w, C)): Score-CAM's case (docs/methods/scorecam.md)
    print(json.dumps({"measure": "layer", "layer": layer, "shape": list(a.shape),
                      "channel_sum_abs_max": float(np.abs(a.sum(-1)).max()), "abs_mean": float(np.abs(a).mean())}),
          flush=True)
    for method in ("gradcam", "layercam", "eigencam"):
        start = time.perf_counter()
        native = xk.explain(model, x, method, relu=False)
        library = xk.explain(model, x, method, backend="pytorch-grad-cam", layer=native.layer,
                             targets=native.targets, score=native.score, relu=False)
        r = pearson(native.layer_attributions, library.layer_attributions)
        record = {"measure": method, "layer": native.layer, "grid": list(native.layer_attributions.shape[1:]),
                  "layout": native.params["layer_layout"], "target": int(native.targets[0]),
                  "r_native_vs_library": abs(r) if method == "eigencam" else r}
        if method == "gradcam":
            captum = xk.explain(model, x, method, backend="captum", layer=native.layer, targets=native.targets,
                                score=native.score, relu=False)
            record["r_native_vs_captum"] = pearson(native.layer_attributions, captum.layer_attributions)
        record["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(record), flush=True)


def scorecam(model, x, batch_size: int) -> None:
    import xaikit as xk

    start = time.perf_counter()
    native = xk.explain(model, x, "scorecam", batch_size=batch_size)
    native_s = time.perf_counter() - start
    print(json.dumps({"measure": "scorecam native", "layer": native.layer, "passes": 1 + native.params["n_channels"],
                      "batch_size": batch_size, "seconds": round(native_s, 1)}), flush=True)
    start = time.perf_counter()
    library = xk.explain(model, x, "scorecam", backend="pytorch-grad-cam", layer=native.layer,
                         targets=native.targets, score=native.score, batch_size=batch_size)
    library_s = time.perf_counter() - start
    print(json.dumps({"measure": "scorecam", "layer": native.layer, "target": int(native.targets[0]),
                      "score": native.score, "batch_size": batch_size, "seconds_native": round(native_s, 1),
                      "seconds_library": round(library_s, 1),
                      "r_native_vs_library": pearson(native.layer_attributions, library.layer_attributions),
        "r_rectified": pearson(np.maximum(native.layer_attributions, 0), np.maximum(library.layer_attributions, 0)),
        "positive_fraction_native": float(np.mean(native.layer_attributions > 0)),
                      "max_rel_diff": float(np.abs(native.layer_attributions - library.layer_attributions).max()
                                            / np.abs(library.layer_attributions).max())}), flush=True)


def align_corners_upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's mask upsampling (``torch.nn.UpsamplingBilinear2d``: ``align_corners=True``)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(maps, np.float32))[:, None]
    return torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=True)[:, 0].numpy()


def scorecam_cause(name: str, batch_size: int, full_size: bool = False) -> None:
    """On the narrow build (seconds), or on the full-size model (``full_size``: three Score-CAMs of 769 passes; the
    LayerNorm-affine variant is left out there)."""
    import torch

    import xaikit as xk
    from xaikit.methods import cam_free

    model, x = build(name) if full_size else build_narrow(name)
    weights = cam_free.scorecam_weights
    upsample = cam_free.upsample_bilinear
    scores: list[np.ndarray] = []

    def spy(s: np.ndarray) -> np.ndarray:
        scores.append(np.asarray(s, np.float64)[0].copy())
        return weights(s)

    def run(aligned: bool):
        cam_free.scorecam_weights = spy
        cam_free.upsample_bilinear = align_corners_upsample if aligned else upsample
        try:
            return xk.explain(model, x, "scorecam", batch_size=batch_size, relu=False)
        finally:
            cam_free.scorecam_weights, cam_free.upsample_bilinear = weights, upsample

    def library(native):
        return xk.explain(model, x, "scorecam", backend="pytorch-grad-cam", layer=native.layer,
                          targets=native.targets, score=native.score, batch_size=batch_size).layer_attributions

    native, aligned = run(False), run(True)
    theirs = library(native)
    half, corners = scores
    w_half = weights(half[None])[0].astype(np.float64)
    w_corners = weights(corners[None])[0].astype(np.float64)
    captured = {}
    module = model.get_submodule(native.layer)
    # channels last in both (ViT's tokens, Swin's (h, w, C)): the sum over channels at each location
    hook = module.register_forward_hook(lambda m, i, o: captured.update(a=o.detach().numpy()))
    with torch.no_grad():
        model(torch.from_numpy(x))
    hook.remove()
    measured = {"measure": f"scorecam cause ({'full-size' if full_size else 'narrow'} {name})", "layer": native.layer,
                "grid": list(native.layer_attributions.shape[1:]),
                "target": int(native.targets[0]), "score": native.score,
                "r_native_vs_library": pearson(np.maximum(native.layer_attributions, 0), theirs),
                "r_native_align_corners_masks_vs_library": pearson(np.maximum(aligned.layer_attributions, 0), theirs),
                "r_masked_scores_half_pixel_vs_align_corners": pearson(half, corners),
                "masked_score_std": float(half.std()),
                "softmax_effective_channels": float(1 / np.sum(w_half ** 2)), "n_channels": int(half.size),
                "r_softmax_weights": pearson(w_half, w_corners),
                "layer_channel_sum_abs_max": float(np.abs(captured["a"].sum(-1)).max()),
                "layer_abs_mean": float(np.abs(captured["a"]).mean())}
    if full_size:
        print(json.dumps(measured), flush=True)
        return
    with torch.no_grad():  # a trained LayerNorm's affine parameters: its output no longer sums to 0 over channels
        generator = torch.Generator().manual_seed(1)
        module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=generator))
        module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
    scores.clear()
    affine = run(False)
    theirs_affine = library(affine)
    print(json.dumps({**measured,
                      "r_native_vs_library_layernorm_affine_randomised": pearson(
                          np.maximum(affine.layer_attributions, 0), theirs_affine)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorecam", action="store_true", help="also run Score-CAM (768 masked passes each)")
    parser.add_argument("--model", choices=("vit_b_16", "swin_t"), default="vit_b_16")
    parser.add_argument("--cams", action="store_true",
                        help="also Grad-CAM, LayerCAM, Eigen-CAM (and Captum's Grad-CAM)")
    parser.add_argument("--scorecam-cause", action="store_true",
                        help="Score-CAM's difference from pytorch-grad-cam explained on a narrow build (seconds)")
    parser.add_argument("--full-size", action="store_true",
                        help="--scorecam-cause on the full-size model (3 Score-CAMs of 769 passes: tens of minutes)")
    parser.add_argument("--no-gradcam++", dest="gradcam_pp", action="store_false",
                        help="skip the full-size Grad-CAM++ measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    if args.scorecam_cause:
        scorecam_cause(args.model, args.batch_size, full_size=args.full_size)
    if args.gradcam_pp or args.cams or args.scorecam:
        model, x = build(args.model)
        if args.gradcam_pp:
            gradcam_plus_plus(model, x)
        if args.cams:
            other_cams(model, x)
        if args.scorecam:
            scorecam(model, x, args.batch_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
