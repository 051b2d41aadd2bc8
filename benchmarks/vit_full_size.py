"""CAMs on a full-size vision transformer: torchvision ``vit_b_16`` at 224 px against pytorch-grad-cam.

The tests run the CAMs on a narrow ViT (tests/test_layer_layouts.py); this script runs
the full-size one once, with random weights (no download; the zero-initialised head
re-initialised with N(0, 0.02)), on one uniform random image, at the default CAM layer
(``encoder.layers.encoder_layer_11.ln_1``, pytorch-grad-cam's ``blocks[-1].norm1``):

- ``gradcam++``: the native map against pytorch-grad-cam's ``GradCAMPlusPlus`` (through
  xaikit's adapter, which passes the library the equivalent ``reshape_transform``), and
  the native weights recomputed from the same activations and gradients with an
  ``eps`` added to the alpha denominator, as pytorch-grad-cam adds ``1e-6``: the
  agreement as a function of ``eps``, and how the gradients compare with ``1e-6``;
- ``scorecam`` (``--scorecam``; 768 masked passes per implementation, about 10-30 min
  each on two loaded cores): the native map and the library's, with their times.

Run::

    python benchmarks/vit_full_size.py [--scorecam] [--batch-size 64]

Prints one JSON record per measurement (the numbers quoted in docs/methods/gradcam-plus-plus.md
and docs/methods/scorecam.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def build():
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision starts the head at zero
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    return model, x


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorecam", action="store_true", help="also run Score-CAM (768 masked passes each)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    model, x = build()
    gradcam_plus_plus(model, x)
    if args.scorecam:
        scorecam(model, x, args.batch_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
